// Transfer windows (SPEC §8): `HH:MM-HH:MM[,HH:MM-HH:MM...]` in the node's local time,
// parsed once and then asked "open now?", "when does it open / close?", "how much open
// time lies between two instants?" and "when will this much open time have passed?".
// Owns: the window syntax and the arithmetic of open time. Must not touch: timers, the
// config, tasks (the scheduler and the pipelines decide what to do with the answers).
//
// Every boundary is built with the local-time constructor, day by day
// (new Date(y, m, d, h, min)), never by adding 24 h: a DST day has 23 or 25 hours, and
// "22:00" must stay 22:00 on the clock. A local time that a DST change skips is moved
// forward by the skipped hour, as the JS constructor does (02:15 becomes 03:15 on the
// European spring day); a repeated local time means its first pass.
// croner is not used: it answers "when does a cron pattern fire next", not "how much
// open time lies between two instants", and daily ranges need no cron syntax.

/** One window of the day, in minutes since local midnight. `endMinute` 1440 is the end of
 * the day; an end at or before the start means the window crosses midnight. */
export interface Window {
  startMinute: number;
  endMinute: number;
  /** The window as written (`18:00-05:00`), for messages and `showschedules`. */
  text: string;
}

export interface OpenInterval {
  start: Date;
  stop: Date;
}

const MINUTES_PER_DAY = 1440;
const FORMAT_HINT = 'must be HH:MM-HH:MM[,HH:MM-HH:MM...]';

/** "" (or only blanks) means no window was given: the caller falls back to config. */
export function parseWindows(spec: string): Window[] {
  const problems: string[] = [];
  const windows: Window[] = [];
  if (spec.trim() === '') return windows;
  for (const part of spec.split(',').map((p) => p.trim())) {
    const parsed = parseOneWindow(part);
    if (typeof parsed === 'string') problems.push(parsed);
    else windows.push(parsed);
  }
  if (problems.length) throw new Error(problems.join('; '));
  return windows;
}

