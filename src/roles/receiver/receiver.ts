// The receiver (SPEC §5, receiver): tmp → queues → downloading → downloaded → history, on
// the shared task pipeline (../shared/task-pipeline.ts: spool, admission, locks, cancel,
// failures, autoretry, quarantine). What is the receiver's own: the checks of a task
// (dedup against the hash table, the plan per method, the torrent at recv), the copies of
// files the store already holds, the download of the rest (one engine for every method:
// src/download/task-download.ts), the move of the finished DCP into the store with
// `<name>.finished` (store-merge.ts), seeding its BitTorrent share from the store for the
// seed time (receiver-seeds.ts), and the `progress` answer.
// Owns: the receiver spool, the task's assembly directory, its store entry. Must not
// touch another task's files, the sender spool.
import { rm, stat, copyFile, mkdir, readFile, constants as fsConstants } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_PREFIX, PATH_MAX, taskNameOf, type ReceiverState } from '../../config/paths.ts';
import { writeFileDurable, writeJsonDurable, exists, renameDurable } from '../../spool/durable-fs.ts';
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
import { formatLocalTime } from '../../util/time.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { IndexEntry } from '../../hashtable/reconcile.ts';
import { spaceToStart } from '../shared/disk-space.ts';
import { isDiskFull, diskFullError } from '../../transfer/disk-full.ts';
import { fileUrl } from '../../transfer/cdn/http-request.ts';
import { parseObsUrl } from '../../transfer/obs/obs-url.ts';
import { formatPercent } from './progress-math.ts';
import { emptyProgress, downloadingProgress } from './receiver-progress.ts';
import { checkAssembly, storeDcp, recordHashes, storingMarker, newStoreSwap, parseStoreSwap, contentDirOf } from './store-merge.ts';
import { ReceiverSeeds } from './receiver-seeds.ts';
import { taskLedger, LEDGER_KEY } from '../shared/task-ledger.ts';
import { describePeers } from '../../observe/tracker-reports.ts';
import type { DownloadFigures, DownloadProvider } from '../../observe/downloads.ts';
import { TaskPipeline, receiverSpoolHooks, Cancelled, type PipelineRun, type CheckPurpose, type RoleHooks } from '../shared/task-pipeline.ts';
import type { ScheduledTask } from '../../schedule/showschedules.ts';
import { tuning } from '../../config/tuning.ts';

/** What a pickup checked: the task, its plan, the store copies it can use, where it goes. */
interface Checked {
  raw: Record<string, unknown>;
  t: Task;
  plan: DownloadPlan;
  sources: Map<string, IndexEntry>;
  storeDir: string;
}

interface Download extends PipelineRun<Checked> {
  /** The engine, once the task's files are planned. */
  download?: TaskDownload;
  /** Bytes of local-same files copied into the DCP. */
  localBytes: number;
}

const LIST2_KEY = { bt: 'btlist2', obs: 'obslist2', cdn: 'cdnlist2' } as const;

/** How long `recv` of a task whose files are all in the store already waits for the copies (the CLI waits 30 s for an answer). */
const ALL_LOCAL_WAIT_MS = 20_000;

