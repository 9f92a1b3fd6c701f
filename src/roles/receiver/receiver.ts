// The receiver pipeline (SPEC §5, receiver): tmp → queues → downloading → downloaded →
// history. Takes complete task files from `queues` (dropped in, or put there by `recv`),
// admits at most `downloadingnum` into `downloading` in arrival order (a task waits while
// the disk reserve is short, or while another task works on the same DCP), copies the
// files the store already holds, hands the rest to the task's download (one engine for all
// three methods: src/download/task-download.ts), moves the finished DCP into the store
// with `<name>.finished` (store-merge.ts), seeds its BitTorrent share from the store for
// the seed time (receiver-seeds.ts), and resumes whatever was under way at start-up.
// Owns: the receiver spool, the task's assembly directory, its store entry. Must not
// touch another task's files, the sender spool.
import { rm, stat, copyFile, mkdir, constants as fsConstants } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_PREFIX, RECEIVER_STATES, taskNameOf, type ReceiverState } from '../../config/paths.ts';
import { TaskSpool } from '../../spool/task-spool.ts';
import { Admission } from '../../spool/admission.ts';
import { SpoolWatcher } from '../../spool/spool-watcher.ts';
import { renameDurable, writeFileDurable, writeJsonDurable, exists } from '../../spool/durable-fs.ts';
import { readTaskJson } from '../../trust/confined-file.ts';
import { validateTask, planDownload, checkMethodsAvailable, type DownloadPlan } from '../../task/validate-task.ts';
import { METHODS, type Method, type Task } from '../../task/schema.ts';
import { errors, isBft2Error, messageOf, Bft2Error } from '../../errors/catalogue.ts';
import { resolveObsCredentials } from '../../transfer/obs/credentials.ts';
import { createObsClient } from '../../transfer/obs/obs-client.ts';
import { checkBtShare } from '../shared/bt-share-check.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { PartStore } from '../../transfer/segments/part-store.ts';
import { TaskDownload } from '../../download/task-download.ts';
import { formatLocalTime, envNumber } from '../../util/time.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { IndexEntry } from '../../hashtable/reconcile.ts';
import { freeSpace, parseReserve, reserveVerdict, describeFilesystem } from '../../schedule/disk-reserve.ts';
import { TryLog } from '../../transfer/try-log.ts';
import { isDiskFull, diskFullError } from '../../transfer/disk-full.ts';
import { formatPercent } from './progress-math.ts';
import { emptyProgress, downloadingProgress } from './receiver-progress.ts';
import { checkAssembly, storeDcp, recordHashes, storingMarker } from './store-merge.ts';
import { ReceiverSeeds } from './receiver-seeds.ts';
import type { ScheduledTask } from '../../schedule/showschedules.ts';

