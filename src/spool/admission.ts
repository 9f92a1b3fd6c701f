// Admission of queued tasks into a role's active state (SPEC §5: `downloadingnum`,
// `uploadingnum`): checked tasks wait in arrival order; while a slot is free the next one
// is moved from the queue state to the active state (under its lock) and its work starts.
// A queued task carries what its pickup checked (the role's `C`: the validated task, its
// plan, the DCP it works on), so nothing is read or validated again to start it. Tasks
// resumed at start-up or re-armed are loaded once (`load`) and start directly. Two tasks
// that would work on the same DCP (`keyOf`) never run at once (SPEC §4): the later one
// waits, keeping its place, until the first is over. While a transition of a task is
// under way elsewhere (a cancel, a reactive restart: `exclusive`), that task is not started.
// Shared by every role; knows nothing of what the work is.
import type { TaskSpool } from './task-spool.ts';
import type { Logger } from '../log/logger.ts';
import { messageOf } from '../errors/catalogue.ts';

const HOLD_RETRY_MS = 5000;

export interface Running<C = unknown> {
  task: string;
  /** What the pickup (or the resume) checked. */
  checked: C;
  /** Settles when the work is over (success or failure). */
  done: Promise<void>;
  /** Came from the queue in this process (false: resumed at start-up or re-armed). */
  fromQueue: boolean;
}

export interface AdmissionOptions<S extends string, C, R extends Running<C>> {
  spool: TaskSpool<S>;
  queue: S;
  active: S;
  limit: () => number;
  log: Logger;
  /** The task's runtime record (abort controller, counters), registered before its work starts. */
  create: (task: string, checked: C, fromQueue: boolean) => R;
  /** The work; it handles its own errors (an `.err`, a log line). */
  work: (r: R) => Promise<void>;
  /** Reads and checks a task already in the active state (a resume, a re-arm); throws when it does not check. */
  load: (task: string) => Promise<C>;
  /** A task whose load failed (it gets its `.err`). */
  loadFailed: (task: string, err: unknown) => Promise<void>;
  /** What the task works on; two tasks with the same key never run at once. */
  keyOf: (checked: C) => string | undefined;
  /**
   * Why a queued task may not start yet although a slot is free (the disk reserve), or
   * undefined. The task keeps its place; it is asked again a few seconds later.
   */
  canStart?: (checked: C) => Promise<string | undefined>;
  /** Whether a task takes a slot of `limit` (default: every task does). */
  needsSlot?: (checked: C) => boolean;
  /** How long a held task waits before it is asked again (default 5 s). */
  holdRetryMs?: number;
}

interface Waiting<C> {
  task: string;
  checked: C;
  key?: string;
  /** Already in the active state (resumed or re-armed): it starts without a move. */
  inActive: boolean;
}

