// Rate caps of config.json (`btlimit`, `obslimit`, `cdnlimit`, `btuploadlimit`, SPEC §3):
// one rate (`20MB/s`, `512KB/s`, `10M`), `off`/`""` for no cap, or rclone's timetable
// `08:00,5MB/s 18:00,off` (space-separated `HH:MM,rate` entries in local time).
// Owns: that syntax and "which cap is in force at an instant, and when does it change".
// Must not touch: the limiter (transfer/rate-limiter.ts applies the number) or timers.
//
// Units are binary, 1 KB = 1024 B, to match formatRate (see byte-size.ts). A cap of 0 is
// refused rather than read as "stop" or as "no cap" (rclone's reading): stopping a
// method is what windows are for, and `off` says "no cap" without doubt.
// Timetable boundaries are built with the local-time constructor for the day, like the
// windows, so 18:00 stays 18:00 on the clock across a DST change.
import { parseByteSize } from './byte-size.ts';

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

function parseTimetable(spec: string): RateSpec {
  const problems: string[] = [];
  const entries: RateEntry[] = [];
  for (const item of spec.split(/\s+/)) {
    const m = /^(\d\d):(\d\d),(.*)$/.exec(item);
    if (!m) {
      problems.push(`${item}: every timetable entry is HH:MM,rate (e.g. 08:00,5MB/s 18:00,off)`);
      continue;
    }
    const [hour, minute] = [Number(m[1]), Number(m[2])];
    const rate = parseOneRate(m[3]);
    if (hour > 23 || minute > 59) problems.push(`${item}: ${m[1]}:${m[2]} is not a time of day (00:00 to 23:59)`);
    else if (entries.some((e) => e.minute === hour * 60 + minute)) problems.push(`${item}: ${m[1]}:${m[2]} appears twice`);
    if (typeof rate === 'string') problems.push(`${item}: ${rate}`);
    if (problems.length === 0) entries.push({ minute: hour * 60 + minute, bytesPerSecond: rate as number | undefined });
  }
  if (problems.length) throw new Error(problems.join('; '));
  entries.sort((a, b) => a.minute - b.minute);
  return { kind: 'timetable', entries };
}

const boundaryOn = (day: Date, dayOffset: number, minute: number) =>
  new Date(day.getFullYear(), day.getMonth(), day.getDate() + dayOffset, Math.floor(minute / 60), minute % 60);

/** The cap in force at `at` in bytes per second; undefined = no cap. */
export function rateAt(spec: RateSpec, at: Date): number | undefined {
  if (spec.kind === 'none') return undefined;
  if (spec.kind === 'fixed') return spec.bytesPerSecond;
  // Yesterday's last entry runs until today's first one.
  let inForce = spec.entries[spec.entries.length - 1];
  for (const entry of spec.entries) {
    if (boundaryOn(at, 0, entry.minute).getTime() <= at.getTime()) inForce = entry;
  }
  return inForce.bytesPerSecond;
}

/** The next instant after `from` at which the cap changes; undefined when it never does. */
export function nextRateChange(spec: RateSpec, from: Date): Date | undefined {
  if (spec.kind !== 'timetable') return undefined;
  const current = rateAt(spec, from);
  // Every entry comes round within a day, so today and the next two days are enough.
  for (let dayOffset = 0; dayOffset <= 2; dayOffset++) {
    for (const entry of spec.entries) {
      const boundary = boundaryOn(from, dayOffset, entry.minute);
      if (boundary.getTime() > from.getTime() && entry.bytesPerSecond !== current) return boundary;
    }
  }
  return undefined;
}