interface ActiveDownload {
  task: string;
  abort: AbortController;
  tries: TryLog;
  /** The engine, once the task's files are planned. */
  download?: TaskDownload;
  /** Bytes of local-same files copied into the DCP. */
  localBytes: number;
  done: Promise<void>;
  storing: boolean;
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
  private downloadingWatcher?: SpoolWatcher;
  /** Valid tasks waiting in `queues`, and the ones downloading (at most `downloadingnum`). */
  private readonly admission: Admission<ReceiverState, ActiveDownload>;
  private readonly seeds?: ReceiverSeeds;
  private seedTimer?: NodeJS.Timeout;
  private stopping = false;
  /** recv calls under way, so twenty identical calls give one success. */
  private readonly receiving = new Set<string>();

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
    private readonly btClient?: () => Promise<BtClient>,
  ) {
    this.spool = new TaskSpool(ctx.paths, 'receiver', RECEIVER_STATES, ctx.log);
    if (btClient) this.seeds = new ReceiverSeeds(ctx, hashes, btClient);
    this.admission = new Admission<ReceiverState, ActiveDownload>({
      spool: this.spool,
      queue: 'queues',
      active: 'downloading',
      limit: () => this.config.downloadingnum,
      log: ctx.log,
      keyOf: (task) => this.dcpKey(task),
      canStart: (task) => this.spaceToStart(task),
      create: (task) => ({ task, abort: new AbortController(), tries: new TryLog(), localBytes: 0, done: Promise.resolve(), storing: false }),
      work: (a) => this.downloadAndReport(a),
    });
  }

  private get active() {
    return this.admission.running;
  }

  /** The methods this node can run. */
  private get available(): Set<Method> {
    return new Set<Method>(this.btClient ? ['bt', 'obs', 'cdn'] : ['obs', 'cdn']);
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
    // Stored DCPs whose seed time is not over are seeded again.
    for (const task of await this.spool.list('downloaded')) await this.resumeSeed(task);
    this.seedTimer = setInterval(() => void this.seeds?.expire(), envNumber('BFT2_SEED_CHECK_MS', 60_000));
    this.seedTimer.unref();

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
    this.downloadingWatcher = new SpoolWatcher(this.spool.dir('downloading'), { ready: ({ task }) => this.admission.rearm(task), unparseable: () => {} }, this.log);
    await this.downloadingWatcher.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.admission.stop();
    clearInterval(this.seedTimer);
    await this.watcher?.close();
    await this.downloadingWatcher?.close();
    for (const a of this.active.values()) a.abort.abort(new Error('daemon stopping'));
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
    await this.seeds?.close();
  }

  // ----- checks -----

  /**
   * Validates a task as `recv` does; returns the checked task, the files the store already
   * holds (`avoidrepeat`) with where to copy them from, and the download plan.
   */
  private async check(raw: unknown, where: string, opts: { torrent: boolean } = { torrent: true }): Promise<{ task: Task; plan: DownloadPlan; sources: Map<string, IndexEntry> }> {
    const task = validateTask(raw, where);
    const sources = this.config.avoidrepeat ? await this.localSources(task) : new Map<string, IndexEntry>();
    const plan = planDownload(task, new Set(sources.keys()), where);
    checkMethodsAvailable(plan, this.available);
    // At recv the torrent is fetched and checked now; a download (started or resumed)
    // fetches it itself, through the retry policy.
    if (opts.torrent && plan.lists2.bt.length > 0) await checkBtShare(task);
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
      await rm(temp, { force: true });
      if (isDiskFull(err)) throw err;
      this.log.warn(`local copy of ${source.path} failed (${messageOf(err)}): downloading that file instead`);
      return false;
    }
  }

  /** Why a queued task may not start yet: the disk reserve would not hold after its download. */
  private async spaceToStart(task: string): Promise<string | undefined> {
    const file = this.spool.file('queues', task);
    const t = validateTask((await readTaskJson(file)).raw, file);
    const config = this.config;
    const reserve = parseReserve(config.diskreserve);
    for (const dir of [this.ctx.paths.transferDir, this.ctx.paths.storeParent(config, t.basesubdir)]) {
      const space = await freeSpace(dir).catch(() => undefined);
      if (!space) continue;
      const v = reserveVerdict({ free: space.free, total: space.total, reserve, needed: t.size });
      if (!v.ok) return `waiting for disk space: ${await describeFilesystem(dir)} has ${space.free} bytes free; the task needs ${t.size} and the reserve (${config.diskreserve}) ${v.short} more`;
    }
    return undefined;
  }

  /** The DCP a task works on (its store directory): two tasks of one DCP never run at once. */
  private async dcpKey(task: string): Promise<string | undefined> {
    const where = (await this.spool.locate(task)).find((l) => l.state === 'queues' || l.state === 'downloading');
    if (!where) return undefined;
    const t = validateTask((await readTaskJson(where.file)).raw, where.file);
    return this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
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
        if (await exists(this.spool.file('downloaded', task))) await this.moveToHistory(task, 'downloaded');
        return true;
      });
      if (!stillQueued) return;
    } catch (err) {
      await this.spool.refuse('queues', task, err);
      return;
    }
    await this.admission.enqueue(task);
  }

  // ----- downloading -----

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

  /** Bytes of the task's download not on disk yet. */
  private async bytesStillNeeded(task: string): Promise<number> {
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    const t = validateTask(raw, file);
    const onDisk = await this.partStore(t, raw).onDisk();
    const sizeOf = new Map(t.filelist.map((f) => [f.file, f.size]));
    let needed = 0;
    for (const [f, n] of onDisk) needed += sizeOf.get(f)! - n;
    return needed;
  }

  /** The part files of a task's download (every file of its lists2). */
  private partStore(t: Task, raw: Record<string, unknown>): PartStore {
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    const files = METHODS.flatMap((m) => listOr(raw[LIST2_KEY[m]], t[`${m}list`])).map((f) => byName.get(f)!);
    return new PartStore(this.ctx.paths.assembly(t.basesubdir, t.name), files);
  }

  private async download(a: ActiveDownload): Promise<void> {
    const { task } = a;
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    let { task: t, plan, sources } = await this.check(raw, file, { torrent: false });
    const paths = this.ctx.paths;
    const assembly = paths.assembly(t.basesubdir, t.name);
    const storeDir = paths.storeDir(this.config, t.basesubdir, t.name);
    const storing = storingMarker(assembly, t.name);

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
          a.localBytes += sizeOf.get(f)!;
        }
        if (a.abort.signal.aborted) throw new Cancelled();
      }
      if (copied.size !== sources.size) plan = planDownload(t, copied, file);
      raw.receivetime ||= formatLocalTime();
      this.recordPlan(raw, plan);
      await writeJsonDurable(file, raw);
      this.log.info(`downloading ${task}: ${t.size} bytes, bt:obs:cdn ${plan.sizes2.bt}:${plan.sizes2.obs}:${plan.sizes2.cdn}`);
      const config = this.config;
      a.download = new TaskDownload({
        task,
        t,
        lists2: plan.lists2,
        assembly,
        storeDir,
        available: this.available,
        config: () => this.config,
        log: this.log,
        scheduler: this.ctx.scheduler,
        caps: this.ctx.caps,
        btClient: this.btClient,
        obsClient: async (bucket) =>
          createObsClient({
            ...(await resolveObsCredentials(bucket, { task: t.obs, bucketsFile: paths.obsBucketsFile, config })),
            signature: config.obssignature,
            pathStyle: config.obspathstyle,
          }),
        tries: a.tries,
        // BitTorrent's bytes are counted from its client (src/observe/metrics.ts).
        onBytes: (m, n) => {
          if (m !== 'bt') this.ctx.metrics.transferred(m, 'down', n);
        },
        onTorrent: (buf) => this.seeds?.keepTorrent(t, buf),
        signal: a.abort.signal,
      });
      await a.download.run();
      if (a.abort.signal.aborted) throw new Cancelled();
      await checkAssembly(t, assembly);
      a.storing = true;
      await writeFileDurable(storing, `${task}\n`);
    }
    a.storing = true;
    const verified = await checkAssembly(t, assembly).catch(() => new Map<string, number>());
    await this.hashes.recording(storeDir, async () => {
      const stored = await storeDcp(t, task, { assembly, storeDir, finishedMarker: paths.finishedMarker(this.config, t.basesubdir, t.name) }, raw.receivetime, verified);
      await recordHashes(t, storeDir, stored, this.hashes, this.log);
    });
    raw.finishedtime = formatLocalTime();
    await writeJsonDurable(file, raw);
    await this.spool.withLock(task, () => this.spool.move(task, 'downloading', 'downloaded'));
    await rm(storing, { force: true });
    this.log.info(`downloaded ${task}: ${storeDir}`);
    await this.seeds?.start(task, t, storeDir, String(raw.finishedtime));
  }

  private recordPlan(raw: Record<string, unknown>, plan: DownloadPlan): void {
    raw.localsamefiles = plan.localsame.length ? plan.localsame : [''];
    for (const m of METHODS) {
      raw[LIST2_KEY[m]] = plan.lists2[m].length ? plan.lists2[m] : [''];
      raw[`${m}listsize2`] = plan.sizes2[m];
    }
  }

  /** A task in `downloaded` at start-up: its stored DCP is seeded for what is left of its seed time. */
  private async resumeSeed(task: string): Promise<void> {
    if (!this.seeds) return;
    const file = this.spool.file('downloaded', task);
    try {
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      const t = validateTask(raw, file);
      if (t.finishedtime) await this.seeds.start(task, t, this.ctx.paths.storeDir(this.config, t.basesubdir, t.name), t.finishedtime);
    } catch (err) {
      this.log.warn(`cannot resume seeding ${task}: ${messageOf(err)}`);
    }
  }

  /** A downloaded task leaves for history (received again): its seeding stops. */
  private async moveToHistory(task: string, from: ReceiverState): Promise<void> {
    await this.seeds?.stop(task);
    await this.spool.move(task, from, 'history');
  }

  // ----- API -----

  /**
   * `recv` (seed §4.3.2): validate a task file from any path and move it into `tmp`, then
   * `queues`. Returns the desc. `reactive` true restarts a same-name task that is queued or
   * downloading (its bytes on disk are kept when the new task has the same files).
   */
  async recv(taskfile: string, reactive = false): Promise<string> {
    const task = taskNameOf(path.basename(taskfile));
    if (!task) throw errors.TASK_FILENAME(taskfile);
    // Calls for a task already being received, queued or running are refused at once:
    // twenty identical calls give one success, however fast the first download ends.
    if (this.receiving.has(task) || (this.admission.has(task) && !reactive)) throw errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    this.receiving.add(task);
    try {
      return await this.receive(task, taskfile, reactive);
    } finally {
      this.receiving.delete(task);
    }
  }

  private async receive(task: string, taskfile: string, reactive: boolean): Promise<string> {
    // A path named by the caller is used as given (a symlink it names is followed), but
    // only a regular file of sane size is read, without blocking.
    const { raw, text } = await readTaskJson(taskfile, { noFollow: false });
    const { task: t, plan } = await this.check(raw, taskfile);

    let again = false;
    let restarted = false;
    let copied = '';
    if (reactive) restarted = await this.stopForRestart(task, t);
    await this.spool.withLock(task, async () => {
      for (const l of await this.spool.locate(task)) {
        if (l.state === 'queues' || l.state === 'downloading') throw errors.SAME_IN_STATE(l.state, l.file);
      }
      if (await exists(this.spool.file('downloaded', task))) {
        await this.moveToHistory(task, 'downloaded');
        again = true;
      }
      // The text written is the one just checked, not whatever the path holds now.
      copied = await this.spool.adopt('tmp', task, taskfile, text);
      await this.spool.clearErr('tmp', task);
      await this.spool.move(task, 'tmp', 'queues');
    });
    await this.admitToQueue(task, this.spool.file('queues', task), raw, true);
    const allLocal = METHODS.every((m) => plan.lists2[m].length === 0);
    let desc: string;
    if (restarted) desc = 'restarted same name task, succeed!';
    else if (allLocal) desc = again ? 'same name task downloaded, all localsamefiles existed copy and finished, succeed!' : 'all localsamefiles existed copy and finished, succeed!';
    else desc = again ? 'same name task downloaded, to download again.' : 'succeed!';
    return desc + copied;
  }

  /**
   * recv with reactive true of a task already queued or downloading: it is stopped and its
   * file filed in history, so the new file starts over. The bytes on disk stay when the new
   * task names the same files with the same sha1 (the download resumes from them); else
   * they go.
   */
  private async stopForRestart(task: string, next: Task): Promise<boolean> {
    const where = (await this.spool.locate(task)).find((l) => l.state === 'queues' || l.state === 'downloading');
    if (!where) return false;
    const a = this.active.get(task);
    if (a && !a.storing) {
      a.abort.abort(new Cancelled());
      await a.done.catch(() => {});
    } else if (a) await a.done.catch(() => {});
    this.admission.drop(task);
    return this.spool.withLock(task, async () => {
      const still = (await this.spool.locate(task)).find((l) => l.state === 'queues' || l.state === 'downloading');
      if (!still) return false;
      const old = await readTaskJson(still.file).then((r) => validateTask(r.raw, still.file)).catch(() => undefined);
      const same = old && old.name === next.name && old.basesubdir === next.basesubdir && JSON.stringify(old.filelist.map((f) => [f.file, f.hash])) === JSON.stringify(next.filelist.map((f) => [f.file, f.hash]));
      if (still.state === 'downloading' && !same) await this.removeTransferData(still.file);
      await this.spool.move(task, still.state, 'history');
      await this.spool.clearErr('history', task);
      this.log.info(`${task}: restarted by recv (reactive true); ${same ? 'its bytes on disk are kept' : 'its partial data was removed'}`);
      return true;
    });
  }

  /** `cancel`: stop the task's transfers, drop its partial data, file it in history. */
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
    const assembly = this.ctx.paths.assembly(t.basesubdir, t.name);
    await rm(assembly, { recursive: true, force: true });
    await rm(storingMarker(assembly, t.name), { force: true });
  }

  /** `progress` (SPEC §9): status and figures of one task by file name. */
  async progress(taskfile: string): Promise<Record<string, unknown> & { ok?: boolean }> {
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
      return { ...emptyProgress(where.state), ok: where.state !== 'queues', taskfile: where.file, taskfullpath: where.file, downerror: reason, desc: reason };
    }
    const size = t.size;
    const lists2 = (m: Method): string[] => listOr(raw[LIST2_KEY[m]], t[`${m}list`]);
    const sizeOf = new Map(t.filelist.map((f) => [f.file, f.size]));
    const sum = (files: string[]) => files.reduce((s, f) => s + (sizeOf.get(f) ?? 0), 0);
    const shares = { bt: sum(lists2('bt')), obs: sum(lists2('obs')), cdn: sum(lists2('cdn')) };
    const localsame = t.localsamefiles;
    const base = {
      ...emptyProgress('unknown'),
      taskfile: where.file,
      taskfullpath: where.file,
      totalbytes: String(size),
      bt2downpercent: formatPercent(shares.bt, size),
      obs2downpercent: formatPercent(shares.obs, size),
      cdn2downpercent: formatPercent(shares.cdn, size),
      localsamepercent: formatPercent(sum(localsame), size),
    };

    if (where.state === 'queues') {
      // The seed: a queued task has no progress (false), with why it waits when it does.
      const err = await this.spool.readErr('queues', task);
      const held = this.admission.held.get(task);
      return { ...base, ok: false, status: 'queues', downerror: err ?? '', waiting: held ?? '', desc: err ?? (held ? `task in queues, no progress now. (${held})` : 'task in queues, no progress now.') };
    }
    if (where.state === 'downloaded' || where.state === 'history') {
      const finished = where.state === 'downloaded' || Boolean(raw.finishedtime);
      const storeDir = this.ctx.paths.storeDir(this.config, t.basesubdir, t.name);
      return {
        ...base,
        status: where.state,
        btstatus: this.seeds?.isSeeding(task) ? 'btseeding' : 'nobtseeding',
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
    const snapshot = a?.download?.snapshot();
    let bytes: Record<Method, number> = snapshot ? { ...snapshot.bytes } : { bt: 0, obs: 0, cdn: 0 };
    if (!snapshot) {
      // Not running (stopped by an error, or about to start): what the part files hold.
      const onDisk = await this.partStore(t, raw).onDisk();
      bytes = { bt: 0, obs: 0, cdn: 0 };
      for (const m of METHODS) for (const f of lists2(m)) bytes[m] += onDisk.get(f) ?? 0;
    }
    const assembly = this.ctx.paths.assembly(t.basesubdir, t.name);
    let localBytes = a?.localBytes ?? 0;
    if (!a) for (const f of localsame) if ((await stat(path.join(assembly, f)).catch(() => undefined))?.size === sizeOf.get(f)) localBytes += sizeOf.get(f)!;
    const error = await this.spool.readErr('downloading', task);
    return {
      ...base,
      ...downloadingProgress({ t, shares, localBytes, bytes, snapshot, error, retrying: a?.tries.status() ?? '', seeding: snapshot?.seeding ?? false }),
    };
  }

  /** The downloading tasks with their windows and how far each share is, for `showschedules`. */
  async schedules(): Promise<ScheduledTask[]> {
    const out: ScheduledTask[] = [];
    const config = this.config;
    for (const [task, a] of this.active) {
      const file = this.spool.file('downloading', task);
      const raw = (await readTaskJson(file).catch(() => undefined))?.raw as Record<string, unknown> | undefined;
      if (!raw) continue;
      let t: Task;
      try {
        t = validateTask(raw, file);
      } catch {
        continue;
      }
      const snap = a.download?.snapshot();
      const byName = new Map(t.filelist.map((f) => [f.file, f.size]));
      const policy = (t.policy || config.priorpolicy) as 'fulltime' | 'priortime';
      const methods = {} as ScheduledTask['methods'];
      for (const m of METHODS) {
        const share = listOr(raw[LIST2_KEY[m]], t[`${m}list`]).reduce((n, f) => n + (byName.get(f) ?? 0), 0);
        methods[m] = {
          windows: t[m].priortime || config[`${m}time`],
          hasShare: share > 0,
          percentDone: share > 0 ? Math.min(100, ((snap?.bytes[m] ?? 0) / share) * 100) : 0,
        };
      }
      out.push({ task, ratio: t['bt-obs-cdn'] || METHODS.map((m) => (t[`${m}list`].length ? 1 : 0)).join(':'), policy, methods });
    }
    return out;
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
