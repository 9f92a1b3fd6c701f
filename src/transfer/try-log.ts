// The record of a running task's failed tries, kept by the role for each task: the history
// that goes under the reason in `<task>.err` when the task stops, and — while a method
// waits to try again — the one-line status `progress` and `uploadprogress` show at once
// (`retrying: <reason>, next try <time>`), so an operator learns of a 404 or a refused
// connection within a minute instead of when the tries run out.
// Every failed try of either role passes through here, so the daemon's retry counters
// (src/observe/metrics.ts) listen here rather than in each pipeline.
// Owns nothing on disk.
import { formatLocalTime } from '../util/time.ts';

const HISTORY_LINES = 50;

/** Told of every failed try in this process: `retried` false when the method gave up. */
export type FailedTryObserver = (method: string, retried: boolean) => void;
const observers = new Set<FailedTryObserver>();

/** Observes every TryLog of the process (they are made per task, deep in the roles); returns the unsubscribe. */
export function observeFailedTries(observer: FailedTryObserver): () => void {
  observers.add(observer);
  return () => void observers.delete(observer);
}

export class TryLog {
  readonly history: string[] = [];
  private readonly waiting = new Map<string, { reason: string; until: number }>();

  /** One failed try of `method` on `file`; `delayMs` is the wait before the next (undefined: no further try). */
  failed(method: string, file: string, reason: string, delayMs: number | undefined): string {
    const line = `${formatLocalTime()} ${method} ${file}: ${reason}${delayMs === undefined ? '' : delayMs > 0 ? `; retry in ${Math.round(delayMs / 1000)} s` : '; resuming'}`;
    this.history.push(line);
    for (const o of observers) o(method, delayMs !== undefined);
    if (this.history.length > HISTORY_LINES) this.history.splice(0, this.history.length - HISTORY_LINES);
    if (delayMs !== undefined && delayMs > 0) this.waiting.set(method, { reason: `${file}: ${reason}`, until: Date.now() + delayMs });
    else this.waiting.delete(method);
    return line;
  }

  /** Data flows again for this method: it is no longer waiting. */
  progressed(method: string): void {
    this.waiting.delete(method);
  }

  /** `<file>: <reason>, next try <time>` while `method` waits to try again, else ''. */
  statusOf(method: string, now = Date.now()): string {
    const w = this.waiting.get(method);
    return w && w.until + 5_000 >= now ? `${w.reason}, next try ${formatLocalTime(new Date(w.until))}` : '';
  }

  /** `retrying: ...` for each method now waiting to try again, or '' when none is. */
  status(now = Date.now()): string {
    const parts: string[] = [];
    for (const [method, w] of this.waiting) {
      if (w.until + 5_000 < now) continue; // the next try is under way
      parts.push(`retrying: ${method} ${w.reason}, next try ${formatLocalTime(new Date(w.until))}`);
    }
    return parts.join('; ');
  }

  clear(): void {
    this.history.length = 0;
    this.waiting.clear();
  }
}
