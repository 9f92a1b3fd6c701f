// The skeleton every role is composed on (SPEC §5): a spool of five states (tmp → queue →
// active → done → history), its watchers, admission into the active state in arrival
// order, and every transition of a task — pickup, recv, a reactive restart, cancel, the
// end of a run, its failure — serialized under the task's one lock, so a task is never in
// two states and no marker outlives its file or its run. A role supplies what differs
// (RoleHooks): how a task is checked, what its work is, what it leaves behind.
// Also here, once for every role:
// - a run's failure is reported once: an `.err` in the active state (reason, then the
//   tries), written only while that run is still the task's run and its file is there; a
//   transient cause gets autoretry's line (auto-retry.ts), and the role's way out follows
//   (the commands to type);
// - a file dropped into the queue while the same task runs is filed away in history with
//   its reason (`<task>.task.json.duplicate-<time>` and `.why`), never left with a marker;
// - a dropped file written again after its `.err` is examined afresh;
// - a task running at two crashes of the daemon in a row is set aside (crash-guard.ts);
// - a role's periodic job (its seeds' expiry) stops with the pipeline (`every`).
// Owns: the role's spool directories and its runs. Must not know what a run does.
import path from 'node:path';
import { TaskSpool } from '../../spool/task-spool.ts';
import { Admission, type Running } from '../../spool/admission.ts';
import { SpoolWatcher, type ReadyTaskFile } from '../../spool/spool-watcher.ts';
import { exists, renameDurable, writeFileDurable } from '../../spool/durable-fs.ts';
import type { CrashGuard } from '../../spool/crash-guard.ts';
import { readTaskJson } from '../../trust/confined-file.ts';
import { errors, isBft2Error, messageOf, Bft2Error } from '../../errors/catalogue.ts';
import { faultClass } from '../../transfer/retry-policy.ts';
import { TryLog } from '../../transfer/try-log.ts';
import { formatLocalTime } from '../../util/time.ts';
import { taskNameOf, nameProblem, RECEIVER_STATES, SENDER_STATES, type Paths, type Role, type ReceiverState, type SenderState } from '../../config/paths.ts';
import type { Logger } from '../../log/logger.ts';
import { AutoRetry, parseAutoRetry } from './auto-retry.ts';

/** Why a task is being checked: a file dropped into the queue, `recv`, or a resume / re-arm. */
export type CheckPurpose = 'drop' | 'recv' | 'resume';

export interface PipelineRun<C> extends Running<C> {
  abort: AbortController;
  tries: TryLog;
  /** Past the point of no return (the DCP is being stored): cancel and restart wait for the run instead of stopping it. */
  committed: boolean;
}

/** A run stopped on purpose (cancel, reactive restart): no `.err`. */
export class Cancelled extends Error {
  constructor(why = 'cancelled') {
    super(why);
  }
}

export interface StateNames<S extends string> {
  tmp: S;
  queue: S;
  active: S;
  done: S;
  history: S;
}

/** Which spool a role uses and how its states are named. */
export interface SpoolLayout<S extends string> {
  spoolRole: Role;
  states: StateNames<S>;
  allStates: readonly S[];
  /** How `cancel` names the done state in its answer (`downloaded`). */
  doneWord: string;
}

/** The receiver spool (SPEC §5): the receiver's, and the cacher's. */
export const RECEIVER_SPOOL: SpoolLayout<ReceiverState> = {
  spoolRole: 'receiver',
  states: { tmp: 'tmp', queue: 'queues', active: 'downloading', done: 'downloaded', history: 'history' },
  allStates: RECEIVER_STATES,
  doneWord: 'downloaded',
};

/** The hooks every role of the receiver spool shares: its layout, and `downloadingnum` tasks at once. */
export function receiverSpoolHooks(config: () => { downloadingnum: number }): SpoolLayout<ReceiverState> & { limit(): number } {
  return { ...RECEIVER_SPOOL, limit: () => config().downloadingnum };
}

export const SENDER_SPOOL: SpoolLayout<SenderState> = {
  spoolRole: 'sender',
  states: { tmp: 'tmp', queue: 'queues', active: 'uploading', done: 'uploaded', history: 'history' },
  allStates: SENDER_STATES,
  doneWord: 'uploaded',
};