/** The reason `spec` is refused, or undefined when it is valid (for the schema validators). */
export function windowProblem(spec: string): string | undefined {
  try {
    parseWindows(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function parseOneWindow(part: string): Window | string {
  if (part === '') return `an empty window (a stray comma): ${FORMAT_HINT}`;
  const sides = part.split('-');
  if (sides.length !== 2) return `${part}: ${FORMAT_HINT}`;
  const start = parseClock(sides[0], 'start');
  const end = parseClock(sides[1], 'end');
  const problems = [start, end].filter((x): x is string => typeof x === 'string');
  if (problems.length) return `${part}: ${problems.join(', ')}`;
  const startMinute = start as number;
  // The seed writes 00:00-23:59 for "all day": 23:59 as an end means through midnight,
  // otherwise every day would close for its last minute.
  const endMinute = end === MINUTES_PER_DAY - 1 ? MINUTES_PER_DAY : (end as number);
  if (start === end) return `${part}: start and end are the same`;
  return { startMinute, endMinute, text: part };
}

/** Minutes since midnight, or the problem. `24:00` is allowed only as an end. */
function parseClock(text: string, role: 'start' | 'end'): number | string {
  const m = /^(\d\d):(\d\d)$/.exec(text);
  if (!m) return `${text || '(nothing)'} is not HH:MM (${FORMAT_HINT})`;
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  const problems: string[] = [];
  if (hour > 24) problems.push(`hour ${m[1]} is out of range`);
  if (minute > 59) problems.push(`minute ${m[2]} is out of range`);
  if (problems.length) return problems.join(', ');
  if (hour === 24 && minute !== 0) return `${text} is out of range (24:00 is the latest)`;
  if (hour === 24 && role === 'start') return '24:00 is only allowed as an end';
  return hour * 60 + minute;
}

/** The open minutes of any one day as sorted, disjoint [from, to) ranges. */
function dailyRanges(windows: Window[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const w of windows) {
    if (w.endMinute > w.startMinute) ranges.push([w.startMinute, w.endMinute]);
    else {
      ranges.push([w.startMinute, MINUTES_PER_DAY]);
      if (w.endMinute > 0) ranges.push([0, w.endMinute]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/** True when the windows together cover every minute of the day (`00:00-24:00`,
 * `00:00-23:59`, `00:00-12:00,12:00-24:00`): such a method never closes. */
export function coversWholeDay(windows: Window[]): boolean {
  const ranges = dailyRanges(windows);
  return ranges.length === 1 && ranges[0][0] === 0 && ranges[0][1] === MINUTES_PER_DAY;
}

const localMidnight = (d: Date, dayOffset = 0) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + dayOffset);

const atMinute = (day: Date, minute: number) =>
  new Date(day.getFullYear(), day.getMonth(), day.getDate(), Math.floor(minute / 60), minute % 60);

/**
 * The open intervals, merged across midnight, in time order: the one containing `from`
 * (if any) first, then every later one. Never ends; callers stop when they have enough.
 * Not for windows that cover the whole day (they would merge into one endless interval).
 */
function* openIntervalsFrom(windows: Window[], from: Date): Generator<OpenInterval> {
  const ranges = dailyRanges(windows);
  if (ranges.length === 0) return;
  // A merged interval can start the day before `from` (22:00 yesterday to 06:00 today),
  // and a range that falls into a skipped DST hour can bridge one more day.
  let day = localMidnight(from, -2);
  let current: { start: number; stop: number } | undefined;
  for (;;) {
    for (const [a, b] of ranges) {
      const start = atMinute(day, a).getTime();
      const stop = atMinute(day, b).getTime();
      // Only in a skipped DST hour: the whole range does not exist that day.
      if (stop <= start) continue;
      if (current && start <= current.stop) {
        current.start = Math.min(current.start, start);
        current.stop = Math.max(current.stop, stop);
        continue;
      }
      if (current && current.stop > from.getTime()) yield { start: new Date(current.start), stop: new Date(current.stop) };
      current = { start, stop };
    }
    day = localMidnight(day, 1);
  }
}

function assertSomeWindow(windows: Window[]): void {
  // "" means "no window given": the caller falls back to config or fulltime first.
  if (windows.length === 0) throw new Error('no transfer window given');
}

/** Whether a transfer may run at `at`. The start minute is open, the end minute closed.
 * No windows at all: never open. */
export function isOpen(windows: Window[], at: Date): boolean {
  if (windows.length === 0) return false;
  if (coversWholeDay(windows)) return true;
  const first = openIntervalsFrom(windows, at).next();
  return !first.done && first.value.start.getTime() <= at.getTime();
}

/** `from` itself when open now, else the next opening. Throws on an empty list. */
export function nextOpening(windows: Window[], from: Date): Date {
  const w = currentOrNextWindow(windows, from);
  return w.start.getTime() <= from.getTime() ? from : w.start;
}

/** When the window open at `from` (or, when closed, the next one) closes; undefined
 * when the windows cover the whole day. Throws on an empty list. */
export function nextClosing(windows: Window[], from: Date): Date | undefined {
  assertSomeWindow(windows);
  if (coversWholeDay(windows)) return undefined;
  return currentOrNextWindow(windows, from).stop;
}

/** The merged window containing `from`, else the next one. Windows that cover the whole
 * day have no edges: they are shown as `from`'s local day, midnight to midnight.
 * Throws on an empty list. */
export function currentOrNextWindow(windows: Window[], from: Date): OpenInterval {
  assertSomeWindow(windows);
  if (coversWholeDay(windows)) return { start: localMidnight(from), stop: localMidnight(from, 1) };
  const first = openIntervalsFrom(windows, from).next();
  if (first.done) throw new Error('no transfer window given');
  return first.value;
}

/** Milliseconds of open time in [from, to). */
export function openMsBetween(windows: Window[], from: Date, to: Date): number {
  const a = from.getTime();
  const b = to.getTime();
  if (b <= a || windows.length === 0) return 0;
  if (coversWholeDay(windows)) return b - a;
  let total = 0;
  for (const iv of openIntervalsFrom(windows, from)) {
    if (iv.start.getTime() >= b) break;
    total += Math.min(iv.stop.getTime(), b) - Math.max(iv.start.getTime(), a);
  }
  return total;
}

/** The instant at which `workMs` of open time will have passed, counting from `from`:
 * the ETA of work that only runs while a window is open. Throws on an empty list. */
export function openTimeFinish(windows: Window[], from: Date, workMs: number): Date {
  assertSomeWindow(windows);
  if (workMs <= 0) return from;
  if (coversWholeDay(windows)) return new Date(from.getTime() + workMs);
  let left = workMs;
  for (const iv of openIntervalsFrom(windows, from)) {
    const start = Math.max(iv.start.getTime(), from.getTime());
    const span = iv.stop.getTime() - start;
    if (left <= span) return new Date(start + left);
    left -= span;
  }
  throw new Error('unreachable: open intervals never run out');
}
