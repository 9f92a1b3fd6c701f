// Watches one spool directory and reports each task file once it is complete. A task file
// is complete when it parses as JSON and its size, mtime and inode have not changed for a
// short settle time (`tuning.settle`, counted from its mtime): a JSON object cannot parse
// before its last byte is written, so a file written in place by scp is never taken early
// however slow the writer, and a file renamed into place (rsync) is taken once. The parse
// is the guard of completeness; the settle time only lets a writer that rewrites a
// complete file at once (an editor's save) finish, and is kept short so a dropped task
// leaves `queues` within about a tenth of a second (bench/spool.ts measures it).
// A file that stays unparseable for the grace period is reported as such (the caller
// writes `.err`). While `<task>.err` exists the file is parked; deleting the `.err`
// re-arms it. The directory is also listed every `tuning.spoolrescan`: chokidar 4 was
// seen to miss a file renamed into place from a dotfile (rsync's way) once in a dozen
// drops, and inotify sees nothing written to a network share by another host; a task
// must not wait for an event that never comes. When inotify runs out of watches the
// watcher says so (watch-health.ts) and the listing, armed from the start whatever the
// watcher does, looks at every entry: the directory is polled, nothing is missed.
// A marker belongs to the file version that earned it: in a directory where people drop
// files (`reexamineChanged`), a task file written again after its `.err` (a slow scp that
// went on writing, a corrected task copied over) is reported as `changedAfterErr`.
// A spool entry is data from outside (SPEC §4): it is looked at with lstat and read only
// when it is a regular file of at most 16 MiB, never through a symlink, never blocking;
// anything else is reported as unsafe at once (the caller writes `.err`, the entry stays).
// Owns no file: it only reads and reports.
import { watch, type FSWatcher } from 'chokidar';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { taskNameOf } from '../config/paths.ts';
import { exists } from './durable-fs.ts';
import { readUntrustedText, describeFileType } from '../trust/confined-file.ts';
import { errors, messageOf } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import { isWatchLimit, reportPolling, whenStarted } from './watch-health.ts';
import { tuning } from '../config/tuning.ts';

export interface ReadyTaskFile {
  task: string;
  file: string;
  raw: unknown;
}

export interface SpoolWatcherEvents {
  ready: (t: ReadyTaskFile) => void | Promise<void>;
  unparseable: (t: { task: string; file: string; reason: string }) => void | Promise<void>;
  /** Not a regular file, too large, unreadable: `error` is the text for the `.err`. Default: ignored. */
  unsafe?: (t: { task: string; file: string; error: Error }) => void | Promise<void>;
  /**
   * The task file changed after its `.err` was written (only with `reexamineChanged`): the
   * caller removes the stale `.err`, and the file is examined afresh.
   */
  changedAfterErr?: (t: { task: string; file: string }) => void | Promise<void>;
}

export interface SpoolWatcherOptions {
  /** A task file newer than its `.err` is reported as changedAfterErr (queues, tmp: dropped files). */
  reexamineChanged?: boolean;
}

interface Candidate {
  signature?: string;
  /** Since when the file is unchanged (its mtime, at the latest when first seen). */
  since: number;
  /** When the pending check is due. */
  due?: number;
  /** Signature already reported, so repeated events for the same content do nothing. */
  reported?: string;
  timer?: NodeJS.Timeout;
}

export class SpoolWatcher {
  private watcher?: FSWatcher;
  private readonly candidates = new Map<string, Candidate>();
  private readonly settleMs = tuning().settle;
  private readonly graceMs = tuning().unparseablegrace;
  private readonly rescanMs = tuning().spoolrescan;
  private rescanTimer?: NodeJS.Timeout;
  private closed = false;
  /** inotify failed (its limits): every listing looks at every entry. */
  private polling = false;

  constructor(
    readonly dir: string,
    private readonly on: SpoolWatcherEvents,
    private readonly log: Logger,
    private readonly opts: SpoolWatcherOptions = {},
  ) {}

  async start(): Promise<void> {
    // Armed before the watcher, whatever becomes of it: a watcher that fails or never gets
    // ready must not leave the directory unseen.
    if (this.rescanMs > 0) this.rescanTimer = setInterval(() => void this.rescan(), this.rescanMs).unref();
    this.watcher = watch(this.dir, {
      depth: 0,
      ignoreInitial: false,
      // A symlinked entry is reported as an entry, never followed (a link to /dev/zero or a
      // directory elsewhere must not be read or watched).
      followSymlinks: false,
      // The periodic listing (rescan) catches what inotify misses; chokidar's polling is off.
      ignored: (p: string) => path.basename(p).startsWith('.') && p !== this.dir,
    });
    this.watcher.on('add', (p) => this.touch(p));
    // A directory named like a task file is an entry too: it gets its `.err`.
    this.watcher.on('addDir', (p) => p !== this.dir && this.touch(p));
    this.watcher.on('change', (p) => this.touch(p));
    this.watcher.on('unlink', (p) => this.forget(p));
    this.watcher.on('unlinkDir', (p) => this.forget(p));
    this.watcher.on('error', (err) => this.onWatchError(err));
    await whenStarted(this.watcher);
    if (this.polling || this.rescanMs <= 0) void this.rescan();
  }

