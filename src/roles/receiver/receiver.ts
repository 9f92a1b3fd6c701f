// The receiver pipeline (SPEC §5, receiver): tmp → queues → downloading → downloaded →
// history. Takes complete task files from `queues` (dropped in, or put there by `recv`),
// admits at most `downloadingnum` into `downloading` in arrival order, drives each
// method's share into the task's assembly directory, moves the finished DCP into the
// store with `<name>.finished`, and resumes whatever was under way at start-up.
// Owns: the receiver spool, the task's staging and assembly directories, its store entry.
// Must not touch: another task's files, the hash table, the sender spool.
import { readTaskJson } from '../../trust/confined-file.ts';
import { rm, stat, lstat, mkdir, copyFile, constants as fsConstants } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_PREFIX, RECEIVER_STATES, taskNameOf, type ReceiverState } from '../../config/paths.ts';
import { TaskSpool } from '../../spool/task-spool.ts';
import { Admission } from '../../spool/admission.ts';
import { SpoolWatcher } from '../../spool/spool-watcher.ts';
import { renameDurable, writeFileDurable, writeJsonDurable, exists } from '../../spool/durable-fs.ts';
import { validateTask, planDownload, checkMethodsAvailable, type DownloadPlan } from '../../task/validate-task.ts';
import { METHODS, type Method, type Task } from '../../task/schema.ts';
import { errors, isBft2Error, messageOf, Bft2Error } from '../../errors/catalogue.ts';
import type { DownloadMethod } from '../../transfer/method.ts';
import { CdnMethod } from '../../transfer/cdn/cdn-method.ts';
import { ObsMethod } from '../../transfer/obs/obs-method.ts';
import { resolveObsCredentials } from '../../transfer/obs/credentials.ts';
import { BtMethod, fetchTorrent, checkTorrent } from '../../transfer/bt/bt-method.ts';
import { readTorrentFiles } from '../../transfer/bt/make-torrent.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { settleAll } from '../../util/settle-all.ts';
import { bytesOnDisk } from '../../transfer/part-file.ts';
import { formatLocalTime } from '../../util/time.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { IndexEntry } from '../../hashtable/reconcile.ts';
import { RateMeter, formatPercent, formatRate, etaMinutes } from './progress-math.ts';
import { TryLog } from '../../transfer/try-log.ts';
import { isDiskFull, diskFullError } from '../../transfer/disk-full.ts';

interface ActiveDownload {
  task: string;
  abort: AbortController;
  tries: TryLog;
  /** Bytes on disk per method (and local-same copies), kept current while running. */
  bytes: Record<Method | 'local', number>;
  meters: Record<Method | 'all', RateMeter>;
  done: Promise<void>;
  storing: boolean;
  /** Inode of each file as verified in the assembly directory: only these hashes enter the table. */
  verified: Map<string, number>;
}

class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

const LIST2_KEY = { bt: 'btlist2', obs: 'obslist2', cdn: 'cdnlist2' } as const;

