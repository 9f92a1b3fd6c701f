// Admission of queued tasks into a role's active state (SPEC §5: `downloadingnum`,
// `uploadingnum`): valid tasks wait in arrival order; while a slot is free the next one is
// moved from the queue state to the active state (under its lock) and its work starts.
// Tasks resumed at start-up or re-armed start directly. Shared by the receiver and the
// sender; knows nothing of what the work is.
import type { TaskSpool } from './task-spool.ts';
import type { Logger } from '../log/logger.ts';
import { messageOf } from '../errors/catalogue.ts';

export interface Running {
  task: string;
  /** Settles when the work is over (success or failure). */
  done: Promise<void>;
}

export interface AdmissionOptions<S extends string, R extends Running> {
  spool: TaskSpool<S>;
  queue: S;
  active: S;
  limit: () => number;
  log: Logger;
  /** The task's runtime record (abort controller, counters) — registered before the work starts. */
  create: (task: string) => R;
  /** The work; it handles its own errors (an `.err`, a log line). */
  work: (r: R) => Promise<void>;
}

export class Admission<S extends string, R extends Running> {
  private readonly waiting: string[] = [];
  readonly running = new Map<string, R>();
  private stopped = false;

  constructor(private readonly o: AdmissionOptions<S, R>) {}

  isWaiting(task: string): boolean {
    return this.waiting.includes(task);
  }

  has(task: string): boolean {
    return this.isWaiting(task) || this.running.has(task);
  }

  /** A valid task in the queue state waits for a slot (once). */
  enqueue(task: string): void {
    if (this.has(task)) return;
    this.waiting.push(task);
    this.o.log.info(`task ${task} queued (${this.waiting.length} waiting)`);
    this.pump();
  }

  /** Forgets a waiting task (cancel). */
  drop(task: string): void {
    const i = this.waiting.indexOf(task);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Starts a task already in the active state (resumed at start-up, or re-armed). */
  launch(task: string): void {
    if (this.running.has(task) || this.stopped) return;
    this.start(this.register(task));
  }

  /** A task in the active state whose `.err` was deleted starts again (SPEC §5: deleting `.err` re-arms). */
  async rearm(task: string): Promise<void> {
    if (this.running.has(task) || this.stopped) return;
    if (await this.o.spool.hasMarker(this.o.active, task, '.err')) return;
    this.o.log.info(`task ${task} re-armed in ${this.o.active}`);
    this.launch(task);
  }

  stop(): void {
    this.stopped = true;
  }

  private register(task: string): R {
    const r = this.o.create(task);
    this.running.set(task, r);
    return r;
  }

  private start(r: R): void {
    r.done = this.o.work(r).finally(() => this.release(r));
  }

  private release(r: R): void {
    if (this.running.get(r.task) === r) this.running.delete(r.task);
    this.pump();
  }

  private pump(): void {
    if (this.stopped) return;
    const { spool, queue, active } = this.o;
    while (this.running.size < this.o.limit() && this.waiting.length > 0) {
      const task = this.waiting.shift()!;
      const r = this.register(task);
      spool
        .withLock(task, async () => {
          // Gone (cancelled, moved by hand) or parked by an .err meanwhile: not started.
          if (!(await spool.hasTaskFile(queue, task)) || (await spool.hasMarker(queue, task, '.err'))) return false;
          await spool.move(task, queue, active);
          return true;
        })
        .then(
          (moved) => (moved ? this.start(r) : this.release(r)),
          (err) => {
            this.o.log.error(`cannot start ${task}: ${messageOf(err)}`);
            this.release(r);
          },
        );
    }
  }
}