export class Receiver implements DownloadProvider {
  readonly pipeline: TaskPipeline<ReceiverState, Checked, Download>;
  private readonly seeds?: ReceiverSeeds;
  private unregisterDownloads?: () => void;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
    private readonly btClient?: () => Promise<BtClient>,
  ) {
    if (btClient) this.seeds = new ReceiverSeeds(ctx, hashes, btClient);
    const hooks: RoleHooks<ReceiverState, Checked, Download> = {
      ...receiverSpoolHooks(() => this.config),
      name: 'receiver',
      check: (raw, at, purpose) => this.check(raw, at, purpose),
      keyOf: (c) => c.storeDir,
      canStart: (c) => spaceToStart(this.config, [this.ctx.paths.transferDir, this.ctx.paths.storeParent(this.config, c.t.basesubdir)], c.t.size),
      // A task whose every file is in the store already downloads nothing: it takes no download slot.
      needsSlot: (c) => METHODS.some((m) => c.plan.lists2[m].length > 0),
      makeRun: (base) => ({ ...base, localBytes: 0 }),
      work: (run) => this.download(run),
      failure: (run, err) => this.failure(run, err),
      discard: (_task, c) => this.removeTransferData(c?.t),
      sourceUrls: (c) => this.sourceUrls(c),
      onDoneReplaced: (task) => this.seeds?.stop(task) ?? Promise.resolve(),
    };
    this.pipeline = new TaskPipeline(hooks, { paths: ctx.paths, log: ctx.log, guard: ctx.guard, autoretry: () => this.config.autoretry });
  }

  get spool() {
    return this.pipeline.spool;
  }
  private get running() {
    return this.pipeline.running;
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
    await this.pipeline.start({ resumeLog: 'start downloading taskfiles' });
    // Stored DCPs whose seed time is not over are seeded again.
    for (const task of await this.spool.list('downloaded')) await this.resumeSeed(task);
    this.pipeline.every(tuning().seedcheck, () => void this.seeds?.expire());
    this.unregisterDownloads = this.ctx.metrics.registerDownloads(this);
  }

  async stop(): Promise<void> {
    this.unregisterDownloads?.();
    await this.pipeline.stop();
    await this.seeds?.close();
  }

  /** The running downloads for /metrics (DownloadProvider): the snapshot `progress` answers with. */
  downloads(): DownloadFigures[] {
    const out: DownloadFigures[] = [];
    for (const [task, a] of this.running) {
      const s = a.download?.snapshot();
      if (s) out.push({ role: 'receiver', task, bytes: s.bytes, rates: s.rates, quietSeconds: s.quietSeconds });
    }
    return out;
  }

  // ----- checks -----

  /**
   * Validates a task as `recv` does (SPEC §4): its fields, names and paths, the files the
   * store already holds (`avoidrepeat`) with where to copy them from, the download plan; a
   * task arriving (recv, a dropped file) also has its torrent fetched and checked now, a
   * resumed one fetches it through the retry policy.
   */
  private async check(raw: Record<string, unknown>, where: string, purpose: CheckPurpose): Promise<Checked> {
    const t = validateTask(raw, where);
    const config = this.config;
    const long = this.ctx.paths.pathTooLong(config, t.basesubdir, t.name, t.filelist);
    if (long) throw errors.TASK_PATH_TOO_LONG(long.file, long.bytes, PATH_MAX - 1);
    const sources = config.avoidrepeat ? await this.localSources(t) : new Map<string, IndexEntry>();
    const plan = planDownload(t, new Set(sources.keys()), where);
    checkMethodsAvailable(plan, this.available);
    if (purpose !== 'resume' && plan.lists2.bt.length > 0) await checkBtShare(t);
    return { raw, t, plan, sources, storeDir: this.ctx.paths.storeDir(config, t.basesubdir, t.name) };
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

  /** The URLs a task's download needs (autoretry asks them before re-arming it). */
  private async sourceUrls(c: Checked): Promise<string[]> {
    const { t, plan } = c;
    const urls: string[] = [];
    if (plan.lists2.bt.length > 0) urls.push(t.obslist.length || t.cdnlist.length ? t.bt.tmpurl : t.bt.url);
    if (plan.lists2.cdn.length > 0) urls.push(fileUrl(t.cdn.url, plan.lists2.cdn[0]));
    if (plan.lists2.obs.length > 0) {
      const { bucket } = parseObsUrl(t.obs.url);
      const keys = await resolveObsCredentials(bucket, { task: t.obs, bucketsFile: this.ctx.paths.obsBucketsFile, config: this.config }).catch(() => undefined);
      if (keys?.endpoint) urls.push(/^https?:\/\//.test(keys.endpoint) ? keys.endpoint : `https://${keys.endpoint}`);
    }
    return urls.filter((u) => /^https?:\/\//.test(u));
  }

  // ----- downloading -----

  /** The error a failed download reports: a full disk names the filesystem and what the whole task still needs. */
  private async failure(run: Download, err: unknown): Promise<Bft2Error> {
    if (isDiskFull(err)) return diskFullError((err as { path?: string }).path ?? this.ctx.paths.transferDir, await this.bytesStillNeeded(run.checked).catch(() => 0));
    if (isBft2Error(err)) return err;
    const e = new Bft2Error('DOWNLOAD_FAILED', messageOf(err), false);
    (e as Error).cause = err;
    return e;
  }

  /** Bytes of the task's download not on disk yet. */
  private async bytesStillNeeded(c: Checked): Promise<number> {
    const onDisk = await this.partStore(c.t, c.raw).onDisk();
    const sizeOf = new Map(c.t.filelist.map((f) => [f.file, f.size]));
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

  private async download(a: Download): Promise<void> {
    const { task } = a;
    const file = this.spool.file('downloading', task);
    const { raw, t, sources } = a.checked;
    let plan = a.checked.plan;
    const paths = this.ctx.paths;
    const assembly = paths.assembly(t.basesubdir, t.name);
    const storeDir = a.checked.storeDir;
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
      await this.pipeline.finishRun(a, () => writeJsonDurable(file, raw));
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
        // The bytes that land in the task's files (BitTorrent's once their piece is verified): what progress counts.
        onBytes: (m, n) => this.ctx.metrics.transferred(m, 'down', n),
        onTorrent: (buf) => this.seeds?.keepTorrent(t, buf),
        signal: a.abort.signal,
        rebalance: config.rebalance,
        ledgerFrom: (saved) => taskLedger(saved ?? raw[LEDGER_KEY], t, () => this.config, this.log, task),
        onBilled: (p) => this.ctx.metrics.billed(p),
        why: (m, stats) => (m === 'bt' ? describePeers(stats.peers, this.ctx.trackers.forDir(assembly)) : ''),
      });
      await a.download.run();
      if (a.abort.signal.aborted) throw new Cancelled();
      await checkAssembly(t, assembly);
      // From here on the DCP is being stored: a cancel waits for it rather than stopping it.
      // The bill goes into the task file now: the download's own record goes with the assembly.
      await this.pipeline.finishRun(a, async () => {
        a.committed = true;
        if (a.download?.ledger) {
          raw[LEDGER_KEY] = a.download.ledger.toJSON();
          await writeJsonDurable(file, raw);
        }
        await writeFileDurable(storing, JSON.stringify(newStoreSwap(task, storeDir)) + '\n');
      });
    }
    a.committed = true;
    const swap = parseStoreSwap(await readFile(storing, 'utf8').catch(() => '')) ?? newStoreSwap(task, storeDir);
    const verified = await checkAssembly(t, assembly).catch(() => new Map<string, number>());
    await this.hashes.recording(storeDir, async () => {
      const stored = await storeDcp(t, task, { assembly, storeDir, finishedMarker: paths.finishedMarker(this.config, t.basesubdir, t.name), oldDir: swap.oldDir }, raw.receivetime, verified);
      await recordHashes(t, storeDir, stored, this.hashes, this.log);
    });
    raw.finishedtime = formatLocalTime();
    await this.pipeline.finishRun(a, async () => {
      await writeJsonDurable(file, raw);
      await this.spool.move(task, 'downloading', 'downloaded');
    });
    await rm(storing, { force: true });
    this.log.info(`downloaded ${task}: ${storeDir}`);
    await this.seeds?.start(task, t, contentDirOf(t, storeDir), String(raw.finishedtime));
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
      if (t.finishedtime) await this.seeds.start(task, t, contentDirOf(t, this.ctx.paths.storeDir(this.config, t.basesubdir, t.name)), t.finishedtime);
    } catch (err) {
      this.log.warn(`cannot resume seeding ${task}: ${messageOf(err)}`);
    }
  }

  private async removeTransferData(t: Task | undefined): Promise<void> {
    if (!t) return; // a task that never validated never wrote anything
    const assembly = this.ctx.paths.assembly(t.basesubdir, t.name);
    await rm(assembly, { recursive: true, force: true });
    await rm(storingMarker(assembly, t.name), { force: true });
  }

  // ----- API -----

  /**
   * `recv` (seed §4.3.2): validate a task file from any path and move it into `tmp`, then
   * `queues`. Returns the desc. `reactive` true restarts a same-name task that is queued or
   * downloading (its bytes on disk are kept when the new task has the same files).
   */
  async recv(taskfile: string, reactive = false): Promise<string> {
    const task = TaskPipeline.taskOf(taskfile);
    const busy = () => errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    return this.pipeline.takeIn(task, busy, async () => {
      if (!reactive) {
        // Queued or running: refused at once, without reading the file (the seed's texts). A
        // task waiting in downloading (for another task of its DCP) is in downloading.
        const waiting = this.pipeline.admission.isWaiting(task);
        const state = this.running.has(task) || (waiting && (await exists(this.spool.file('downloading', task)))) ? 'downloading' : waiting ? 'queues' : undefined;
        if (state) throw errors.SAME_IN_STATE(state, this.spool.file(state, task));
      }
      // A path named by the caller is used as given (a symlink it names is followed), but
      // only a regular file of sane size is read, without blocking.
      const { raw, text } = await readTaskJson(taskfile, { noFollow: false });
      const checked = await this.check(raw as Record<string, unknown>, taskfile, 'recv');
      let restarted = false;
      const { again, note } = await this.pipeline.receive(
        task,
        { taskfile, text, checked },
        {
          restart: reactive,
          sameName: async (l) => {
            if (!reactive) throw errors.SAME_IN_STATE(l.state, l.file);
            // The old file goes to history; its bytes stay when the new task names the same files.
            const old = await readTaskJson(l.file).then((r) => validateTask(r.raw, l.file)).catch(() => undefined);
            const same = old !== undefined && sameFiles(old, checked.t);
            if (l.state === 'downloading' && !same) await this.removeTransferData(old);
            await this.spool.move(task, l.state, 'history');
            await this.spool.clearErr('history', task);
            restarted = true;
            this.log.info(`${task}: restarted by recv (reactive true); ${same ? 'its bytes on disk are kept' : 'its partial data was removed'}`);
          },
        },
      );
      const allLocal = METHODS.every((m) => checked.plan.lists2[m].length === 0);
      let desc: string;
      if (restarted) desc = 'restarted same name task, succeed!';
      else if (allLocal) {
        // The seed's answer says the copies are finished: it is given once they are (an
        // all-local task needs no download slot), else the answer says what it waits for.
        const waits = await this.copiesFinished(task);
        if (!waits) desc = again ? 'same name task downloaded, all localsamefiles existed copy and finished, succeed!' : 'all localsamefiles existed copy and finished, succeed!';
        else desc = `${again ? 'same name task downloaded, ' : ''}succeed! (all localsamefiles existed; the copies are not finished yet: ${waits})`;
      } else desc = again ? 'same name task downloaded, to download again.' : 'succeed!';
      return desc + note;
    });
  }

  /**
   * Waits (a while: an API answer) until an all-local task is stored; '' when it is, else
   * what it waits for (another task of its DCP, the disk reserve, a copy still running).
   */
  private async copiesFinished(task: string): Promise<string> {
    const until = Date.now() + ALL_LOCAL_WAIT_MS;
    for (;;) {
      if (await exists(this.spool.file('downloaded', task))) return '';
      const err = await this.spool.readErr('downloading', task);
      if (err) return err;
      const why = this.pipeline.admission.whyWaiting(task);
      if (why) return why;
      if (Date.now() >= until) return `copying, ${formatLocalTime()}; progress follows it`;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** `cancel`: stop the task's transfers, drop its partial data, file it in history. */
  async cancel(taskfile: string): Promise<string> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile);
    const answer = await this.pipeline.cancel(task, (s) => s !== 'downloaded' && s !== 'history');
    return answer ?? `no need to cancel, not found task: ${task}.task.json`;
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
      const held = this.pipeline.admission.whyWaiting(task);
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
        // A finished task holds every method's share (what each brought; the local copies are localsamepercent).
        btpercent: finished ? base.bt2downpercent : '0.000%',
        obspercent: finished ? base.obs2downpercent : '0.000%',
        cdnpercent: finished ? base.cdn2downpercent : '0.000%',
        ecompletedtime: finished ? 0 : -1,
        desc: (await this.spool.hasMarker('history', task, '.cancelled')) ? 'cancelled' : '',
        ...taskLedger(raw[LEDGER_KEY], t, () => this.config, this.log, task).progress(),
      };
    }
    // downloading
    const a = this.running.get(task);
    const snapshot = a?.download?.snapshot();
    let bytes: Record<Method, number> = snapshot ? { ...snapshot.bytes } : { bt: 0, obs: 0, cdn: 0 };
    let savedBill: unknown;
    if (!snapshot) {
      // Not running (stopped by an error, or about to start): what the part files hold, and the bill saved with them.
      const store = this.partStore(t, raw);
      savedBill = (await store.savedExtra())?.[LEDGER_KEY];
      const onDisk = await store.onDisk();
      bytes = { bt: 0, obs: 0, cdn: 0 };
      for (const m of METHODS) for (const f of lists2(m)) bytes[m] += onDisk.get(f) ?? 0;
    }
    const assembly = this.ctx.paths.assembly(t.basesubdir, t.name);
    let localBytes = a?.localBytes ?? 0;
    if (!a) for (const f of localsame) if ((await stat(path.join(assembly, f)).catch(() => undefined))?.size === sizeOf.get(f)) localBytes += sizeOf.get(f)!;
    const error = await this.spool.readErr('downloading', task);
    const nextCheck = this.pipeline.autoRetry.nextCheck(task);
    const retrying = a?.tries.status() || (error && nextCheck !== undefined ? `retrying: ${error}, next try ${formatLocalTime(new Date(nextCheck))}` : '');
    return {
      ...base,
      ...(snapshot?.cost ?? taskLedger(savedBill ?? raw[LEDGER_KEY], t, () => this.config, this.log, task).progress()),
      ...downloadingProgress({ t, shares, localBytes, bytes, snapshot, error, retrying, waiting: a ? undefined : this.pipeline.admission.whyWaiting(task), seeding: snapshot?.seeding ?? false }),
      ...(retrying && error ? { desc: retrying } : {}),
    };
  }

  /** The downloading tasks with their windows and how far each share is, for `showschedules`. */
  async schedules(): Promise<ScheduledTask[]> {
    const out: ScheduledTask[] = [];
    const config = this.config;
    for (const [task, a] of this.running) {
      const { t, raw } = a.checked;
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
}

/** Two tasks name the same files with the same sha1 (a restart keeps the bytes on disk). */
function sameFiles(a: Task, b: Task): boolean {
  return a.name === b.name && a.basesubdir === b.basesubdir && JSON.stringify(a.filelist.map((f) => [f.file, f.hash])) === JSON.stringify(b.filelist.map((f) => [f.file, f.hash]));
}

/** A lists2 field of a rewritten task, else the method's list (the task was not started yet). */
function listOr(field: unknown, list: string[]): string[] {
  return Array.isArray(field) ? field.filter((f): f is string => typeof f === 'string' && f !== '') : list;
}