export class Admission<S extends string, C, R extends Running<C>> {
  private readonly waiting: Waiting<C>[] = [];
  readonly running = new Map<string, R>();
  private readonly keys = new Map<string, string>();
  /** Queued tasks that may not start yet, with the reason (for `progress`). */
  readonly held = new Map<string, string>();
  private readonly heldUntil = new Map<string, number>();
  /** Tasks under an exclusive transition: not started meanwhile. */
  private readonly excluded = new Map<string, number>();
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: AdmissionOptions<S, C, R>) {}

  isWaiting(task: string): boolean {
    return this.waiting.some((w) => w.task === task);
  }

  /**
   * Why a waiting task does not start, when it is not simply its turn (`progress`, `status`):
   * the reason it is held (the disk reserve), another task working on the same DCP (named),
   * or a transition under way; undefined while it waits for a slot in arrival order or
   * does not wait at all.
   */
  whyWaiting(task: string): string | undefined {
    const w = this.waiting.find((x) => x.task === task);
    if (!w) return undefined;
    const held = this.held.get(task);
    if (held) return held;
    if (w.key !== undefined) {
      for (const [other, key] of this.keys) if (key === w.key && other !== task) return `waiting for ${other}: it works on the same DCP (${w.key})`;
    }
    if (this.excluded.has(task)) return 'waiting: a cancel or restart of this task is under way';
    return undefined;
  }

  has(task: string): boolean {
    return this.isWaiting(task) || this.running.has(task);
  }

  /** A checked task in the queue state waits for a slot (once). */
  enqueue(task: string, checked: C): void {
    if (this.has(task) || this.stopped) return;
    this.waiting.push({ task, checked, key: this.o.keyOf(checked), inActive: false });
    this.o.log.info(`task ${task} queued (${this.waiting.filter((w) => !w.inActive).length} waiting)`);
    this.pump();
  }

  /** A waiting task's file was written again: it waits with what the new version checked. */
  update(task: string, checked: C): void {
    const w = this.waiting.find((x) => x.task === task && !x.inActive);
    if (!w) return;
    w.checked = checked;
    w.key = this.o.keyOf(checked);
    this.pump();
  }

  /** Forgets a waiting task (cancel, restart). */
  drop(task: string): void {
    const i = this.waiting.findIndex((w) => w.task === task);
    if (i >= 0) this.waiting.splice(i, 1);
    this.held.delete(task);
    this.heldUntil.delete(task);
  }

  /**
   * Runs `fn` (a cancel, a reactive restart) while the task can be neither started nor
   * resumed, so its transition sees a task that stays put. The caller stops a running work
   * itself, inside `fn`.
   */
  async exclusive<T>(task: string, fn: () => Promise<T>): Promise<T> {
    this.excluded.set(task, (this.excluded.get(task) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const n = this.excluded.get(task)! - 1;
      if (n > 0) this.excluded.set(task, n);
      else this.excluded.delete(task);
      this.pump();
    }
  }

  /** Starts a task already in the active state (resumed at start-up, or re-armed): loaded and checked once. */
  async launch(task: string): Promise<void> {
    if (this.has(task) || this.stopped || this.excluded.has(task)) return;
    let checked: C;
    try {
      checked = await this.o.load(task);
    } catch (err) {
      await this.o.loadFailed(task, err).catch((e) => this.o.log.error(`${task}: ${messageOf(e)}`));
      return;
    }
    if (this.has(task) || this.stopped || this.excluded.has(task)) return;
    const key = this.o.keyOf(checked);
    if (key !== undefined && this.busy(key)) {
      this.o.log.info(`task ${task} waits: another task works on the same DCP`);
      this.waiting.unshift({ task, checked, key, inActive: true });
      return;
    }
    this.start(this.register(task, checked, key, false));
  }

  /** A task in the active state whose `.err` was deleted starts again (SPEC §5: deleting `.err` re-arms). */
  async rearm(task: string): Promise<void> {
    if (this.has(task) || this.stopped || this.excluded.has(task)) return;
    if (await this.o.spool.hasMarker(this.o.active, task, '.err')) return;
    if (!(await this.o.spool.hasTaskFile(this.o.active, task))) return;
    this.o.log.info(`task ${task} re-armed in ${this.o.active}`);
    await this.launch(task);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  /** Running tasks that hold a slot (those that need none are left out). */
  private slotsTaken(): number {
    let n = 0;
    for (const r of this.running.values()) if (this.o.needsSlot?.(r.checked) ?? true) n++;
    return n;
  }

  private busy(key: string): boolean {
    for (const k of this.keys.values()) if (k === key) return true;
    return false;
  }

  private register(task: string, checked: C, key: string | undefined, fromQueue: boolean): R {
    const r = this.o.create(task, checked, fromQueue);
    this.running.set(task, r);
    if (key !== undefined) this.keys.set(task, key);
    return r;
  }

  private start(r: R): void {
    r.done = this.o.work(r).finally(() => this.release(r));
  }

  /** A task that may not start yet goes back to its place in the queue; the queue is tried again shortly (see pump). */
  private hold(w: Waiting<C>, why: string): void {
    if (this.held.get(w.task) !== why) this.o.log.info(`task ${w.task} waits in ${this.o.queue}: ${why}`);
    this.held.set(w.task, why);
    this.waiting.unshift(w);
    this.heldUntil.set(w.task, Date.now() + (this.o.holdRetryMs ?? HOLD_RETRY_MS));
  }

  /**
   * Wakes the queue when the earliest held task may be asked again. Armed by every pump
   * rather than once per hold: a timer may fire a few ms before Date.now() reaches the
   * hold's end (its start is the event loop's cached time), and a pump that finds the task
   * still held must arm the next wake-up, or the task waits until something else pumps.
   */
  private wakeForHeld(): void {
    clearTimeout(this.retry);
    const now = Date.now();
    let earliest = Infinity;
    for (const w of this.waiting) {
      const until = this.heldUntil.get(w.task);
      if (until !== undefined && until > now) earliest = Math.min(earliest, until);
    }
    if (earliest === Infinity) return;
    this.retry = setTimeout(() => this.pump(), earliest - now + 1);
    this.retry.unref();
  }

  private release(r: R): void {
    if (this.running.get(r.task) === r) {
      this.running.delete(r.task);
      this.keys.delete(r.task);
    }
    this.pump();
  }

  private pump(): void {
    if (this.stopped) return;
    const { spool, queue, active } = this.o;
    // Arrival order, except that a task whose DCP is busy lets the ones behind it pass.
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i];
      const needsSlot = !w.inActive && (this.o.needsSlot?.(w.checked) ?? true);
      const holding = (this.heldUntil.get(w.task) ?? 0) > Date.now();
      if (holding || this.excluded.has(w.task) || (needsSlot && this.slotsTaken() >= this.o.limit()) || (w.key !== undefined && this.busy(w.key))) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      const r = this.register(w.task, w.checked, w.key, !w.inActive);
      if (w.inActive) {
        this.start(r);
        continue;
      }
      spool
        .withLock(w.task, async () => {
          // Gone (cancelled, moved by hand) or parked by an .err meanwhile: not started.
          if (this.excluded.has(w.task) || !(await spool.hasTaskFile(queue, w.task)) || (await spool.hasMarker(queue, w.task, '.err'))) return 'gone';
          const why = await this.o.canStart?.(w.checked);
          if (why) return why;
          await spool.move(w.task, queue, active);
          return 'moved';
        })
        .then(
          (outcome) => {
            if (outcome === 'moved') {
              this.held.delete(w.task);
              this.heldUntil.delete(w.task);
              return this.start(r);
            }
            if (outcome !== 'gone') this.hold(w, outcome);
            this.release(r);
          },
          (err) => {
            this.o.log.error(`cannot start ${w.task}: ${messageOf(err)}`);
            this.release(r);
          },
        );
    }
    this.wakeForHeld();
  }
}
