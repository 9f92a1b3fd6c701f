// A role's spool: which state directory a task file is in, its sidecar markers, and moving
// the two together under a per-task lock, so the API and the watcher never move the same
// task twice. The task file is the source of truth; markers follow it. Knows nothing of
// what a state means: the role pipelines decide the transitions.
import { readdir, readFile, rm, stat, mkdir, realpath } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import path from 'node:path';
import { Paths, MARKER_SUFFIXES, TEMP_PREFIX, taskNameOf, spoolOfPath, type MarkerSuffix, type Role } from '../config/paths.ts';
import { renameDurable, writeFileDurable, exists } from './durable-fs.ts';
import { formatLocalTime } from '../util/time.ts';
import { errors, isBft2Error, messageOf } from '../errors/catalogue.ts';
import { isDiskFull } from '../transfer/disk-full.ts';

const BALLAST_BYTES = 1024 * 1024;
/** Lines of an `.err` that describe what happens next (autoretry, the way out), not what happened. */
const FOOTER_PREFIXES = ['autoretry:', 'way out:'];
import type { Logger } from '../log/logger.ts';

export interface Located<S extends string> {
  state: S;
  file: string;
}

export class TaskSpool<S extends string> {
  constructor(
    readonly paths: Paths,
    readonly role: Role,
    /** Every state directory, in the order a task passes through them. */
    readonly states: readonly S[],
    private readonly log: Logger,
  ) {}

  dir(state: S): string {
    return this.paths.spoolDir(this.role, state);
  }
  file(state: S, task: string): string {
    return this.paths.taskFile(this.role, state, task);
  }
  marker(state: S, task: string, suffix: MarkerSuffix): string {
    return this.paths.marker(this.role, state, task, suffix);
  }

  async ensureDirs(): Promise<void> {
    for (const s of this.states) await mkdir(this.dir(s), { recursive: true });
    await this.keepBallast();
  }

  /**
   * A 1 MiB file beside the state directories (`data/<role>/.bft2-ballast`), so that on a
   * full filesystem the `.err` that says so can still be written: it is given up the
   * moment an `.err` write fails with ENOSPC, and taken again once space has returned
   * (SPEC §4: a full disk is reported, never a silent hang).
   */
  private get ballast(): string {
    return path.join(path.dirname(this.dir(this.states[0])), `${TEMP_PREFIX}ballast`);
  }

  private async keepBallast(): Promise<void> {
    if (await exists(this.ballast)) return;
    await writeFileDurable(this.ballast, '\0'.repeat(BALLAST_BYTES)).catch(() => undefined);
  }

  /** The states holding a task file of this name (more than one only after a manual copy). */
  async locate(task: string): Promise<Located<S>[]> {
    const found: Located<S>[] = [];
    for (const state of this.states) {
      const file = this.file(state, task);
      if (await exists(file)) found.push({ state, file });
    }
    return found;
  }

