// The cacher (SPEC §5 cacher, §8): an edge node that downloads a task's BitTorrent share
// and seeds it for the task's seed time, then deletes it. No store, no dedup. It uses the
// receiver spool (tmp → queues → downloading → downloaded → history) on the shared task
// pipeline (../shared/task-pipeline.ts: admission, locks, cancel, failures, autoretry,
// quarantine) and the shared download engine with the BitTorrent source alone
// (src/download/task-download.ts: windows, the disk reserve, stalls and retries), feeding
// the swarm: its whole share is selected at once, rarest pieces first, and every verified
// piece is served from the start. The share lands in `data/transfer/bt/<basesubdir>/<name>`
// (`<name>-tmp` for a split task's share). When it is complete the seed clock starts; the
// task file stays in `downloading` while the share is seeded; when the time is over the
// seed stops, the directory is deleted and the task moves to `downloaded` with
// `finishedtime`. A restart seeds a complete share again without re-reading it.
// Owns: the receiver spool (on a cacher node), its shares' directories and their saved
// torrents, their seeds in the client. Must not touch: the store, the hash table, the
// sender spool, other torrents of the client.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PATH_MAX, taskNameOf, type ReceiverState } from '../../config/paths.ts';
import { writeJsonDurable, exists } from '../../spool/durable-fs.ts';
import { readTaskJson } from '../../trust/confined-file.ts';
import { validateTask, planDownload } from '../../task/validate-task.ts';
import type { FileEntry, Task } from '../../task/schema.ts';
import { errors, messageOf } from '../../errors/catalogue.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { seed, type SeedHandle } from '../../transfer/bt/bt-seed.ts';
import { isDiskFull, diskFullError } from '../../transfer/disk-full.ts';
import { TaskDownload } from '../../download/task-download.ts';
import { PartStore, removeTempEntries } from '../../transfer/segments/part-store.ts';
import { formatLocalTime } from '../../util/time.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import { btShareFiles, btShareUrl, checkBtShare, isSplitTask } from '../shared/bt-share-check.ts';
import { readRecord, writeRecord, fingerprint, unchangedOnDisk, seedStartMs, RECORD_KEY, type CacherRecord } from './seed-record.ts';
import { seedHours, seedEndMs, seedLeftMs, seedLeftMinutes } from '../shared/seed-clock.ts';
import { SeedTimers } from '../shared/seed-timers.ts';
import { spaceToStart } from '../shared/disk-space.ts';
import { TaskPipeline, receiverSpoolHooks, Cancelled, type PipelineRun, type CheckPurpose, type RoleHooks } from '../shared/task-pipeline.ts';
import { cprogressAnswer } from './cprogress.ts';
import { taskLedger, LEDGER_KEY } from '../shared/task-ledger.ts';
import { readTorrentFiles } from '../../transfer/bt/make-torrent.ts';
import { describePeers } from '../../observe/tracker-reports.ts';
import type { DownloadFigures, DownloadProvider } from '../../observe/downloads.ts';

/** What a pickup checked: the task, its share's files, where they go. */
interface Checked {
  raw: Record<string, unknown>;
  t: Task;
  share: FileEntry[];
  dataDir: string;
}

interface Fetch extends PipelineRun<Checked> {
  download?: TaskDownload;
}