export class Receiver {
  readonly spool: TaskSpool<ReceiverState>;
  private watcher?: SpoolWatcher;
  /** Valid tasks waiting in `queues`, and the ones downloading (at most `downloadingnum`). */
  private readonly admission: Admission<ReceiverState, ActiveDownload>;
  private readonly cdn = new CdnMethod();
  private readonly bt?: BtMethod;
  private stopping = false;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
    btClient?: () => Promise<BtClient>,
  ) {
    this.spool = new TaskSpool(ctx.paths, 'receiver', RECEIVER_STATES, ctx.log);
    if (btClient) this.bt = new BtMethod(btClient);
    this.admission = new Admission<ReceiverState, ActiveDownload>({
      spool: this.spool,
      queue: 'queues',
      active: 'downloading',
      limit: () => this.config.downloadingnum,
      log: ctx.log,
      keyOf: (task) => this.dcpKey(task),
      create: (task) => ({
        task,
        abort: new AbortController(),
        tries: new TryLog(),
        bytes: { bt: 0, obs: 0, cdn: 0, local: 0 },
        meters: { bt: new RateMeter(), obs: new RateMeter(), cdn: new RateMeter(), all: new RateMeter() },
        done: Promise.resolve(),
        storing: false,
        verified: new Map(),
      }),
      work: (a) => this.downloadAndReport(a),
    });
  }

  private get active() {
    return this.admission.running;
  }

  /** The methods this node can run. */
  private get available(): Set<Method> {
    return new Set<Method>(this.bt ? ['bt', 'obs', 'cdn'] : ['obs', 'cdn']);
  }

  /** The method object for a task's share (OBS keys are the task's, else obsbuckets.txt, else config). */
  private methodFor(m: Method, t: Task): DownloadMethod {
    if (m === 'cdn') return this.cdn;
    if (m === 'bt') return this.bt!;
    const config = this.config;
    return new ObsMethod(async (bucket) => ({
      ...(await resolveObsCredentials(bucket, { task: t.obs, bucketsFile: this.ctx.paths.obsBucketsFile, config })),
      signature: config.obssignature,
      pathStyle: config.obspathstyle,
    }));
  }

  /**
   * The seed's recv checks of a BT share: a split task needs bt.tmpurl, the torrent must
   * download, and a `-tmp` torrent must hold exactly btlist (a stale CDN copy of an old
   * torrent is caught here, not after hours of downloading).
   */
  private async checkBtShare(t: Task, plan: DownloadPlan): Promise<void> {
    if (plan.lists2.bt.length === 0) return;
    const split = t.obslist.length > 0 || t.cdnlist.length > 0;
    if (split && !t.bt.tmpurl) throw errors.BT_NO_TMPURL();
    const url = split ? t.bt.tmpurl : t.bt.url;
    const info = await readTorrentFiles(await fetchTorrent(url, AbortSignal.timeout(30_000)));
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    checkTorrent(url, (split ? t.btlist : t.filelist.map((f) => f.file)).map((f) => byName.get(f)!), info, true);
  }

  private get config() {
    return this.ctx.config();
  }
  private get log() {
    return this.ctx.log;
  }

  async start(): Promise<void> {
    await this.spool.ensureDirs();
    await this.spool.reconcileMarkers();
    const resuming: string[] = [];
    for (const task of await this.spool.list('downloading')) {
      if (!(await this.spool.hasMarker('downloading', task, '.err'))) resuming.push(task);
    }
    if (resuming.length) this.log.info(`start downloading taskfiles: ${resuming.join(',')}`);
    for (const task of resuming) await this.admission.launch(task);

    this.watcher = new SpoolWatcher(
      this.spool.dir('queues'),
      {
        ready: ({ task, file, raw }) => this.admitToQueue(task, file, raw),
        unparseable: ({ task, file }) => this.spool.refuse('queues', task, errors.TASK_JSON(file)),
        unsafe: ({ task, error }) => this.spool.refuse('queues', task, error),
      },
      this.log,
    );
    await this.watcher.start();
    // A downloading task whose .err is deleted is re-armed: watch for that too.
    this.downloadingWatcher = new SpoolWatcher(
      this.spool.dir('downloading'),
      { ready: ({ task }) => this.admission.rearm(task), unparseable: () => {} },
      this.log,
    );
    await this.downloadingWatcher.start();
  }
  private downloadingWatcher?: SpoolWatcher;

  async stop(): Promise<void> {
    this.stopping = true;
    this.admission.stop();
    await this.watcher?.close();
    await this.downloadingWatcher?.close();
    for (const a of this.active.values()) a.abort.abort(new Error('daemon stopping'));
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  /**
   * Validates a task as `recv` does; returns the checked task, the files the store already
   * holds (`avoidrepeat`) with where to copy them from, and the download plan.
   */
  private async check(raw: unknown, where: string): Promise<{ task: Task; plan: DownloadPlan; sources: Map<string, IndexEntry> }> {
    const task = validateTask(raw, where);
    const sources = this.config.avoidrepeat ? await this.localSources(task) : new Map<string, IndexEntry>();
    const plan = planDownload(task, new Set(sources.keys()), where);
    checkMethodsAvailable(plan, this.available);
    await this.checkBtShare(task, plan);
    return { task, plan, sources };
  }

  /** For each file of the task, a trusted copy in the store with the same sha1, if any. */
  private async localSources(task: Task): Promise<Map<string, IndexEntry>> {
    const found = new Map<string, IndexEntry>();
    for (const f of task.filelist) {
      const copy = (await this.hashes.trustedCopies(f.hash, f.size))[0];
      if (copy) found.set(f.file, copy);
    }
    return found;
  }

  /**
   * Copies a local-same file into the assembly directory: a reflink where the filesystem
   * allows, else a copy. The copy is exact if the source kept the size, mtime and inode
   * it had when it was hashed, which is checked after copying (no re-read needed).
   */
  private async copyLocal(source: IndexEntry, dest: string): Promise<boolean> {
    const temp = path.join(path.dirname(dest), `${TEMP_PREFIX}${path.basename(dest)}.copy`);
    try {
      await mkdir(path.dirname(dest), { recursive: true });
      await copyFile(source.path, temp, fsConstants.COPYFILE_FICLONE);
      const st = await stat(source.path);
      if (st.size !== source.size || st.mtimeMs !== source.mtimeMs || st.ino !== source.ino) throw new Error('source changed while copied');
      await renameDurable(temp, dest);
      return true;
    } catch (err) {
      this.log.warn(`local copy of ${source.path} failed (${messageOf(err)}): downloading that file instead`);
      await rm(temp, { force: true });
      return false;
    }
  }

  /** A complete task file in `queues` (dropped in by a person or a TMS, or by `recv`). */
  /** `checked`: recv has just run the task's checks (the torrent fetch, the local lookups); not again. */
  private async admitToQueue(task: string, file: string, raw: unknown, checked = false): Promise<void> {
    // Already waiting: nothing to do. Running: the checks below give the new file its .err.
    if (this.admission.isWaiting(task)) return;
    try {
      if (!checked) await this.check(raw, file);
      const stillQueued = await this.spool.withLock(task, async () => {
        // Under the lock: the file may have been taken already (by recv's own admission).
        if (!(await exists(this.spool.file('queues', task)))) return false;
        const running = (await this.spool.locate(task)).find((l) => l.state === 'downloading');
        if (running) throw errors.SAME_IN_STATE('downloading', running.file);
        // Same name already downloaded: it is downloaded again, the old task file goes to history.
        if (await exists(this.spool.file('downloaded', task))) await this.spool.move(task, 'downloaded', 'history');
        return true;
      });
      if (!stillQueued) return;
    } catch (err) {
      await this.spool.refuse('queues', task, err);
      return;
    }
    await this.admission.enqueue(task);
  }

  /** The DCP a task works on (its store directory): two tasks of one DCP never run at once. */
  private async dcpKey(task: string): Promise<string | undefined> {
    const where = (await this.spool.locate(task)).find((l) => l.state === 'queues' || l.state === 'downloading');
    if (!where) return undefined;
    const t = validateTask((await readTaskJson(where.file)).raw, where.file);
    return this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
  }

  /** The download, with its failure reported once: an `.err` (reason, then the tries' history). */
  private downloadAndReport(a: ActiveDownload): Promise<void> {
    return this.download(a).catch(async (err) => {
      if (err instanceof Cancelled || this.stopping) return;
      let e = isBft2Error(err) ? err : new Bft2Error('DOWNLOAD_FAILED', messageOf(err), false);
      // A full disk names the filesystem and what the whole task still needs (not one file).
      if (isDiskFull(err)) e = await diskFullError((err as { path?: string }).path ?? this.ctx.paths.transferDir, await this.bytesStillNeeded(a.task).catch(() => 0));
      this.log.error(`${e.code} ${a.task}: ${e.message}`);
      await this.spool.writeErr('downloading', a.task, e.message, a.tries.history).catch((werr) => this.log.error(`cannot write ${a.task}.err: ${messageOf(werr)}`));
    });
  }

  /** Bytes of the task's download not yet on disk (staging parts and verified files count). */
  private async bytesStillNeeded(task: string): Promise<number> {
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    const t = validateTask(raw, file);
    const sizeOf = new Map(t.filelist.map((f) => [f.file, f.size]));
    const assembly = this.ctx.paths.assembly(t.basesubdir, t.name);
    let needed = 0;
    for (const m of METHODS) {
      for (const f of listOr(raw[LIST2_KEY[m]], t[`${m}list`])) {
        needed += sizeOf.get(f)! - (await bytesOnDisk(path.join(assembly, f), path.join(this.ctx.paths.staging(m, t.basesubdir, t.name), f)));
      }
    }
    return needed;
  }

  private async download(a: ActiveDownload): Promise<void> {
    const { task } = a;
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    let { task: t, plan, sources } = await this.check(raw, file);
    const paths = this.ctx.paths;
    const assembly = paths.assembly(t.basesubdir, t.name);
    const storing = this.storingMarker(t);

    if (!(await exists(storing))) {
      await mkdir(assembly, { recursive: true });
      const sizeOf = new Map(t.filelist.map((f) => [f.file, f.size]));
      // Local-same files first; one that cannot be copied is downloaded by its method.
      const copied = new Set<string>();
      for (const [f, source] of sources) {
        const dest = path.join(assembly, f);
        const there = (await stat(dest).catch(() => undefined))?.size === sizeOf.get(f);
        if (there || (await this.copyLocal(source, dest))) {
          copied.add(f);
          a.bytes.local += sizeOf.get(f)!;
        }
        if (a.abort.signal.aborted) throw new Cancelled();
      }
      if (copied.size !== sources.size) plan = planDownload(t, copied, file);
      raw.receivetime ||= formatLocalTime();
      this.recordPlan(raw, plan);
      await writeJsonDurable(file, raw);
      await this.countBytesOnDisk(a, t, plan);
      this.log.info(`downloading ${task}: ${t.size} bytes, bt:obs:cdn ${plan.sizes2.bt}:${plan.sizes2.obs}:${plan.sizes2.cdn}`);
      const byName = new Map(t.filelist.map((f) => [f.file, f]));
      const stop = new AbortController();
      const signal = AbortSignal.any([a.abort.signal, stop.signal]);
      await settleAll(
        METHODS.filter((m) => plan.lists2[m].length > 0).map((m) =>
          this.methodFor(m, t).download({
            task,
            files: plan.lists2[m].map((f) => byName.get(f)!),
            stagingDir: paths.staging(m, t.basesubdir, t.name),
            targetDir: assembly,
            url: m === 'cdn' ? t.cdn.url : m === 'obs' ? t.obs.url : t.bt.tmpurl || t.bt.url,
            signal,
            onBytes: (n) => {
              a.tries.progressed(m);
              a.bytes[m] += n;
              a.meters[m].add(n);
              a.meters.all.add(n);
              if (m !== 'bt') this.ctx.metrics.transferred(m, 'down', n); // BitTorrent's bytes are read from its client (src/observe/metrics.ts)
            },
            onTryFailed: (f, reason, delay) => this.log.warn(`${task}: ${a.tries.failed(m, f, reason, delay)}`),
            log: this.log,
          }),
        ),
        stop,
      );
      if (a.abort.signal.aborted) throw new Cancelled();
      await this.checkAssembly(t, assembly, a.verified);
      a.storing = true;
      await writeFileDurable(storing, `${task}\n`);
    }
    a.storing = true;
    await this.store(t, task, assembly, raw);
    await this.recordHashes(t, a.verified);
    raw.finishedtime = formatLocalTime();
    await writeJsonDurable(file, raw);
    await this.spool.withLock(task, () => this.spool.move(task, 'downloading', 'downloaded'));
    await rm(storing, { force: true });
    for (const m of METHODS) await rm(paths.staging(m, t.basesubdir, t.name), { recursive: true, force: true });
    this.log.info(`downloaded ${task}: ${paths.storeDir(this.config, t.basesubdir, t.name)}`);
  }

  /**
   * The received DCP's hashes go into the table from the task, without re-reading — but only
   * for the very files this task verified (same inode since the check; SPEC §4). After a
   * crash mid-store the record is gone and the hash watcher hashes the DCP instead.
   */
  private async recordHashes(t: Task, verified: Map<string, number>): Promise<void> {
    const dir = this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
    const entries: IndexEntry[] = [];
    for (const f of t.filelist) {
      const st = await lstat(path.join(dir, f.file)).catch(() => undefined);
      if (st?.isFile() && st.size === f.size && verified.get(f.file) === st.ino) entries.push({ path: path.join(dir, f.file), sha1: f.hash, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    }
    try {
      await this.hashes.update((s) => {
        for (const e of entries) s.entries.set(e.path, e);
      });
    } catch (err) {
      this.log.warn(`could not add ${t.name} to the hash table (${messageOf(err)}); the hash watcher will hash it`);
    }
  }

  private storingMarker(t: Task): string {
    return path.join(path.dirname(this.ctx.paths.assembly(t.basesubdir, t.name)), `${TEMP_PREFIX}${t.name}.storing`);
  }

  private recordPlan(raw: Record<string, unknown>, plan: DownloadPlan): void {
    raw.localsamefiles = plan.localsame.length ? plan.localsame : [''];
    for (const m of METHODS) {
      raw[LIST2_KEY[m]] = plan.lists2[m].length ? plan.lists2[m] : [''];
      raw[`${m}listsize2`] = plan.sizes2[m];
    }
  }

  private async countBytesOnDisk(a: ActiveDownload, t: Task, plan: DownloadPlan): Promise<void> {
    const paths = this.ctx.paths;
    const assembly = paths.assembly(t.basesubdir, t.name);
    for (const m of METHODS) {
      a.bytes[m] = 0;
      for (const f of plan.lists2[m]) a.bytes[m] += await bytesOnDisk(path.join(assembly, f), path.join(paths.staging(m, t.basesubdir, t.name), f));
    }
  }

  /** Every file of the DCP is in the assembly directory with its size (each was verified on arrival). */
  private async checkAssembly(t: Task, assembly: string, verified: Map<string, number>): Promise<void> {
    for (const f of t.filelist) {
      const st = await lstat(path.join(assembly, f.file)).catch(() => undefined);
      if (!st?.isFile() || st.size !== f.size) throw errors.STORE_FAILED(assembly, `${f.file} is missing or incomplete`);
      verified.set(f.file, st.ino);
    }
  }

  /**
   * Puts the assembled DCP into the store. A DCP of the same name is replaced only now that
   * the new one is complete; a crash anywhere in here is finished by the next start
   * (the `.storing` marker says the swap began).
   */
  private async store(t: Task, task: string, assembly: string, raw: Record<string, unknown>): Promise<void> {
    const target = this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
    const parent = path.dirname(target);
    const old = path.join(parent, `${TEMP_PREFIX}old-${t.name}`);
    try {
      await mkdir(parent, { recursive: true });
      if (await exists(assembly)) {
        if (await exists(target)) {
          await rm(old, { recursive: true, force: true });
          await renameDurable(target, old);
        }
        await renameDurable(assembly, target);
      }
      await writeFileDurable(
        this.ctx.paths.finishedMarker(this.config, t.basesubdir, t.name),
        JSON.stringify({ task, name: t.name, receivetime: raw.receivetime, finishedtime: formatLocalTime() }) + '\n',
      );
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      throw errors.STORE_FAILED(target, messageOf(err));
    }
  }

  // ----- API -----

  /** `recv`: validate a task file from any path and queue it (via tmp). Returns the desc. */
  async recv(taskfile: string): Promise<string> {
    const task = taskNameOf(path.basename(taskfile));
    if (!task) throw errors.TASK_FILENAME(taskfile);
    // Calls for a task already being received, queued or running are refused at once:
    // twenty identical calls give one success, however fast the first download ends.
    if (this.receiving.has(task) || this.admission.has(task)) throw errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    this.receiving.add(task);
    try {
      return await this.receive(task, taskfile);
    } finally {
      this.receiving.delete(task);
    }
  }
  private readonly receiving = new Set<string>();

  private async receive(task: string, taskfile: string): Promise<string> {
    // A path named by the caller is used as given (a symlink it names is followed), but
    // only a regular file of sane size is read, without blocking.
    const { raw, text } = await readTaskJson(taskfile, { noFollow: false });
    const { plan } = await this.check(raw, taskfile);

    const tmpFile = this.spool.file('tmp', task);
    let again = false;
    await this.spool.withLock(task, async () => {
      for (const l of await this.spool.locate(task)) {
        if (l.state === 'queues' || l.state === 'downloading') throw errors.SAME_IN_STATE(l.state, l.file);
      }
      if (await exists(this.spool.file('downloaded', task))) {
        await this.spool.move(task, 'downloaded', 'history');
        again = true;
      }
      if (path.resolve(taskfile) !== tmpFile) {
        try {
          await writeFileDurable(tmpFile, text);
        } catch {
          throw errors.MOVE_TO_TMP(this.spool.dir('tmp'));
        }
      }
      await this.spool.clearErr('tmp', task);
      await this.spool.move(task, 'tmp', 'queues');
    });
    await this.admitToQueue(task, this.spool.file('queues', task), raw, true);
    const allLocal = METHODS.every((m) => plan.lists2[m].length === 0);
    if (allLocal) return again ? 'same name task downloaded, all localsamefiles existed copy and finished, succeed!' : 'all localsamefiles existed copy and finished, succeed!';
    return again ? 'same name task downloaded, to download again.' : 'succeed!';
  }

  /** `cancel`: stop the task's transfers, drop its staging data, file it in history. */
  async cancel(taskfile: string): Promise<string> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile);
    const a = this.active.get(task);
    if (a) {
      if (a.storing) await a.done.catch(() => {});
      else {
        a.abort.abort(new Cancelled());
        await a.done.catch(() => {});
      }
    }
    this.admission.drop(task);

    return this.spool.withLock(task, async () => {
      const where = (await this.spool.locate(task))[0];
      if (!where) return `no need to cancel, not found task: ${task}.task.json`;
      if (where.state === 'downloaded' || where.state === 'history') return `no need to cancel, task already ${where.state === 'history' ? 'in history' : 'downloaded'}: ${where.file}`;
      if (where.state === 'downloading') await this.removeTransferData(where.file);
      await this.spool.move(task, where.state, 'history');
      // The seed's cancel deletes the error file: a cancelled task is not in error.
      await this.spool.clearErr('history', task);
      await this.spool.writeMarker('history', task, '.cancelled', `${formatLocalTime()} cancelled while in ${where.state}`);
      this.log.info(`cancelled ${task} (was in ${where.state})`);
      return 'succeeded!';
    });
  }

  private async removeTransferData(taskFile: string): Promise<void> {
    let t: Task;
    try {
      t = validateTask((await readTaskJson(taskFile)).raw, taskFile);
    } catch {
      return; // a task that never validated never wrote anything
    }
    const paths = this.ctx.paths;
    for (const m of METHODS) await rm(paths.staging(m, t.basesubdir, t.name), { recursive: true, force: true });
    await rm(paths.assembly(t.basesubdir, t.name), { recursive: true, force: true });
    await rm(this.storingMarker(t), { force: true });
  }

  /** `progress` (SPEC §9): status and figures of one task by file name. */
  async progress(taskfile: string): Promise<Record<string, unknown>> {
    if (this.config.servertype === 'cacher') throw errors.CACHER_PROGRESS();
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile).replace(/\.task\.json$/, '');
    const located = (await this.spool.locate(task)).filter((l) => l.state !== 'tmp');
    // A name received again has its earlier task in history: the live one wins.
    const where = located.find((l) => l.state !== 'history') ?? located[0];
    if (!where) throw errors.UNKNOWN_TASK();
    let raw: Record<string, unknown>;
    let t: Task;
    try {
      raw = (await readTaskJson(where.file)).raw as Record<string, unknown>;
      t = validateTask(raw, where.file);
    } catch (err) {
      const reason = isBft2Error(err) ? err.message : errors.TASK_JSON(where.file).message;
      return { ...emptyProgress(where.state === 'queues' ? 'queues' : where.state), taskfile: where.file, taskfullpath: where.file, downerror: reason, desc: reason };
    }
    const size = t.size;
    const lists2 = (m: Method): string[] => listOr(raw[LIST2_KEY[m]], t[`${m}list`]);
    const sizeOf = new Map(t.filelist.map((f) => [f.file, f.size]));
    const sum = (files: string[]) => files.reduce((s, f) => s + (sizeOf.get(f) ?? 0), 0);
    const localsame = t.localsamefiles;
    const shares = {
      bt2downpercent: formatPercent(sum(lists2('bt')), size),
      obs2downpercent: formatPercent(sum(lists2('obs')), size),
      cdn2downpercent: formatPercent(sum(lists2('cdn')), size),
      localsamepercent: formatPercent(sum(localsame), size),
    };
    const base = { ...emptyProgress('unknown'), taskfile: where.file, taskfullpath: where.file, totalbytes: String(size), ...shares };

    if (where.state === 'queues') {
      const err = await this.spool.readErr('queues', task);
      return { ...base, status: 'queues', downerror: err ?? '', desc: err ?? 'task in queues, no progress now.' };
    }
    if (where.state === 'downloaded' || where.state === 'history') {
      const finished = where.state === 'downloaded' || Boolean(raw.finishedtime);
      const storeDir = this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
      return {
        ...base,
        status: where.state,
        dcppath: finished && (await exists(storeDir)) ? storeDir : '',
        downloaded: finished ? size : 0,
        totalpercent: finished ? '100.000%' : '0.000%',
        totoalpercent: finished ? '100.000%' : '0.000%',
        ecompletedtime: finished ? 0 : -1,
        desc: (await this.spool.hasMarker('history', task, '.cancelled')) ? 'cancelled' : '',
      };
    }
    // downloading
    const a = this.active.get(task);
    const bytes: Record<Method | 'local', number> = a ? { ...a.bytes } : { bt: 0, obs: 0, cdn: 0, local: 0 };
    const paths = this.ctx.paths;
    const assembly = paths.assembly(t.basesubdir, t.name);
    if (!a) {
      for (const m of METHODS) {
        for (const f of lists2(m)) bytes[m] += await bytesOnDisk(path.join(assembly, f), path.join(paths.staging(m, t.basesubdir, t.name), f));
      }
    }
    for (const f of localsame) if ((await stat(path.join(assembly, f)).catch(() => undefined))?.size === sizeOf.get(f)) bytes.local += sizeOf.get(f)!;
    const downloaded = bytes.bt + bytes.obs + bytes.cdn + bytes.local;
    const err = (await this.spool.readErr('downloading', task)) ?? (a?.tries.status() || undefined);
    const failed = await this.spool.hasMarker('downloading', task, '.err');
    const rate = a ? a.meters.all.rate() : 0;
    const methodRate = (m: Method) => (a && sum(lists2(m)) > 0 ? formatRate(a.meters[m].rate()) : '');
    const total = formatPercent(downloaded, size);
    return {
      ...base,
      status: failed ? 'downloaderror' : 'downloading',
      downerror: err ?? '',
      downloaded,
      rate: a ? formatRate(rate) : '',
      totalpercent: total,
      totoalpercent: total,
      btrate: methodRate('bt'),
      btpercent: formatPercent(bytes.bt, size),
      obsrate: methodRate('obs'),
      obspercent: formatPercent(bytes.obs, size),
      cdnrate: methodRate('cdn'),
      cdnpercent: formatPercent(bytes.cdn, size),
      ecompletedtime: failed ? -1 : etaMinutes(size - downloaded, rate),
    };
  }

  /** Every task of the receiver spool, for `bft2 status`. */
  async listAll(): Promise<{ task: string; state: ReceiverState }[]> {
    const out: { task: string; state: ReceiverState }[] = [];
    for (const state of RECEIVER_STATES) for (const task of await this.spool.list(state)) out.push({ task, state });
    return out;
  }
}

/** A lists2 field of a rewritten task, else the method's list (the task was not started yet). */
function listOr(field: unknown, list: string[]): string[] {
  return Array.isArray(field) ? field.filter((f): f is string => typeof f === 'string' && f !== '') : list;
}

function emptyProgress(status: string): Record<string, unknown> {
  return {
    status,
    taskfile: '',
    taskfullpath: '',
    dcppath: '',
    btstatus: 'nobtseeding',
    downerror: '',
    downloaded: 0,
    rate: '',
    totalpercent: '0.000%',
    totoalpercent: '0.000%',
    btrate: '',
    btpercent: '0.000%',
    obsrate: '',
    obspercent: '0.000%',
    cdnrate: '',
    cdnpercent: '0.000%',
    ecompletedtime: -1,
    bt2downpercent: '0.000%',
    obs2downpercent: '0.000%',
    cdn2downpercent: '0.000%',
    localsamepercent: '0.000%',
    totalbytes: '0',
  };
}