export interface RoleHooks<S extends string, C, R extends PipelineRun<C>> extends SpoolLayout<S> {
  /** For logs and the crash guard (a cacher's tasks are in the receiver spool). */
  name: 'receiver' | 'sender' | 'cacher';
  /** How many tasks run at once. */
  limit(): number;
  /** Checks a task's content; `at` names the file in error texts. Throws the error for `.err` or the API. */
  check(raw: Record<string, unknown>, at: string, purpose: CheckPurpose): Promise<C>;
  /** What a task works on (its DCP): two tasks with the same key never run at once. */
  keyOf(c: C): string | undefined;
  /** Why a checked task may not start yet (the disk reserve), or undefined. */
  canStart?(c: C): Promise<string | undefined>;
  /** Whether a task takes one of the `limit()` slots (default yes; a receiver's all-local task does not). */
  needsSlot?(c: C): boolean;
  /** The role's run record. */
  makeRun(base: PipelineRun<C>): R;
  /** One run's work. It throws on failure; its last transition goes through `finishRun`. */
  work(run: R): Promise<void>;
  /** The error a failed run reports (e.g. what a full disk still needs); default: as thrown. */
  failure?(run: R, err: unknown): Promise<Bft2Error>;
  /** Removes what a task left outside the spool (partial data) when it is cancelled or restarted. */
  discard(task: string, c: C | undefined): Promise<void>;
  /** The URLs a task's work needs, asked by autoretry before it re-arms the task. */
  sourceUrls(c: C): Promise<string[]>;
  /** Whether a file in the active state whose `.err` went should be left alone (a cacher's share seeding). */
  busyInActive?(task: string): boolean;
  /** At start-up, resumes a task of the active state that needs no run; true when it did. */
  resume?(task: string): Promise<boolean>;
  /** Called under the lock before a done task is filed in history because the same name comes again. */
  onDoneReplaced?(task: string): Promise<void>;
  /** The way out of a failed run, as the commands to type (lines starting `way out:`), for its `.err`. */
  wayOut?(run: R, err: Bft2Error): Promise<string[]>;
}

export interface PipelineOptions {
  paths: Paths;
  log: Logger;
  guard: CrashGuard;
  /** The config's `autoretry` value (read at each use: reloadconf applies it). */
  autoretry: () => string;
}