export class Cacher implements DownloadProvider {
  readonly pipeline: TaskPipeline<ReceiverState, Checked, Fetch>;
  /** Complete shares being seeded, by task (their task files stay in `downloading`). */
  private readonly seeds = new Map<string, SeedHandle>();
  private readonly seedTimers: SeedTimers;
  private stopping = false;
  private unregisterDownloads?: () => void;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly btClient: () => Promise<BtClient>,
  ) {
    this.seedTimers = new SeedTimers(ctx.log);
    const hooks: RoleHooks<ReceiverState, Checked, Fetch> = {
      ...receiverSpoolHooks(() => this.config),
      name: 'cacher',
      check: (raw, at, purpose) => this.check(raw, at, purpose),
      keyOf: (c) => c.dataDir,
      canStart: (c) => spaceToStart(this.config, [this.btParent(c.t)], c.share.reduce((n, f) => n + f.size, 0)),
      makeRun: (base) => base,
      work: (f) => this.fetchShare(f),
      failure: (f, err) => this.failure(f, err),
      discard: (task, c) => this.removeShare(task, c),
      sourceUrls: async (c) => [btShareUrl(c.t)].filter((u) => /^https?:\/\//.test(u)),
      busyInActive: (task) => this.seeds.has(task),
      resume: (task) => this.resumeSeed(task),
    };
    this.pipeline = new TaskPipeline(hooks, { paths: ctx.paths, log: ctx.log, guard: ctx.guard, autoretry: () => this.config.autoretry });
  }

  get spool() {
    return this.pipeline.spool;
  }
  private get config() {
    return this.ctx.config();
  }
  private get log() {
    return this.ctx.log;
  }

  // ----- paths -----

  /** `data/transfer/bt/<basesubdir>`. */
  private btParent(t: Task): string {
    return path.join(this.ctx.paths.transferDir, 'bt', t.basesubdir);
  }
  /** The share's directory: the sender's torrent name, `<name>-tmp` for a split task's share. */
  private dataDir(t: Task): string {
    return path.join(this.btParent(t), isSplitTask(t) ? `${t.name}-tmp` : t.name);
  }
  /** The saved copy of the share's torrent, so a restart needs no origin. */
  private torrentCopy(dataDir: string): string {
    return `${dataDir}.torrent`;
  }

  // ----- life cycle -----

  async start(): Promise<void> {
    // Complete shares whose seed time is not over are seeded again (resumeSeed); the rest run.
    await this.pipeline.start({ resumeLog: 'start downloading taskfiles' });
    this.unregisterDownloads = this.ctx.metrics.registerDownloads(this);
  }

  /** The shares downloading now, for /metrics (DownloadProvider): the snapshot `cprogress` answers with. */
  downloads(): DownloadFigures[] {
    const out: DownloadFigures[] = [];
    for (const [task, f] of this.pipeline.running) {
      const s = f.download?.snapshot();
      if (s) out.push({ role: 'cacher', task, bytes: s.bytes, rates: s.rates, quietSeconds: s.quietSeconds });
    }
    return out;
  }

  async stop(): Promise<void> {
    this.unregisterDownloads?.();
    this.stopping = true;
    this.seedTimers.close();
    await this.pipeline.stop();
    await Promise.allSettled([...this.seeds.values()].map((s) => s.stop()));
  }

  // ----- checks -----

  /** The receiver's checks without dedup (SPEC §5): schema, names, sizes, URLs; a BT share to seed; its torrent on arrival. */
  private async check(raw: Record<string, unknown>, where: string, purpose: CheckPurpose): Promise<Checked> {
    const t = validateTask(raw, where);
    if (t.btlist.length === 0) throw errors.CACHER_NO_BT_SHARE();
    planDownload(t, new Set(), where);
    btShareUrl(t);
    const dataDir = this.dataDir(t);
    const share = btShareFiles(t);
    const long = this.ctx.paths.pathTooLong(this.config, t.basesubdir, t.name, share);
    if (long) throw errors.TASK_PATH_TOO_LONG(long.file, long.bytes, PATH_MAX - 1);
    if (purpose !== 'resume') await checkBtShare(t);
    return { raw, t, share, dataDir };
  }

  // ----- downloading -----

  private async failure(f: Fetch, err: unknown) {
    if (!isDiskFull(err)) return errors.DOWNLOAD_FAILED('bt', path.basename(f.checked.dataDir), messageOf(err));
    const have = f.download?.snapshot()?.bytes.bt ?? 0;
    return diskFullError(path.dirname(f.checked.dataDir), f.checked.share.reduce((n, x) => n + x.size, 0) - have);
  }

  private async fetchShare(f: Fetch): Promise<void> {
    const { task } = f;
    const { raw, t, share, dataDir } = f.checked;
    const file = this.spool.file('downloading', task);
    // A task file is data from outside: a `cacher` record it came with is not this node's.
    if (f.fromQueue && raw[RECORD_KEY] !== undefined) delete raw[RECORD_KEY];
    const rec = readRecord(raw);
    const hours = seedHours(t, this.config);
    if (seedLeftMs(seedStartMs(rec), hours) === 0) return this.finish(task, f);
    if (rec?.seedstart && (await this.seedRecorded(task, f.checked, rec))) return;

    this.log.info(`downloading ${task}: bt share ${share.reduce((n, x) => n + x.size, 0)} bytes into ${dataDir}`);
    let torrent: Buffer | undefined;
    f.download = new TaskDownload({
      task,
      t,
      lists2: { bt: share.map((x) => x.file), obs: [], cdn: [] },
      assembly: dataDir,
      storeDir: dataDir,
      available: new Set(['bt']),
      config: () => this.config,
      log: this.log,
      scheduler: this.ctx.scheduler,
      caps: this.ctx.caps,
      btClient: this.btClient,
      obsClient: () => Promise.reject(new Error('a cacher fetches no OBS share')),
      tries: f.tries,
      onBytes: (m, n) => this.ctx.metrics.transferred(m, 'down', n),
      onTorrent: (buf) => {
        torrent = buf;
      },
      signal: f.abort.signal,
      rebalance: 'off',
      swarmFeeder: true,
      ledgerFrom: (saved) => taskLedger(saved ?? raw[LEDGER_KEY], t, () => this.config, this.log, task),
      onBilled: (p) => this.ctx.metrics.billed(p),
      why: (_m, stats) => describePeers(stats.peers, this.ctx.trackers.forDir(dataDir)),
    });
    await f.download.run();
    if (f.abort.signal.aborted) throw new Cancelled();
    await removeTempEntries(dataDir);
    // Complete: the torrent is kept beside the data and the data recorded as verified, so
    // a restart seeds it without the origin and without reading it; the seed clock starts.
    // (Every piece was on disk already: the lane never fetched the torrent.)
    torrent ??= (await checkBtShare(t, f.abort.signal)).torrent;
    await writeFile(this.torrentCopy(dataDir), torrent);
    const files = await fingerprint(dataDir, share);
    const info = await readTorrentFiles(torrent);
    await this.pipeline.finishRun(f, async () => {
      const now = (await readTaskJson(file)).raw as Record<string, unknown>;
      const r: CacherRecord = { torrent: path.basename(dataDir), infohash: info.infoHash, files, seedstart: readRecord(now)?.seedstart ?? new Date().toISOString() };
      writeRecord(now, r);
      if (f.download?.ledger) now[LEDGER_KEY] = f.download.ledger.toJSON();
      await writeJsonDurable(file, now);
      f.checked.raw[RECORD_KEY] = r;
    });
    if (!(await this.startSeed(task, f.checked, true))) throw errors.DOWNLOAD_FAILED('bt', path.basename(dataDir), 'the complete share could not be seeded');
  }

  /** Seeds a complete share from its directory and arms the end of its seed time; false when its torrent is gone. */
  private async startSeed(task: string, c: Checked, trusted: boolean): Promise<boolean> {
    const torrentFile = this.torrentCopy(c.dataDir);
    if (!(await exists(torrentFile)) || this.seeds.has(task)) return this.seeds.has(task);
    const handle = await seed(await this.btClient(), { torrentFile, parentDir: path.dirname(c.dataDir), dataDir: c.dataDir, trusted });
    this.seeds.set(task, handle);
    this.log.info(`seeding ${task}: ${c.dataDir}, ${Number(seedHours(c.t, this.config).toFixed(4))} h seed time`);
    this.armExpiry(task);
    return true;
  }

  /**
   * A share recorded as complete: seeded again without reading it while its files are as
   * recorded; else every piece is read and checked first (webtorrent's verification), and
   * a share that no longer verifies whole is deleted, to be fetched again. False when it is
   * not seeded.
   */
  private async seedRecorded(task: string, c: Checked, rec: CacherRecord): Promise<boolean> {
    if (await unchangedOnDisk(c.dataDir, c.share, rec.files)) {
      this.log.info(`${task}: ${c.dataDir} is as it was when verified: seeding it again without reading it`);
      return this.startSeed(task, c, true);
    }
    this.log.info(`${task}: ${c.dataDir} changed since it was verified: reading every piece before seeding it`);
    if (!(await this.startSeed(task, c, false))) return false;
    const handle = this.seeds.get(task)!;
    if (handle.progress >= 1) {
      const files = await fingerprint(c.dataDir, c.share);
      await this.spool.withLock(task, async () => {
        const file = this.spool.file('downloading', task);
        const now = (await readTaskJson(file)).raw as Record<string, unknown>;
        writeRecord(now, { ...rec, files });
        await writeJsonDurable(file, now);
      });
      return true;
    }
    this.log.warn(`${task}: only ${(handle.progress * 100).toFixed(1)}% of ${c.dataDir} verifies: fetching the share again`);
    await this.removeShare(task, c);
    return false;
  }

  /**
   * A complete share at start-up, unchanged since it was recorded: seeded again without
   * reading it (true). A changed one is re-read by its run, not here: start-up must not wait.
   */
  private async resumeSeed(task: string): Promise<boolean> {
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    const c = await this.check(raw, file, 'resume');
    const rec = readRecord(raw);
    if (!rec?.seedstart) return false;
    if (seedLeftMs(seedStartMs(rec), seedHours(c.t, this.config)) === 0) {
      await this.finish(task);
      return true;
    }
    return (await unchangedOnDisk(c.dataDir, c.share, rec.files)) && (await this.seedRecorded(task, c, rec));
  }

  // ----- the seed clock -----

  /** Arms (or re-arms) the timer that ends the task's seeding when its seed time is over. */
  private armExpiry(task: string): void {
    this.seedTimers.arm(task, {
      end: async () => {
        const file = this.spool.file('downloading', task);
        if (!(await exists(file))) return undefined;
        const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
        return seedEndMs(seedStartMs(readRecord(raw)), seedHours(validateTask(raw, file), this.config));
      },
      over: () => this.finish(task),
    });
  }

  /**
   * The seed time is over: the seed stops, the data directory (and the saved torrent) is
   * deleted, `finishedtime` is written and the task moves to `downloaded`. A crash anywhere
   * in here is finished by the next start (the time is still over).
   */
  private async finish(task: string, self?: Fetch): Promise<void> {
    const running = this.pipeline.running.get(task);
    if (running && running !== self) await this.pipeline.stopRun(task, 'seed time over');
    await this.spool.withLock(task, async () => {
      const file = this.spool.file('downloading', task);
      if (!(await exists(file))) return;
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      const t = validateTask(raw, file);
      // A reactive recv may have restarted the clock a moment ago.
      const left = seedLeftMs(seedStartMs(readRecord(raw)), seedHours(t, this.config));
      if (left !== undefined && left > 0) return void this.armExpiry(task);
      await this.removeShare(task, { raw, t, share: btShareFiles(t), dataDir: this.dataDir(t) });
      raw.finishedtime = formatLocalTime();
      await writeJsonDurable(file, raw);
      await this.spool.move(task, 'downloading', 'downloaded');
      this.log.info(`${task}: seed time over; seeding stopped, ${this.dataDir(t)} deleted, task downloaded`);
    });
  }

  /** Stops the share's seed and deletes its data directory and saved torrent. */
  private async removeShare(task: string, c: Checked | undefined): Promise<void> {
    this.seedTimers.clear(task);
    const s = this.seeds.get(task);
    this.seeds.delete(task);
    await s?.stop();
    if (!c) return; // a task that never validated never wrote anything
    await rm(c.dataDir, { recursive: true, force: true });
    await rm(this.torrentCopy(c.dataDir), { force: true });
  }

  // ----- API -----

  /** `recv`: check a task file (any path) and queue it; `reactive` restarts the seed clock of a same-name task. */
  async recv(taskfile: string, reactive: boolean): Promise<string> {
    const task = TaskPipeline.taskOf(taskfile);
    const busy = () => errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    return this.pipeline.takeIn(task, busy, async () => {
      const { raw, text } = await readTaskJson(taskfile, { noFollow: false });
      const running = (await this.spool.locate(task)).find((l) => l.state === 'downloading');
      if (running) {
        validateTask(raw, taskfile);
        if (!reactive) throw errors.SAME_IN_STATE('downloading', running.file);
        return this.reactivate(task, raw as Record<string, unknown>);
      }
      const checked = await this.check(raw as Record<string, unknown>, taskfile, 'recv');
      const { again, note } = await this.pipeline.receive(
        task,
        { taskfile, text, checked },
        {
          restart: false,
          sameName: async (l) => {
            throw errors.SAME_IN_STATE(l.state, l.file);
          },
        },
      );
      return (again ? 'same name task downloaded, to download again.' : 'succeed!') + note;
    });
  }

  /**
   * `recv` with reactive true of a task in `downloading`: the seed clock starts again now
   * (the seed: a cacher's service time is extended this way), with the `bt.seedtime` of the
   * new task file when it gives one. A task stopped on an error is re-armed.
   */
  private async reactivate(task: string, incoming: Record<string, unknown>): Promise<string> {
    const file = this.spool.file('downloading', task);
    const rearm = await this.spool.withLock(task, async () => {
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      const seedtime = (incoming.bt as Record<string, unknown> | undefined)?.seedtime;
      if (seedtime !== undefined && seedtime !== '') raw.bt = { ...((raw.bt as object | undefined) ?? {}), seedtime };
      validateTask(raw, file);
      const rec = readRecord(raw);
      if (rec?.seedstart) {
        rec.seedstart = new Date().toISOString();
        writeRecord(raw, rec);
      }
      await writeJsonDurable(file, raw);
      const running = this.pipeline.running.get(task);
      if (running) running.checked.raw = raw;
      const failed = await this.spool.hasMarker('downloading', task, '.err');
      if (failed) await this.spool.clearErr('downloading', task);
      return failed;
    });
    this.log.info(`${task}: reactive recv, seed clock restarted`);
    if (rearm) await this.pipeline.admission.rearm(task);
    else if (this.seeds.has(task)) this.armExpiry(task);
    return `reactive cacher bt seeding with taskfile:${task}.task.json`;
  }

  /** `cancel`: stops the seeding (and the download), deletes the data, files the task in history with `.cancelled`. */
  async cancel(taskfile: string): Promise<string> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile);
    this.seedTimers.clear(task);
    // A download is stopped by the pipeline; a seeding share goes with its data (discard).
    const answer = await this.pipeline.cancel(task, (s) => s !== 'downloaded' && s !== 'history');
    return answer ?? `no need to cancel, not found task: ${task}.task.json`;
  }

  /** `progress` is not a cacher's (the seed's answer points to cprogress). */
  async progress(_taskfile: string): Promise<Record<string, unknown>> {
    throw errors.CACHER_PROGRESS();
  }

  /** `cprogress` (SPEC §5): seeding state, seed time left, bytes served, peers, share present. */
  async cprogress(taskfile: string): Promise<Record<string, unknown>> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile).replace(/\.task\.json$/, '');
    // A name received again has its earlier task in history: the live one wins.
    const located = (await this.spool.locate(task)).filter((l) => l.state !== 'tmp');
    const where = located.find((l) => l.state !== 'history') ?? located[0];
    if (!where) throw errors.UNKNOWN_TASK();
    const state = where.state as 'queues' | 'downloading' | 'downloaded' | 'history';
    const err = await this.spool.readErr(where.state, task);
    const cancelled = state === 'history' && (await this.spool.hasMarker('history', task, '.cancelled'));
    let t: Task;
    let rec: CacherRecord | undefined;
    let raw: Record<string, unknown>;
    try {
      raw = (await readTaskJson(where.file)).raw as Record<string, unknown>;
      t = validateTask(raw, where.file);
      rec = readRecord(raw);
    } catch (e) {
      return cprogressAnswer({ state, taskfile: where.file, dataDir: '', err: err ?? messageOf(e), seedleftMinutes: 0 });
    }
    const total = btShareFiles(t).reduce((n, f) => n + f.size, 0);
    const seeding = this.seeds.get(task);
    const run = this.pipeline.running.get(task);
    const snap = run?.download?.snapshot();
    let share;
    if (seeding && !seeding.stopped) share = { servable: true, verifiedBytes: Math.round(total * seeding.progress), totalBytes: total, uploaded: seeding.uploaded, peers: seeding.numPeers };
    // While the download runs its last bytes are still being checked: 100% is the complete share, seeded.
    else if (snap) share = { servable: snap.seeding && snap.bytes.bt > 0, verifiedBytes: Math.min(snap.bytes.bt, total - 1), totalBytes: total, uploaded: snap.uploaded, peers: snap.peers };
    // Not running (stopped by an error, or about to start): the bill saved with the share's ranges.
    const savedBill = !snap && state === 'downloading' ? (await new PartStore(this.dataDir(t), btShareFiles(t)).savedExtra())?.[LEDGER_KEY] : undefined;
    const cost = snap?.cost ?? taskLedger(savedBill ?? raw[LEDGER_KEY], t, () => this.config, this.log, task).progress();
    // Running but not yet fetching (checking the share, reading its record): nothing comes in yet.
    const download = run ? { rate: snap?.rates.bt ?? 0, notes: snap?.notes.bt ?? '', stalled: snap?.stalled ?? '' } : undefined;
    return { ...cprogressAnswer({ state, taskfile: where.file, dataDir: this.dataDir(t), err, cancelled, share, download, seedleftMinutes: seedLeftMinutes(seedStartMs(rec), seedHours(t, this.config)) }), ...cost };
  }
}
