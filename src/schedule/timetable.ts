// Daily timetables of config.json, `HH:MM,value HH:MM,value ...` in local time (rclone's
// bandwidth timetable): the rate caps (rate.ts) and the prices (price.ts) share this form.
// Owns: the entry syntax, "which entry is in force at an instant" and "when does the value
// change next". Must not touch: what a value means (the caller parses it) or timers.
//
// The last entry of the day runs on past midnight until the first one of the next day.
// Boundaries are built with the local-time constructor for the day, like the windows, so
// 18:00 stays 18:00 on the clock across a DST change.

export interface TimetableEntry<T> {
  /** Minutes since local midnight at which this value takes over. */
  minute: number;
  value: T;
}

export interface TimetableSyntax<T> {
  /** Parses one value: the value, or the problem in words. */
  parseValue: (text: string) => { value: T } | { problem: string };
  /** Names the value in messages: "rate", "price". */
  valueName: string;
  /** A valid timetable, for messages: "08:00,5MB/s 18:00,off". */
  example: string;
}

/** Sorted by minute, at least one entry. Throws an Error naming every problem. */
export function parseTimetable<T>(spec: string, syntax: TimetableSyntax<T>): TimetableEntry<T>[] {
  const problems: string[] = [];
  const entries: TimetableEntry<T>[] = [];
  const items = spec.trim().split(/\s+/).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`an empty timetable: write HH:MM,${syntax.valueName} entries (e.g. ${syntax.example})`);
  for (const item of items) {
    const m = /^(\d\d):(\d\d),(.*)$/.exec(item);
    if (!m) {
      problems.push(`${item}: every timetable entry is HH:MM,${syntax.valueName} (e.g. ${syntax.example})`);
      continue;
    }
    const [hour, minute] = [Number(m[1]), Number(m[2])];
    const value = syntax.parseValue(m[3]);
    if (hour > 23 || minute > 59) problems.push(`${item}: ${m[1]}:${m[2]} is not a time of day (00:00 to 23:59)`);
    else if (entries.some((e) => e.minute === hour * 60 + minute)) problems.push(`${item}: ${m[1]}:${m[2]} appears twice`);
    if ('problem' in value) problems.push(`${item}: ${value.problem}`);
    else if (problems.length === 0) entries.push({ minute: hour * 60 + minute, value: value.value });
  }
  if (problems.length) throw new Error(problems.join('; '));
  return entries.sort((a, b) => a.minute - b.minute);
}

/** `minute` of local day `day + dayOffset`, as an instant. */
export const boundaryOn = (day: Date, dayOffset: number, minute: number) =>
  new Date(day.getFullYear(), day.getMonth(), day.getDate() + dayOffset, Math.floor(minute / 60), minute % 60);

/** The entry in force at `at`: the last one at or before it, else yesterday's last one. */
export function entryAt<T>(entries: readonly TimetableEntry<T>[], at: Date): TimetableEntry<T> {
  let inForce = entries[entries.length - 1];
  for (const entry of entries) {
    if (boundaryOn(at, 0, entry.minute).getTime() <= at.getTime()) inForce = entry;
  }
  return inForce;
}

/** The next instant after `from` at which the value changes (`same` compares values); undefined when it never does. */
export function nextValueChange<T>(entries: readonly TimetableEntry<T>[], from: Date, same: (a: T, b: T) => boolean = Object.is): Date | undefined {
  const current = entryAt(entries, from).value;
  // Every entry comes round within a day, so today and the next two days are enough.
  for (let dayOffset = 0; dayOffset <= 2; dayOffset++) {
    for (const entry of entries) {
      const boundary = boundaryOn(from, dayOffset, entry.minute);
      if (boundary.getTime() > from.getTime() && !same(entry.value, current)) return boundary;
    }
  }
  return undefined;
}
