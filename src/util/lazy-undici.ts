// undici, loaded at the first HTTP request the process makes (a CDN file, a torrent, an
// autoretry probe, a CLI call): an idle daemon does not carry it
// (docs/performance.md, "An idle daemon").
// Owns the one import of undici's code; types may be imported anywhere.
let undici: Promise<typeof import('undici')> | undefined;

export const loadUndici = (): Promise<typeof import('undici')> => (undici ??= import('undici'));
