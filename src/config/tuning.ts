// The `tuning` object of config.json: the few timings and sizes that production keeps at
// their defaults and tests shorten (a retry delay of a minute is right at a cinema and
// wrong in a test). Declared here once, with its defaults and meanings; the config schema
// (schema.ts) includes it, so it is validated, reported by `checkconfig` and documented in
// docs/config.md like every other key, and `reloadconf` applies it from the next use.
// The daemon publishes the current values with `setTuning`; the parts that use them read
// `tuning()` when they start a thing (a retry, a watcher, a range), so a part built outside
// a daemon (a unit test) gets the defaults.
// Owns the tuning values. Must not touch anything else.
import { z } from 'zod';
import { parseByteSize } from '../schedule/byte-size.ts';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration written `500ms`, `2s`, `10m`, `1h`; throws naming the problem. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/i.exec(text.trim());
  if (!m) throw new Error(`${text || '(nothing)'} is not a duration (e.g. 500ms, 30s, 10m, 1h)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2].toLowerCase()]);
}

/** The `autoretry` config value: `off`, or a duration of at least 1 s (ms); undefined when invalid. */
export function parseAutoRetry(v: string): number | 'off' | undefined {
  if (v.trim().toLowerCase() === 'off') return 'off';
  try {
    const ms = parseDuration(v);
    return ms >= 1000 ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** Why an `autoretry` value is refused, or undefined (for the config schema). */
export function autoRetryProblem(v: string): string | undefined {
  return parseAutoRetry(v) === undefined ? 'must be off or a duration of at least 1 s, e.g. 90s, 30m, 2h' : undefined;
}

/** A duration key: a string with a unit in config.json, milliseconds in the code. */
const duration = (dflt: string, min: number) =>
  z
    .string()
    .default(dflt)
    .transform((v, ctx) => {
      try {
        const ms = parseDuration(v);
        if (ms < min) throw new Error(`${v} is shorter than the least allowed, ${min} ms`);
        return ms;
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        return z.NEVER;
      }
    });

/** A size key: `16MB` in config.json, bytes in the code. */
const size = (dflt: string, min: number) =>
  z
    .string()
    .default(dflt)
    .transform((v, ctx) => {
      try {
        const n = parseByteSize(v);
        if (n < min) throw new Error(`${v} is smaller than the least allowed, ${min} bytes`);
        return n;
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        return z.NEVER;
      }
    });

const count = (dflt: number, min: number) => z.number().int().min(min).default(dflt);

/** Each tuning key: its kind, its default as written in config.json, the least value, its meaning. */
const KEYS = {
  retrytries: ['count', 7, 1, "tries without progress before a method gives up on a transient or unknown fault (1, 2, 4, 8, 10, 10 minutes apart by default: 35 minutes, more than the seed's 5 × 5)"],
  retrydelay: ['duration', '1m', 1, 'the first retry delay; each further one doubles'],
  retrymaxdelay: ['duration', '10m', 1, 'the longest retry delay'],
  quicktries: ['count', 3, 1, 'tries for a fault more tries will not cure (404, 403, a bad URL or certificate, refused OBS keys)'],
  quickdelay: ['duration', '10s', 1, 'the wait between those tries'],
  stall: ['duration', '60s', 100, 'an HTTP or OBS range that receives nothing this long is cut and retried'],
  btstall: ['duration', '10m', 100, 'BitTorrent ranges that get nothing from peers this long fail (and are retried)'],
  chunk: ['size', '16MB', 64 * 1024, 'the size of the byte ranges the CDN and BitTorrent fetch (and take over from each other)'],
  obschunk: ['size', '64MB', 64 * 1024, 'the size of the byte ranges OBS fetches (each is a signed request, billed per request)'],
  quiet: ['duration', '30s', 100, 'a downloading task that lands no byte this long says why (progress `stalled`, `bft2 status`, the status page, a warning in the log)'],
  helpstall: ['duration', '30s', 100, 'a range one method took over from another that moves nothing this long goes back (and the helper takes nothing for twice as long)'],
  settle: ['duration', '50ms', 0, 'a parseable spool file must stay unchanged this long (from its mtime) to be taken'],
  unparseablegrace: ['duration', '10s', 0, 'a spool file that stays unparseable this long gets its `.err`'],
  spoolrescan: ['duration', '2s', 100, 'each spool directory is also listed this often, for a file its watcher missed (and polled this often when inotify is out of watches)'],
  hashstable: ['duration', '2s', 0, 'a store file is hashed once it has been unchanged this long'],
  hashdebounce: ['duration', '300ms', 0, 'store watcher events within this time share one hashing pass'],
  storerescan: ['duration', '10m', 1000, 'the period of the stat-only rescan of the store'],
  seedcheck: ['duration', '1m', 100, 'how often seeds whose seed time is over are stopped'],
  obspartsize: ['size', '16MB', 1024 * 1024, 'OBS multipart part size (upload; Huawei OBS wants at least 5MB for every part but the last)'],
  obsparallelparts: ['count', 4, 1, 'OBS parts uploaded at once'],
  apiheaders: ['duration', '10s', 100, 'an API client must send its headers within this time'],
  apirequest: ['duration', '30s', 100, 'an API client must send its whole request within this time'],
  logmax: ['size', '100MB', 1024 * 1024, 'size at which a log file is set aside as `<log>.old`'],
} as const;

type Keys = typeof KEYS;
type Shape = { [K in keyof Keys]: Keys[K][0] extends 'count' ? ReturnType<typeof count> : ReturnType<typeof duration> };

/** Each tuning key's default as written in config.json and its meaning, for docs/config.md. */
export const TUNING_DOCS: Record<string, { default: string | number; meaning: string }> = Object.fromEntries(Object.entries(KEYS).map(([k, [, dflt, , meaning]]) => [k, { default: dflt, meaning }]));

export const tuningSchema = z
  .object(
    Object.fromEntries(
      Object.entries(KEYS).map(([k, [kind, dflt, min]]) => [k, kind === 'count' ? count(dflt as number, min) : kind === 'size' ? size(dflt as string, min) : duration(dflt as string, min)]),
    ) as unknown as Shape,
  )
  .strict()
  .default({});

export type Tuning = Readonly<z.output<typeof tuningSchema>>;

let current: Tuning = tuningSchema.parse(undefined);

/** The tuning in force (the defaults until a daemon publishes its config's). */
export function tuning(): Tuning {
  return current;
}

/** The daemon publishes its config's tuning at start and after each `reloadconf`. */
export function setTuning(t: Tuning): void {
  current = t;
}
