// Rate caps of config.json (`btlimit`, `obslimit`, `cdnlimit`, `btuploadlimit`, SPEC §3):
// one rate (`20MB/s`, `512KB/s`, `10M`), `off`/`""` for no cap, or rclone's timetable
// `08:00,5MB/s 18:00,off` (space-separated `HH:MM,rate` entries in local time).
// Owns: that syntax and "which cap is in force at an instant, and when does it change".
// Must not touch: the limiter (transfer/rate-limiter.ts applies the number) or timers.
//
// Units are binary, 1 KB = 1024 B, to match formatRate (see byte-size.ts). A cap of 0 is
// refused rather than read as "stop" or as "no cap" (rclone's reading): stopping a
// method is what windows are for, and `off` says "no cap" without doubt.
// The timetable form itself (entries, wrap-around, DST) is timetable.ts's, shared with prices.
import { parseByteSize } from './byte-size.ts';
import { parseTimetable as parseTimetableEntries, entryAt, nextValueChange, type TimetableEntry, type TimetableSyntax } from './timetable.ts';

export interface RateEntry {
  /** Minutes since local midnight at which this rate takes over. */
  minute: number;
  /** Bytes per second; undefined = no cap. */
  bytesPerSecond: number | undefined;
}

export type RateSpec =
  | { kind: 'none' }
  | { kind: 'fixed'; bytesPerSecond: number }
  /** Sorted by minute, at least one entry; the last one runs on past midnight. */
  | { kind: 'timetable'; entries: RateEntry[] };

const RATE_HINT = 'e.g. 20MB/s, 512KB/s, 10M or off';

/** Throws an Error naming every problem. */
export function parseRateSpec(spec: string): RateSpec {
  const trimmed = spec.trim();
  if (trimmed === '') return { kind: 'none' };
  if (!trimmed.includes(',')) {
    const rate = parseOneRate(trimmed);
    if (typeof rate === 'string') throw new Error(rate);
    return rate === undefined ? { kind: 'none' } : { kind: 'fixed', bytesPerSecond: rate };
  }
  return parseTimetable(trimmed);
}

/** The reason `spec` is refused, or undefined when it is valid (for the schema validators). */
export function rateProblem(spec: string): string | undefined {
  try {
    parseRateSpec(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Bytes per second, undefined for `off`, or the problem as a string. */
function parseOneRate(text: string): number | undefined | string {
  if (text.toLowerCase() === 'off') return undefined;
  const size = text.replace(/\/s$/i, '');
  if (/^\d+(\.\d+)?$/.test(size) && Number(size) !== 0) return `${text} has no unit: write ${size}KB/s or ${size}B/s (1 KB = 1024 B)`;
  let bytes: number;
  try {
    bytes = parseByteSize(size);
  } catch {
    return `${text} is not a rate (${RATE_HINT}; 1 KB = 1024 B)`;
  }
  if (bytes === 0) return `${text}: a cap of 0 would stop the transfer; use a window to stop it, or off for no cap`;
  return bytes;
}

const RATE_TIMETABLE: TimetableSyntax<number | undefined> = {
  parseValue: (text) => {
    const rate = parseOneRate(text);
    return typeof rate === 'string' ? { problem: rate } : { value: rate };
  },
  valueName: 'rate',
  example: '08:00,5MB/s 18:00,off',
};

function parseTimetable(spec: string): RateSpec {
  const entries = parseTimetableEntries(spec, RATE_TIMETABLE).map((e) => ({ minute: e.minute, bytesPerSecond: e.value }));
  return { kind: 'timetable', entries };
}

const asTimetable = (entries: RateEntry[]): TimetableEntry<number | undefined>[] => entries.map((e) => ({ minute: e.minute, value: e.bytesPerSecond }));

/** The cap in force at `at` in bytes per second; undefined = no cap. */
export function rateAt(spec: RateSpec, at: Date): number | undefined {
  if (spec.kind === 'none') return undefined;
  if (spec.kind === 'fixed') return spec.bytesPerSecond;
  return entryAt(asTimetable(spec.entries), at).value;
}

/** The next instant after `from` at which the cap changes; undefined when it never does. */
export function nextRateChange(spec: RateSpec, from: Date): Date | undefined {
  if (spec.kind !== 'timetable') return undefined;
  return nextValueChange(asTimetable(spec.entries), from);
}