export class TaskPipeline<S extends string, C, R extends PipelineRun<C>> {
  readonly spool: TaskSpool<S>;
  readonly admission: Admission<S, C, R>;
  readonly autoRetry: AutoRetry<S>;
  private watchers: SpoolWatcher[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  /** Tasks an API call (recv, send) is taking in now: a second call for one of them is refused at once. */
  private readonly entering = new Set<string>();

  constructor(
    private readonly role: RoleHooks<S, C, R>,
    private readonly o: PipelineOptions,
  ) {
    const st = role.states;
    this.spool = new TaskSpool(o.paths, role.spoolRole, role.allStates, o.log);
    this.admission = new Admission<S, C, R>({
      spool: this.spool,
      queue: st.queue,
      active: st.active,
      limit: () => role.limit(),
      log: o.log,
      keyOf: (c) => role.keyOf(c),
      canStart: role.canStart ? (c) => role.canStart!(c) : undefined,
      needsSlot: role.needsSlot ? (c) => role.needsSlot!(c) : undefined,
      load: (task) => this.load(st.active, task, 'resume'),
      loadFailed: (task, err) => this.refuse(st.active, task, err),
      create: (task, checked, fromQueue) => role.makeRun({ task, checked, fromQueue, abort: new AbortController(), tries: new TryLog(), committed: false, done: Promise.resolve() }),
      work: (r) => this.run(r),
    });
    this.autoRetry = new AutoRetry({
      spool: this.spool,
      active: st.active,
      interval: () => {
        const v = parseAutoRetry(o.autoretry());
        return v === undefined ? 'off' : v;
      },
      sources: async (task) => {
        const c = await this.load(st.active, task, 'resume').catch(() => undefined);
        return c ? role.sourceUrls(c) : [];
      },
      rearm: (task) => this.admission.rearm(task),
      log: o.log,
    });
  }

  get log(): Logger {
    return this.o.log;
  }
  get running(): Map<string, R> {
    return this.admission.running;
  }
  private get st(): StateNames<S> {
    return this.role.states;
  }
  private guardKey(task: string): string {
    return `${this.role.name}/${task}`;
  }

  /** Reads and checks a task file of a state (a resume, a re-arm, autoretry). */
  async load(state: S, task: string, purpose: CheckPurpose): Promise<C> {
    const file = this.spool.file(state, task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    return this.role.check(raw, file, purpose);
  }

  // ----- life cycle -----

  /** Creates the spool, resumes the active tasks (but quarantined ones), then watches. */
  async start(opts: { extraWatchers?: SpoolWatcher[]; resumeLog?: string } = {}): Promise<void> {
    const st = this.st;
    await this.spool.ensureDirs();
    await this.spool.reconcileMarkers();
    const resuming: string[] = [];
    for (const task of await this.spool.list(st.active)) {
      if (await this.spool.hasMarker(st.active, task, '.err')) continue;
      if (this.o.guard.quarantined(this.guardKey(task))) {
        const e = errors.TASK_QUARANTINED(this.o.guard.strikes(this.guardKey(task)));
        this.log.error(`${e.code} ${task}: ${e.message}`);
        await this.spool.writeErr(st.active, task, e.message).catch((err) => this.log.error(`cannot write ${task}.err: ${messageOf(err)}`));
        this.o.guard.ended(this.guardKey(task));
        continue;
      }
      resuming.push(task);
    }
    if (resuming.length) this.log.info(`${opts.resumeLog ?? `start ${st.active} taskfiles`}: ${resuming.join(',')}`);
    for (const task of resuming) {
      // The role resumes what needs no run (a cacher's complete share is seeded again); the rest run.
      const resumed = await this.role.resume?.(task).catch((err) => {
        this.log.warn(`${task}: ${messageOf(err)}; running it instead`);
        return false;
      });
      if (!resumed) await this.admission.launch(task);
    }
    await this.autoRetry.start();

    this.watchers = [
      new SpoolWatcher(
        this.spool.dir(st.queue),
        {
          ready: (t) => this.onDropped(t),
          unparseable: ({ task, file }) => this.refuse(st.queue, task, errors.TASK_JSON(file)),
          unsafe: ({ task, error }) => this.refuse(st.queue, task, error),
          changedAfterErr: ({ task }) => this.clearStaleErr(st.queue, task),
        },
        this.log,
        { reexamineChanged: true },
      ),
      // A task in the active state whose .err is deleted is re-armed.
      new SpoolWatcher(this.spool.dir(st.active), { ready: ({ task }) => this.onActiveFile(task), unparseable: () => {} }, this.log),
      ...(opts.extraWatchers ?? []),
    ];
    for (const w of this.watchers) await w.start();
  }

  /** Runs `job` every `ms` until stop() (a role's seed expiry); it never keeps the process up. */
  every(ms: number, job: () => void): void {
    const timer = setInterval(job, ms);
    timer.unref();
    this.timers.push(timer);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.admission.stop();
    this.autoRetry.close();
    for (const w of this.watchers) await w.close();
    const runs = [...this.running.values()];
    for (const r of runs) r.abort.abort(new Cancelled('daemon stopping'));
    await Promise.allSettled(runs.map((r) => r.done));
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  private async onActiveFile(task: string): Promise<void> {
    if (this.role.busyInActive?.(task)) return;
    this.autoRetry.forget(task);
    await this.admission.rearm(task);
  }

  // ----- a run -----

  private async run(r: R): Promise<void> {
    const key = this.guardKey(r.task);
    this.o.guard.started(key);
    try {
      await this.role.work(r);
    } catch (err) {
      await this.reportFailure(r, err);
    } finally {
      this.o.guard.ended(key);
      r.tries.clear();
    }
  }

  /**
   * A run's last transition (the move out of the active state): under the task's lock, and
   * only while the run is still the task's run (a cancel or restart has not stopped it).
   */
  finishRun<T>(r: R, fn: () => Promise<T>): Promise<T> {
    return this.spool.withLock(r.task, async () => {
      if (r.abort.signal.aborted && !r.committed) throw new Cancelled();
      return fn();
    });
  }

  /** The failure of a run, reported once: its `.err` (reason, then the tries), autoretry's line for a transient cause. */
  private async reportFailure(r: R, err: unknown): Promise<void> {
    if (err instanceof Cancelled || this.stopping || (r.abort.signal.aborted && !r.committed)) return;
    const e = this.role.failure ? await this.role.failure(r, err).catch(() => asBft2Error(err)) : asBft2Error(err);
    const transient = faultClass(err) === 'transient' || faultClass(e) === 'transient';
    const wayOut = (await this.role.wayOut?.(r, e).catch((werr) => [`way out: (not known: ${messageOf(werr)})`])) ?? [];
    await this.spool
      .withLock(r.task, async () => {
        // The marker belongs to this run and its file: not written for a run stopped meanwhile.
        if ((r.abort.signal.aborted && !r.committed) || !(await this.spool.hasTaskFile(this.st.active, r.task))) return;
        this.log.error(`${e.code} ${r.task}: ${e.message}${transient ? ' (transient: autoretry)' : ''}`);
        await this.spool.writeErr(this.st.active, r.task, e.message, r.tries.history, [...(transient ? this.autoRetry.mark(r.task) : []), ...wayOut]);
      })
      .catch((werr) => this.log.error(`cannot write ${r.task}.err: ${messageOf(werr)}`));
  }

  /**
   * Stops the task's run, if any (aborted, or waited for once it is committed), so a
   * transition can follow. Call inside `admission.exclusive`.
   */
  async stopRun(task: string, why: string): Promise<void> {
    const r = this.running.get(task);
    if (!r) return;
    if (!r.committed) r.abort.abort(new Cancelled(why));
    await r.done.catch(() => undefined);
  }

  // ----- entering the queue -----

  /** A task refused where it stands: one log line with the error's code, and its `.err` (the file stays). */
  async refuse(state: S, task: string, err: unknown): Promise<void> {
    await this.spool.refuse(state, task, err).catch((werr) => this.log.error(`cannot write ${task}.err: ${messageOf(werr)}`));
  }

  private async clearStaleErr(state: S, task: string): Promise<void> {
    this.log.info(`${task}: written again after its .err; examined afresh`);
    await this.spool.withLock(task, () => this.spool.clearErr(state, task));
  }

  /** A complete task file in the queue (dropped in by a person or a TMS, or put there by recv). */
  private async onDropped({ task, file, raw }: ReadyTaskFile): Promise<void> {
    if (this.entering.has(task)) return;
    let checked: C;
    try {
      const why = nameProblem(task);
      if (why) throw errors.TASK_NAME_REFUSED('task file name', task, why);
      checked = await this.role.check(raw as Record<string, unknown>, file, 'drop');
    } catch (err) {
      return this.refuse(this.st.queue, task, err);
    }
    const outcome = await this.spool
      .withLock(task, async () => {
        // Under the lock: the file may have been taken already (by recv's own admission, a cancel).
        if (!(await exists(this.spool.file(this.st.queue, task)))) return 'gone';
        const running = (await this.spool.locate(task)).find((l) => l.state === this.st.active);
        if (running) return this.fileDuplicate(task, running.file);
        // This very file is queued already, or being started (its move to the active state waits for this lock).
        if (this.admission.has(task)) return 'known';
        // Same name already done: it is done again; the old task file goes to history.
        if (await exists(this.spool.file(this.st.done, task))) {
          await this.role.onDoneReplaced?.(task);
          await this.spool.move(task, this.st.done, this.st.history);
        }
        return 'queued';
      })
      .catch(async (err) => {
        await this.refuse(this.st.queue, task, err);
        return 'refused';
      });
    if (outcome === 'queued') this.admission.enqueue(task, checked);
    else if (outcome === 'known') this.admission.update(task, checked);
  }

  /**
   * A second file of a running task, dropped into the queue: answered (a log line) and
   * filed away in history with its reason, so no marker outlives the run it was not part
   * of. Call under the task's lock.
   */
  private async fileDuplicate(task: string, runningFile: string): Promise<'duplicate'> {
    const reason = errors.SAME_IN_STATE(this.st.active, runningFile);
    const stamp = formatLocalTime().replace(/[-: ]/g, '');
    const filed = path.join(this.spool.dir(this.st.history), `${task}.task.json.duplicate-${stamp}`);
    // The reason first: whoever finds the filed copy finds why beside it.
    await writeFileDurable(`${filed}.why`, `${reason.message}\n${formatLocalTime()} dropped into ${this.st.queue} while the task runs; filed here, the running task goes on\n`).catch(() => undefined);
    await renameDurable(this.spool.file(this.st.queue, task), filed);
    this.log.warn(`${reason.code} ${task}: ${reason.message}; the dropped file is filed as ${filed}`);
    return 'duplicate';
  }

  /**
   * An API call that takes a task in (recv, send), one at a time per task: twenty identical
   * calls give one success, however fast the first one's work ends.
   */
  async takeIn<T>(task: string, busy: () => Error, fn: () => Promise<T>): Promise<T> {
    if (this.entering.has(task)) throw busy();
    this.entering.add(task);
    try {
      return await fn();
    } finally {
      this.entering.delete(task);
    }
  }

  /**
   * `recv` of a checked task file (any path): into tmp (the text that was checked), then
   * the queue, and admitted. `sameName` decides what a same-name task in the queue or the
   * active state means (an error, or a restart that files it in history); a done one is
   * filed in history (received again). Returns whether a done task was replaced.
   */
  async receive(
    task: string,
    input: { taskfile: string; text: string; checked: C },
    o: { restart: boolean; sameName: (where: { state: S; file: string }) => Promise<void> },
  ): Promise<{ again: boolean; note: string }> {
    let again = false;
    let note = '';
    await this.admission.exclusive(task, async () => {
      if (o.restart) {
        this.admission.drop(task);
        this.autoRetry.forget(task);
        await this.stopRun(task, 'restarted by recv');
      }
      await this.spool.withLock(task, async () => {
        for (const l of await this.spool.locate(task)) {
          if (l.state === this.st.queue || l.state === this.st.active) await o.sameName(l);
        }
        if (await exists(this.spool.file(this.st.done, task))) {
          await this.role.onDoneReplaced?.(task);
          await this.spool.move(task, this.st.done, this.st.history);
          again = true;
        }
        note = await this.spool.adopt(this.st.tmp, task, input.taskfile, input.text);
        await this.spool.clearErr(this.st.tmp, task);
        await this.spool.move(task, this.st.tmp, this.st.queue);
      });
    });
    this.admission.enqueue(task, input.checked);
    return { again, note };
  }

  /**
   * `cancel` (SPEC §5): the task's run stops, what it left is removed, and its file goes to
   * history with `<task>.cancelled`. `cancellable` says which states a cancel applies to;
   * from the others the answer says there is no need.
   */
  async cancel(task: string, cancellable: (state: S) => boolean, onCancel?: (where: { state: S; file: string }) => Promise<void>): Promise<string | undefined> {
    return this.admission.exclusive(task, async () => {
      this.admission.drop(task);
      this.autoRetry.forget(task);
      await this.stopRun(task, 'cancelled');
      return this.spool.withLock(task, async () => {
        const where = (await this.spool.locate(task))[0];
        if (!where) return undefined;
        if (!cancellable(where.state)) return `no need to cancel, task already ${where.state === this.st.history ? 'in history' : this.st.done === where.state ? this.role.doneWord : where.state}: ${where.file}`;
        await onCancel?.(where);
        if (where.state === this.st.active) {
          const c = await this.load(where.state, task, 'resume').catch(() => undefined);
          await this.role.discard(task, c);
        }
        await this.spool.move(task, where.state, this.st.history);
        // The seed's cancel deletes the error file: a cancelled task is not in error.
        await this.spool.clearErr(this.st.history, task);
        await this.spool.writeMarker(this.st.history, task, '.cancelled', `${formatLocalTime()} cancelled while in ${where.state}`);
        this.log.info(`cancelled ${task} (was in ${where.state})`);
        return 'succeeded!';
      });
    });
  }

  /** The task's name from a file name an API caller gave, or the TASK_FILENAME / TASK_NAME_REFUSED error. */
  static taskOf(taskfile: string): string {
    const task = taskNameOf(path.basename(taskfile));
    if (!task) throw errors.TASK_FILENAME(taskfile);
    const why = nameProblem(task);
    if (why) throw errors.TASK_NAME_REFUSED('task file name', task, why);
    return task;
  }
}

function asBft2Error(err: unknown): Bft2Error {
  if (isBft2Error(err)) return err;
  const e = new Bft2Error('DOWNLOAD_FAILED', messageOf(err), false);
  (e as Error).cause = err;
  return e;
}
