// One scheduler for the whole daemon that tells subscribers when their transfer window
// opens or closes (SPEC §8). Each subscriber (say, "task X, method obs") registers its
// windows once; a single timer is armed for the earliest transition among all of them,
// so a thousand queued tasks cost one timer, not a thousand.
// Owns: that timer and each subscriber's last known open/closed state. Must not touch:
// transfers, tasks, config (subscribers act on the callback; windows.ts does the maths).
//
// The timer never sleeps longer than `recheckMs` (30 s): the wall clock may jump (NTP
// step, suspend, an operator fixing the date) and a timer armed for "22:00" measures
// elapsed time, not the clock. Every wake-up compares each subscriber's state with the
// clock, so a late or early timer, or a jump, yields at most one callback per real
// change (a jump over a whole window reports nothing: the state is the same).
import { isOpen, nextClosing, nextOpening, type Window } from './windows.ts';

export type WindowChange = (open: boolean) => void;

export interface WindowSchedulerOptions {
  /** Milliseconds since the epoch; injectable so tests control the clock. */
  now?: () => number;
  setTimer?: (fire: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** The longest sleep between two looks at the clock. */
  recheckMs?: number;
  /** A subscriber that throws must not keep the others from being told. */
  onError?: (err: unknown, key: string) => void;
}

interface Subscriber {
  windows: Window[];
  onChange: WindowChange;
  open: boolean;
}

const DEFAULT_RECHECK_MS = 30_000;

export class WindowScheduler {
  private readonly subscribers = new Map<string, Subscriber>();
  /** The scheduler's clock (the injected one in tests): whoever computes openings with it agrees with its callbacks. */
  readonly now: () => number;
  private readonly setTimer: (fire: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly recheckMs: number;
  private readonly onError: (err: unknown, key: string) => void;
  private timer: unknown;
  private closed = false;

  constructor(options: WindowSchedulerOptions = {}) {
    this.now = options.now ?? Date.now;
    // unref: a pending window must not keep a finished process alive.
    this.setTimer = options.setTimer ?? ((fire, ms) => setTimeout(fire, ms).unref());
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
    this.onError =
      options.onError ?? ((err, key) => process.emitWarning(`window subscriber ${key} failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /**
   * Registers (or replaces) `key`. Returns whether its windows are open now; `onChange`
   * is called only on later changes, so the caller acts on the returned state itself.
   * An empty window list is never open.
   */
  subscribe(key: string, windows: Window[], onChange: WindowChange): boolean {
    if (this.closed) throw new Error('the window scheduler is closed');
    const open = isOpen(windows, new Date(this.now()));
    this.subscribers.set(key, { windows, onChange, open });
    this.arm();
    return open;
  }

  unsubscribe(key: string): void {
    if (this.subscribers.delete(key)) this.arm();
  }

  /** The state last reported for `key`, undefined when not subscribed. */
  isOpen(key: string): boolean | undefined {
    return this.subscribers.get(key)?.open;
  }

  /** Looks at the clock now (the timer does this by itself; useful after a known jump). */
  recheck(): void {
    if (this.closed) return;
    const now = new Date(this.now());
    for (const [key, sub] of [...this.subscribers]) {
      // A callback may have unsubscribed or replaced a later subscriber.
      if (this.subscribers.get(key) !== sub) continue;
      const open = isOpen(sub.windows, now);
      if (open === sub.open) continue;
      sub.open = open;
      try {
        sub.onChange(open);
      } catch (err) {
        this.onError(err, key);
      }
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    this.subscribers.clear();
    this.disarm();
  }

  /** Milliseconds until the earliest transition, capped at `recheckMs`; undefined when
   * no subscriber will ever change. */
  private nextWakeDelay(): number | undefined {
    const nowMs = this.now();
    const now = new Date(nowMs);
    let earliest: number | undefined;
    for (const sub of this.subscribers.values()) {
      const at = nextTransition(sub.windows, now);
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    if (earliest === undefined) return undefined;
    return Math.max(0, Math.min(this.recheckMs, earliest - nowMs));
  }

  private arm(): void {
    this.disarm();
    if (this.closed) return;
    const delay = this.nextWakeDelay();
    if (delay === undefined) return;
    this.timer = this.setTimer(() => {
      this.timer = undefined;
      this.recheck();
    }, delay);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
  }
}

/** The next instant at which `windows` change state after `now`; undefined: never. */
function nextTransition(windows: Window[], now: Date): number | undefined {
  if (windows.length === 0) return undefined;
  if (isOpen(windows, now)) return nextClosing(windows, now)?.getTime();
  return nextOpening(windows, now).getTime();
}
