// Every HTTP request bft2 makes to a server named by a task (CDN files, torrents, the CDN
// check) goes through here, so the rules of SPEC §4 hold in one place: redirects are
// followed only to http(s) and at most 5 times; a URL that is not http(s) is refused
// before any connection; statuses that more tries will not cure (401, 403, 404, 410, ...)
// become HTTP_FAILED, which the retry policy gives up on quickly.
// Owns no state; the caller owns and must consume or dump the returned body.
import type { Dispatcher } from 'undici';
import { errors } from '../../errors/catalogue.ts';
import { loadUndici } from '../../util/lazy-undici.ts';

export const MAX_REDIRECTS = 5;

/** `<base>/<file>` with every path segment percent-encoded (a CDN or origin file URL). */
export function fileUrl(base: string, file: string): string {
  return base.replace(/\/+$/, '') + '/' + file.split('/').map(encodeURIComponent).join('/');
}
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Answers that say this URL is wrong (or forbidden) and will stay so. */
export const HOPELESS_STATUSES = new Set([400, 401, 403, 404, 405, 410, 414, 451, 501]);

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: 'GET' | 'HEAD' };

/** Parses a task's URL; anything but http(s) is HTTP_FAILED before a socket is opened. */
export function httpUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.HTTP_FAILED(`not a valid URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw errors.HTTP_FAILED(`${u.protocol} URLs are not fetched, only http and https: ${url}`);
  return u;
}

/**
 * The response of `url`, after at most 5 redirects to http(s). `finalUrl` is where the
 * body comes from. Statuses other than redirects are returned as they are: the caller
 * decides what a 200, 206 or 416 means, and uses `hopelessStatus` for the rest.
 */
export async function requestFollowing(url: string, opts: RequestOptions): Promise<{ res: Dispatcher.ResponseData; finalUrl: string }> {
  let current = httpUrl(url);
  const { request } = await loadUndici();
  for (let hops = 0; ; hops++) {
    const res = await request(current, { method: 'GET', ...opts });
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string') return { res, finalUrl: current.href };
    await res.body.dump().catch(() => undefined);
    if (hops >= MAX_REDIRECTS) throw errors.HTTP_FAILED(`more than ${MAX_REDIRECTS} redirects from ${url}`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw errors.HTTP_FAILED(`redirect to an invalid URL ${JSON.stringify(location)} from ${url}`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw errors.HTTP_FAILED(`redirect from ${url} to a ${next.protocol} URL refused (only http and https are followed)`);
    current = next;
  }
}

/** The error for a status the caller cannot use: HTTP_FAILED when retrying will not help, else a plain (retryable) error. */
export function statusError(url: string, status: number): Error {
  if (HOPELESS_STATUSES.has(status)) return errors.HTTP_FAILED(`HTTP ${status} from ${url}`);
  // The status travels with the error: the retry policy reads 5xx and 429 as transient.
  return Object.assign(new Error(`HTTP ${status} from ${url}`), { status });
}