  /** Task names in a state, oldest first (arrival order: mtime, then name). */
  async list(state: S): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir(state));
    } catch {
      return [];
    }
    const tasks: { task: string; mtime: number }[] = [];
    for (const n of names) {
      const task = taskNameOf(n);
      if (!task) continue;
      const st = await stat(path.join(this.dir(state), n)).catch(() => undefined);
      if (st?.isFile()) tasks.push({ task, mtime: st.mtimeMs });
    }
    return tasks.sort((a, b) => a.mtime - b.mtime || a.task.localeCompare(b.task)).map((t) => t.task);
  }

  /** The tail of each task's chain of transitions in this process. */
  private readonly chains = new Map<string, Promise<unknown>>();

  /**
   * Runs `fn` as the task's only transition: after every earlier one of this process (in
   * call order), and holding the task's lock file (a directory in the lock dir, outside
   * every spool) against other processes on the same root. Every move of a task and of its
   * markers happens inside one.
   */
  withLock<T>(task: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(task) ?? Promise.resolve();
    const run = prev.then(
      () => this.lockFile(task, fn),
      () => this.lockFile(task, fn),
    );
    const tail = run.catch(() => undefined);
    this.chains.set(task, tail);
    void tail.then(() => {
      if (this.chains.get(task) === tail) this.chains.delete(task);
    });
    return run;
  }

  private async lockFile<T>(task: string, fn: () => Promise<T>): Promise<T> {
    await mkdir(this.paths.lockDir, { recursive: true });
    const release = await lockfile.lock(path.join(this.paths.lockDir, `${this.role}-${task}`), {
      realpath: false,
      lockfilePath: path.join(this.paths.lockDir, `${this.role}-${task}.lock`),
      retries: { retries: 50, minTimeout: 20, maxTimeout: 200 },
      stale: 30_000,
      // The default handler throws and kills the daemon; a lost lock is worth a log line only.
      onCompromised: (err) => this.log.warn(`lock of task ${task} compromised: ${err.message}`),
    });
    try {
      return await fn();
    } finally {
      await release().catch(() => {});
    }
  }

  /** Moves a task file and its markers (call inside withLock). Markers follow the file. */
  async move(task: string, from: S, to: S): Promise<string> {
    await this.keepBallast();
    const target = this.file(to, task);
    // Only history can already hold the name (a task received twice); its older copy is
    // kept under a name no watcher takes, rather than overwritten.
    if (await exists(target)) {
      const kept = `${target}.replaced-${Date.now()}`;
      await renameDurable(target, kept);
      this.log.info(`kept the older ${path.basename(target)} in ${to} as ${path.basename(kept)}`);
    }
    await renameDurable(this.file(from, task), target);
    for (const suffix of MARKER_SUFFIXES) {
      const m = this.marker(from, task, suffix);
      if (await exists(m)) await renameDurable(m, this.marker(to, task, suffix));
    }
    return target;
  }

  async hasTaskFile(state: S, task: string): Promise<boolean> {
    return exists(this.file(state, task));
  }

  async hasMarker(state: S, task: string, suffix: MarkerSuffix): Promise<boolean> {
    return exists(this.marker(state, task, suffix));
  }

  /** The first line of `<task>.err`: the reason, the same text the API gives. */
  async readErr(state: S, task: string): Promise<string | undefined> {
    try {
      return (await readFile(this.marker(state, task, '.err'), 'utf8')).split('\n')[0];
    } catch {
      return undefined;
    }
  }

  /** Writes `<task>.err`: reason first, then the history (older lines kept, with times). */
  async writeErr(state: S, task: string, reason: string, history: string[] = [], footer: string[] = []): Promise<void> {
    const file = this.marker(state, task, '.err');
    // Earlier lines stay as history, but a footer (autoretry's line, the way out) belongs to this error only.
    const previous = await readFile(file, 'utf8').then((t) => t.split('\n').slice(1).filter((l) => l && !FOOTER_PREFIXES.some((f) => l.startsWith(f)))).catch(() => [] as string[]);
    const text = [reason, ...previous, ...history, `${formatLocalTime()} ${reason}`, ...footer].join('\n') + '\n';
    try {
      await writeFileDurable(file, text);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      // The filesystem is full: give up the ballast, then the .err fits.
      this.log.warn(`no space for ${file}: releasing the spool's ballast to write it`);
      await rm(this.ballast, { force: true });
      await writeFileDurable(file, text);
    }
  }

  /**
   * Takes a task file named by a caller into `state` (seed §4.3.2: recv *moves* it): the
   * text that was checked is written durably, then the original is removed — unless it
   * lies in a bft2 spool, this node's or another root's (`data/sender/...`,
   * `data/receiver/...`, by the path as given or as it resolves through symlinks): that
   * file is another task's state (a sender's `uploaded` task on the same machine), so it
   * is copied and stays. Returns the note for the answer when the original stays, else ''.
   * Throws MOVE_TO_TMP when the spool cannot be written.
   */
  async adopt(state: S, task: string, from: string, text: string): Promise<string> {
    const target = this.file(state, task);
    if (path.resolve(from) === target) return '';
    const real = await realpath(path.dirname(from)).then((d) => path.join(d, path.basename(from))).catch(() => from);
    const spool = spoolOfPath(from) ?? spoolOfPath(real);
    try {
      await writeFileDurable(target, text);
    } catch {
      throw errors.MOVE_TO_TMP(this.dir(state));
    }
    if (spool) return ` (copied to ${target}: ${from} is in the bft2 spool ${spool.dir} and stays there)`;
    return rm(from).then(
      () => '',
      (err: NodeJS.ErrnoException) => ` (copied to ${target}: the original could not be removed, ${err.code ?? messageOf(err)})`,
    );
  }

  /** A task refused where it stands: one log line with the error's code, and its `.err` (the file stays). */
  async refuse(state: S, task: string, err: unknown): Promise<void> {
    const message = messageOf(err);
    this.log.error(`${isBft2Error(err) ? err.code : 'ERROR'} ${task}: ${message}`);
    await this.writeErr(state, task, message);
  }

  async clearErr(state: S, task: string): Promise<void> {
    await rm(this.marker(state, task, '.err'), { force: true });
  }

  async writeMarker(state: S, task: string, suffix: MarkerSuffix, text: string): Promise<void> {
    await writeFileDurable(this.marker(state, task, suffix), text.endsWith('\n') ? text : text + '\n');
  }

  /**
   * After a crash between a task's move and its markers' move, markers stand where the
   * task file is not: put them back beside it. Markers of a task found nowhere are left.
   */
  async reconcileMarkers(): Promise<void> {
    for (const state of this.states) {
      let names: string[] = [];
      try {
        names = await readdir(this.dir(state));
      } catch {}
      for (const n of names) {
        const suffix = MARKER_SUFFIXES.find((s) => n.endsWith(s));
        if (!suffix || n.startsWith('.')) continue;
        const task = n.slice(0, -suffix.length);
        if (await exists(this.file(state, task))) continue;
        const home = (await this.locate(task))[0];
        if (!home) continue;
        await this.withLock(task, async () => {
          const m = this.marker(state, task, suffix);
          if (await exists(m)) await renameDurable(m, this.marker(home.state, task, suffix));
        });
        this.log.info(`moved stray marker ${n} from ${state} to ${home.state}`);
      }
    }
  }
}