  private onWatchError(err: unknown): void {
    if (isWatchLimit(err) && !this.polling) {
      this.polling = true;
      reportPolling(this.dir, 'inotify limit', this.log);
      void this.watcher?.close().catch(() => undefined);
      this.watcher = undefined;
      void this.rescan();
      return;
    }
    this.log.error(`watcher on ${this.dir}: ${messageOf(err)}`);
  }

  /**
   * Task files the watcher never told of are looked at as if it had; when polling, every
   * task file is (a check of an unchanged file costs one lstat).
   */
  private async rescan(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      const p = path.join(this.dir, name);
      if (this.closed || name.startsWith('.') || !taskNameOf(name)) continue;
      if (this.candidates.has(p)) {
        if (this.polling) this.touch(p);
        continue;
      }
      if (!this.polling) this.log.info(`${name}: found in ${this.dir} by the periodic listing (no watcher event came)`);
      this.touch(p);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.rescanTimer);
    for (const c of this.candidates.values()) clearTimeout(c.timer);
    await this.watcher?.close();
  }

  /** Re-examines a task file even if its content was reported before (after a re-arm). */
  rearm(task: string): void {
    const file = path.join(this.dir, `${task}.task.json`);
    const c = this.candidates.get(file);
    if (c) c.reported = undefined;
    this.touch(file);
  }

  private touch(p: string): void {
    if (this.closed) return;
    const base = path.basename(p);
    if (base.endsWith('.err')) return; // an .err appearing changes nothing
    if (!taskNameOf(base)) return;
    let c = this.candidates.get(p);
    if (!c) this.candidates.set(p, (c = { since: Date.now() }));
    // A change while a long wait is pending (an unparseable file being written slowly):
    // look now, so the last write of a slow writer is not followed by that whole wait.
    if (c.timer && (c.due ?? 0) - Date.now() > this.settleMs) {
      clearTimeout(c.timer);
      c.timer = undefined;
    }
    if (!c.timer) this.schedule(p, c, 0);
  }

  private forget(p: string): void {
    const base = path.basename(p);
    if (base.endsWith('.err')) {
      const task = base.slice(0, -'.err'.length);
      if (taskNameOf(task + '.task.json')) this.rearm(task);
      return;
    }
    const c = this.candidates.get(p);
    if (c) clearTimeout(c.timer);
    this.candidates.delete(p);
  }

  private schedule(p: string, c: Candidate, ms: number): void {
    c.due = Date.now() + ms;
    c.timer = setTimeout(() => {
      c.timer = undefined;
      c.due = undefined;
      this.check(p, c).catch((err) => this.log.error(`checking ${p}: ${(err as Error).message}`));
    }, ms);
  }

  private async check(p: string, c: Candidate): Promise<void> {
    if (this.closed || this.candidates.get(p) !== c) return;
    const task = taskNameOf(path.basename(p))!;
    const st = await lstat(p).catch(() => undefined);
    if (!st) {
      this.candidates.delete(p);
      return;
    }
    const err = await lstat(path.join(this.dir, `${task}.err`)).catch(() => undefined);
    if (err) {
      c.reported = undefined; // parked until the .err goes
      // Written again since its .err (mtime strictly after it, and settled): examined afresh.
      if (this.opts.reexamineChanged && st.mtimeMs > err.mtimeMs && Date.now() - st.mtimeMs >= this.settleMs) await this.on.changedAfterErr?.({ task, file: p });
      else if (this.opts.reexamineChanged && st.mtimeMs > err.mtimeMs) this.schedule(p, c, this.settleMs);
      return;
    }
    const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (!st.isFile()) {
      // A symlink, FIFO, device or directory named like a task: refused at once, left where it is.
      if (c.reported === signature) return;
      c.reported = signature;
      await this.on.unsafe?.({ task, file: p, error: errors.TASK_NOT_REGULAR(p, describeFileType(st)) });
      return;
    }
    const now = Date.now();
    if (signature !== c.signature) {
      c.signature = signature;
      // Unchanged since its last write: a file present at start, or renamed into place
      // with an old mtime, needs no further wait. Never later than now (a network
      // filesystem's clock may run ahead of ours).
      c.since = Math.min(now, st.mtimeMs);
    }
    if (c.reported === signature) return;
    const stableFor = now - c.since;
    if (stableFor < this.settleMs) return this.schedule(p, c, this.settleMs - stableFor);

    let text: string;
    try {
      text = await readUntrustedText(p, { noFollow: true });
    } catch (err) {
      if (!(await exists(p))) {
        this.candidates.delete(p); // moved away meanwhile
        return;
      }
      c.reported = signature;
      await this.on.unsafe?.({ task, file: p, error: err as Error });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      if (stableFor < this.graceMs) return this.schedule(p, c, Math.min(500, this.graceMs - stableFor));
      c.reported = signature;
      await this.on.unparseable({ task, file: p, reason: messageOf(err) });
      return;
    }
    // Read again: a writer that changed the file while we parsed gets another round.
    const after = await lstat(p).catch(() => undefined);
    if (!after || `${after.ino}:${after.size}:${after.mtimeMs}` !== signature) return this.schedule(p, c, this.settleMs);
    c.reported = signature;
    await this.on.ready({ task, file: p, raw });
  }
}
