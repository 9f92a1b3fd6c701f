// The text of `showschedules` (SPEC §8, seed §4.3.13), as a pure function of the time and
// of the tasks under way, in the seed's layout and with its spellings ("Scheduls").
// Owns: that layout. Must not touch: tasks, config, the spool (the caller resolves each
// method's effective window and policy and passes them in).
//
// Read from the seed's example where SPEC is silent:
// - "by Methods" lists a task under a method only when that method has a share and a
//   window (priortime); "by TaskNames" shows every method's window, share or not (the
//   seed shows obs for a 0:0:1 task); fulltime or no window reads `none`.
// - The sections list methods as bt, cdn, obs; the downloading lines follow the ratio's
//   order, bt, obs, cdn.
// - start/stop are the window open now or the next one, merged across midnight; an
//   all-day window is shown as today, midnight to midnight.
// - "next runtime" is the earliest opening among the listed tasks: `now` itself while
//   one of their windows is open.
// - The percent is rounded down, so 100 means done; a method without a window shows
//   `none` in place of its window.
import { METHODS, type Method } from '../task/schema.ts';
import { formatLocalTime } from '../util/time.ts';
import { parseWindows, currentOrNextWindow, nextOpening, type Window } from './windows.ts';
import { formatGoTime } from './zone-name.ts';

export interface MethodSchedule {
  /** The effective window spec (the task's priortime, else config's); "" = none. */
  windows: string;
  hasShare: boolean;
  /** Percent of this method's share done, 0-100. */
  percentDone: number;
}

export interface ScheduledTask {
  task: string;
  /** "a:b:c" as in the task's bt-obs-cdn. */
  ratio: string;
  /** The effective policy (the task's, else config's). */
  policy: 'fulltime' | 'priortime';
  methods: Record<Method, MethodSchedule>;
}

const SECTION_ORDER: readonly Method[] = ['bt', 'cdn', 'obs'];

type WindowsOf = { kind: 'none' } | { kind: 'windows'; windows: Window[] } | { kind: 'invalid'; problem: string };

function windowsOf(task: ScheduledTask, method: Method): WindowsOf {
  if (task.policy !== 'priortime') return { kind: 'none' };
  try {
    const windows = parseWindows(task.methods[method].windows);
    return windows.length ? { kind: 'windows', windows } : { kind: 'none' };
  } catch (err) {
    return { kind: 'invalid', problem: (err as Error).message };
  }
}

function startStop(windows: Window[], now: Date): string {
  const { start, stop } = currentOrNextWindow(windows, now);
  return `start: ${formatGoTime(start)} stop: ${formatGoTime(stop)}`;
}

function priortimeLine(task: ScheduledTask, method: Method, now: Date): string {
  const w = windowsOf(task, method);
  if (w.kind === 'none') return 'priortime: none';
  if (w.kind === 'invalid') return `priortime: invalid window (${w.problem})`;
  return `priortime: ${startStop(w.windows, now)}`;
}

function byMethod(method: Method, tasks: ScheduledTask[], now: Date): string[] {
  const lines = [`${method} schedules`];
  let next: Date | undefined;
  for (const task of tasks) {
    const w = windowsOf(task, method);
    if (!task.methods[method].hasShare || w.kind !== 'windows') continue;
    lines.push(`${task.task} priortime: ${startStop(w.windows, now)}`);
    const opening = nextOpening(w.windows, now);
    if (!next || opening < next) next = opening;
  }
  lines.push(next ? `${method} next runtime:${formatLocalTime(next)}` : `${method} next runtime: no schedule`);
  return lines;
}

function windowText(task: ScheduledTask, method: Method): string {
  const w = windowsOf(task, method);
  if (w.kind === 'invalid') return 'invalid';
  return w.kind === 'windows' ? w.windows.map((x) => x.text).join(',') : 'none';
}

function downloadingLine(task: ScheduledTask): string {
  const parts = [`${task.task} bt:obs:cdn = ${task.ratio} ${task.policy}`];
  for (const method of METHODS) {
    const m = task.methods[method];
    if (!m.hasShare) continue;
    const percent = Math.floor(Math.min(100, Math.max(0, m.percentDone || 0)));
    parts.push(`${method}: ${percent} ${windowText(task, method)}`);
  }
  return parts.join(' ');
}

export function formatShowSchedules(now: Date, tasks: ScheduledTask[]): string {
  const lines = [`Now: ${formatLocalTime(now)}`, 'Scheduls by Methods:'];
  for (const method of SECTION_ORDER) lines.push(...byMethod(method, tasks, now));
  lines.push('Schedules by TaskNames:');
  for (const task of tasks) {
    lines.push(task.task);
    for (const method of SECTION_ORDER) lines.push(`${method} ${priortimeLine(task, method, now)}`);
  }
  lines.push('All Current Downloading:');
  for (const task of tasks) lines.push(downloadingLine(task));
  return lines.join('\n') + '\n';
}
