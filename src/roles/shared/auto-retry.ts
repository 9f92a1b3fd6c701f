// Autoretry (SPEC §12): a task that stopped on a transient fault — its source refused,
// reset or timed out, did not resolve, or answered 5xx/429 for the whole retry budget —
// is not left for a person. Its `.err` carries one more line, `autoretry: ...`; every
// `autoretry` interval (config, default 30 min) the task's sources are asked whether they
// answer again (an HTTP request to each, any answer below 500 but 429 will do), and when
// all do the `.err` is removed, which re-arms the task as an operator's `rm` would. An
// origin that is down for an hour costs an hour, not a visit.
// Owns: the `autoretry:` line of `.err` files in one active state directory, and its
// timer. Must not touch the task file or other markers.
import { readFile, rm } from 'node:fs/promises';
import { loadUndici } from '../../util/lazy-undici.ts';
import type { TaskSpool } from '../../spool/task-spool.ts';
import type { Logger } from '../../log/logger.ts';
import { formatLocalTime } from '../../util/time.ts';
import { messageOf } from '../../errors/catalogue.ts';
import { parseAutoRetry } from '../../config/tuning.ts';

export { parseAutoRetry };

export const AUTORETRY_LINE = 'autoretry:';

/** Checks per tick at most; ticks are at most a minute apart. */
const MAX_TICK_MS = 60_000;
const PROBE_TIMEOUT_MS = 10_000;

/** The `.err` line that marks a transient fault, with when the next check is due. */
export function autoRetryLine(intervalMs: number, now = Date.now()): string {
  return `${AUTORETRY_LINE} a transient fault: bft2 tries again by itself once the source answers; next check ${formatLocalTime(new Date(now + intervalMs))}`;
}

/** Whether an HTTP(S) URL answers (any status below 500, except 429). */
export async function urlAnswers(url: string): Promise<boolean> {
  try {
    const { request } = await loadUndici();
    const res = await request(url, { method: 'HEAD', headersTimeout: PROBE_TIMEOUT_MS, bodyTimeout: PROBE_TIMEOUT_MS, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await res.body.dump().catch(() => undefined);
    return res.statusCode < 500 && res.statusCode !== 429;
  } catch {
    return false;
  }
}

export interface AutoRetryOptions<S extends string> {
  spool: TaskSpool<S>;
  active: S;
  /** The interval in ms, or 'off' (read at every tick: reloadconf applies it). */
  interval: () => number | 'off';
  /** The URLs a task's work needs; [] when it cannot be read (then it is simply re-armed). */
  sources: (task: string) => Promise<string[]>;
  /** Re-arms a task whose `.err` is gone. */
  rearm: (task: string) => Promise<void>;
  log: Logger;
}

export class AutoRetry<S extends string> {
  private readonly due = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private closed = false;

  constructor(private readonly o: AutoRetryOptions<S>) {}

  /** Finds the tasks whose `.err` says autoretry (after a restart) and starts the timer. */
  async start(): Promise<void> {
    for (const task of await this.o.spool.list(this.o.active)) {
      if (await this.isMarked(task)) this.watch(task);
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** The `.err` lines to add for a failure of this class, and registers the task. */
  mark(task: string): string[] {
    const interval = this.o.interval();
    if (interval === 'off') return [];
    this.due.set(task, Date.now() + interval);
    this.arm();
    return [autoRetryLine(interval)];
  }

  /** The task is no longer waiting (cancelled, re-armed by hand, finished). */
  forget(task: string): void {
    this.due.delete(task);
  }

  /** The next check of a waiting task (for progress), or undefined. */
  nextCheck(task: string): number | undefined {
    return this.due.get(task);
  }

  private watch(task: string): void {
    const interval = this.o.interval();
    if (interval !== 'off') this.due.set(task, Date.now() + interval);
  }

  private async isMarked(task: string): Promise<boolean> {
    const text = await readFile(this.o.spool.marker(this.o.active, task, '.err'), 'utf8').catch(() => '');
    return text.split('\n').some((l) => l.startsWith(AUTORETRY_LINE));
  }

  private arm(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    if (this.due.size === 0) return;
    const next = Math.min(...this.due.values());
    this.timer = setTimeout(() => void this.tick(), Math.max(50, Math.min(MAX_TICK_MS, next - Date.now())));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const interval = this.o.interval();
      for (const [task, at] of [...this.due]) {
        if (this.closed) return;
        if (interval === 'off') {
          this.due.delete(task);
          continue;
        }
        if (at > Date.now()) continue;
        await this.check(task, interval).catch((err) => this.o.log.warn(`${task}: autoretry: ${messageOf(err)}`));
      }
    } finally {
      this.ticking = false;
      this.arm();
    }
  }

  private async check(task: string, interval: number): Promise<void> {
    if (!(await this.isMarked(task))) return void this.due.delete(task); // removed by hand, or cancelled
    const urls = await this.o.sources(task);
    const silent: string[] = [];
    for (const url of urls) if (!(await urlAnswers(url))) silent.push(url);
    if (silent.length > 0) {
      this.due.set(task, Date.now() + interval);
      this.o.log.info(`${task}: autoretry: ${silent.join(', ')} does not answer yet; next check ${formatLocalTime(new Date(Date.now() + interval))}`);
      return;
    }
    const removed = await this.o.spool.withLock(task, async () => {
      if (!(await this.isMarked(task))) return false;
      await rm(this.o.spool.marker(this.o.active, task, '.err'), { force: true });
      return true;
    });
    this.due.delete(task);
    if (!removed) return;
    this.o.log.info(`${task}: autoretry: ${urls.length ? 'its sources answer again' : 'trying again'}; re-armed`);
    await this.o.rearm(task);
  }
}
