// The sender (SPEC §5, sender): tmp → queues → uploading → uploaded → history, on the
// shared task pipeline (../shared/task-pipeline.ts: spool, admission, locks, cancel,
// failures, autoretry, quarantine).
// `send` (or autosend) puts a task into `queues`; at most `uploadingnum` tasks are
// published at once, in arrival order: BitTorrent seeds the full torrent (1:0:0) or the
// `-tmp` share, OBS receives the OBS share (machinetype local, datasource local), and the
// CDN origin URL is checked. When every method with a share is ready the task moves to
// `uploaded`, where it stays while BT seeds; after `seedtime` hours since `sendtime` it
// moves to `history`. A restarted daemon resumes seeding and uploads from disk.
// Owns: the sender spool, the seeds and uploads of its tasks. Must not touch: the DCP's
// data (read only), the receiver spool.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { requestFollowing, statusError, fileUrl } from '../../transfer/cdn/http-request.ts';
import { taskNameOf, type SenderState } from '../../config/paths.ts';
import { SpoolWatcher } from '../../spool/spool-watcher.ts';
import { writeFileDurable, writeJsonDurable, exists } from '../../spool/durable-fs.ts';
import { validateTask } from '../../task/validate-task.ts';
import type { Task } from '../../task/schema.ts';
import { errors, isBft2Error, messageOf, Bft2Error } from '../../errors/catalogue.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { seed, type SeedHandle } from '../../transfer/bt/bt-seed.ts';
import { defaultRetryPolicy, nextRetryDelay } from '../../transfer/retry-policy.ts';
import { formatLocalTime, parseLocalTime, sleep } from '../../util/time.ts';
import { torrentPaths } from './gentask.ts';
import type { UrlChange } from '../../task/task-urls.ts';
import { senderUrlChanges, describeUrlChanges } from './task-url-refresh.ts';
import { dcpDirInside, verifyPublishable, type PublishedFile } from './publish-check.ts';
import { readTaskJson } from '../../trust/confined-file.ts';
import type { ObsPublisher } from './obs-publisher.ts';
import { formatObsStatus } from '../../transfer/obs/obs-upload.ts';
import { TaskPipeline, SENDER_SPOOL, type PipelineRun, type RoleHooks } from '../shared/task-pipeline.ts';
import { seedHours, seedEndMs } from '../shared/seed-clock.ts';
import type { SeedingProvider, SeedingTask } from '../../observe/seeding.ts';
import { describeTracker } from '../../observe/tracker-reports.ts';
import { tuning } from '../../config/tuning.ts';
import { readTorrentFiles } from '../../transfer/bt/make-torrent.ts';
import { admitToWhitelist, confirmListed, parseTrackerReload } from '../../transfer/bt/tracker-whitelist.ts';

interface Upload extends PipelineRun<Task> {
  obsBytes: number;
  obsTotal: number;
  /** Methods that failed for good in this run, with why (the others go on). */
  failed: Map<string, string>;
}

/** `uploadprogress` of an unknown task: the seed's answer (§4.3.3), `obsstatus` "completed" included. */
const UNKNOWN_UPLOAD = { ok: false, taskfile: '', status: 'unknown', desc: '', btstatus: 'unknown', obsstatus: 'completed', cdnstatus: 'unknown' } as const;

/** How long a look into a bucket stands for `obsstatus`. */
const OBS_LOOK_MS = 30_000;

type MethodState = { bt?: 'seeding' | 'noseeding'; obs?: string; cdn?: 'available' | 'unavailable' };


export class Sender implements SeedingProvider {
  readonly pipeline: TaskPipeline<SenderState, Task, Upload>;
  private readonly seeds = new Map<string, SeedHandle>();
  /** Bytes the HTTP origin sent per file path since the daemon started (a finished task's are dropped). */
  private readonly originServed = new Map<string, number>();
  /** The full torrents of split tasks, seeded beside their shares for rebalancing. */
  private readonly fullSeeds = new Map<string, SeedHandle>();
  private readonly cdnState = new Map<string, 'available' | 'unavailable'>();
  /** The OBS share's state as last known (an upload's end, a look into the bucket), with when. */
  private readonly obsKnown = new Map<string, { status: string; at: number; fromBucket: boolean }>();
  /** Tasks that autosend took from tmp, so a later `send` of them can say so. */
  private readonly autosent = new Set<string>();
  /** Tasks whose sendtime send or autosend stamped: their publication does not stamp it again. */
  private readonly stamped = new Set<string>();
  private unregisterSeeding?: () => void;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
    private readonly bt: BtClient,
    private readonly obs: ObsPublisher,
  ) {
    const hooks: RoleHooks<SenderState, Task, Upload> = {
      ...SENDER_SPOOL,
      name: 'sender',
      limit: () => this.config.uploadingnum,
      check: async (raw, at) => {
        const t = validateTask(raw, at);
        await this.dcpDir(t);
        return t;
      },
      keyOf: (t) => `${t.basesubdir}/${t.name}`,
      makeRun: (base) => ({ ...base, obsBytes: 0, obsTotal: 0, failed: new Map() }),
      work: (u) => this.publish(u),
      // A method that failed stops nothing else: the seed (and the other methods' work) goes on.
      failure: async (_u, err) => (isBft2Error(err) ? err : errors.UPLOAD_FAILED('upload', messageOf(err))),
      wayOut: (u) => this.wayOut(u.task, u.checked),
      discard: async () => {},
      sourceUrls: async (t) => (t.cdnlist.length ? [fileUrl(t.cdn.url, t.cdnlist[0])] : []),
    };
    this.pipeline = new TaskPipeline(hooks, { paths: ctx.paths, log: ctx.log, guard: ctx.guard, autoretry: () => this.config.autoretry });
  }

  get spool() {
    return this.pipeline.spool;
  }

  private get uploads() {
    return this.pipeline.running;
  }

  private get config() {
    return this.ctx.config();
  }
  private get log() {
    return this.ctx.log;
  }

  async start(): Promise<void> {
    await this.spool.ensureDirs();
    // Seeding that has time left resumes — also of a task stopped on another method's error
    // (its methods are independent); uploads under way resume from their checkpoints.
    for (const task of await this.spool.list('uploaded')) await this.resumeSeeding(task, 'uploaded');
    for (const task of await this.spool.list('uploading')) if (await this.spool.hasMarker('uploading', task, '.err')) await this.resumeSeeding(task, 'uploading');
    const autosend = new SpoolWatcher(
      this.spool.dir('tmp'),
      {
        ready: (t) => this.autosend(t.task, t.file, t.raw),
        unparseable: ({ task, file }) => this.pipeline.refuse('tmp', task, errors.TASK_JSON(file)),
        unsafe: ({ task, error }) => this.pipeline.refuse('tmp', task, error),
        changedAfterErr: ({ task }) => this.spool.withLock(task, () => this.spool.clearErr('tmp', task)),
      },
      this.log,
      { reexamineChanged: true },
    );
    await this.pipeline.start({ extraWatchers: [autosend], resumeLog: 'start uploading taskfiles' });
    this.pipeline.every(tuning().seedcheck, () => void this.expireSeeds());
    this.unregisterSeeding = this.ctx.metrics.registerSeeding(this);
  }

  async stop(): Promise<void> {
    this.unregisterSeeding?.();
    await this.pipeline.stop();
    for (const s of [...this.seeds.values(), ...this.fullSeeds.values()]) await s.stop().catch(() => {});
  }

  // ----- entering the spool -----

  private async autosend(task: string, file: string, raw: unknown): Promise<void> {
    if (!this.config.autosend) return;
    try {
      const t = validateTask(raw, file);
      await this.checkSendable(task, t, false);
      await this.spool.withLock(task, async () => {
        if (!(await exists(file))) return; // sent by the API meanwhile
        for (const l of await this.spool.locate(task)) if (l.state === 'queues' || l.state === 'uploading') throw errors.SAME_IN_STATE(l.state, l.file);
        if (await exists(this.spool.file('uploaded', task))) await this.spool.move(task, 'uploaded', 'history');
        // This send's time: the seed clock (seedtime hours from sendtime) starts now.
        await writeFileDurable(file, withSendtime(raw, undefined));
        this.stamped.add(task);
        await this.spool.move(task, 'tmp', 'queues');
        this.autosent.add(task);
        this.log.info(`autosend: ${task} moved to queues`);
      });
    } catch (err) {
      await this.pipeline.refuse('tmp', task, err);
    }
  }

  private get store(): string {
    return this.ctx.paths.basedata(this.config);
  }

  /** The DCP's directory on this node (senderlocalpath, else its place in the store); never outside the store. */
  private dcpDir(t: Task): Promise<string> {
    return dcpDirInside(this.store, t.senderlocalpath, t.name, this.ctx.paths.storeDir(this.config, t.basesubdir, t.name));
  }

  /** The directory holding the files the task names: the DCP's; a single file's (`type: "file"`) parent. */
  private async contentDir(t: Task): Promise<string> {
    const dir = await this.dcpDir(t);
    return t.type === 'file' ? path.dirname(dir) : dir;
  }

  /**
   * The way out of a failed publication, as the commands to type: retry as it stands once
   * the cause is fixed; retry with the URLs the config builds now when they differ (the
   * config was fixed after gentask wrote them); or publish it afresh.
   */
  private async wayOut(task: string, t: Task): Promise<string[]> {
    const changes = await senderUrlChanges(this.ctx.paths, this.config, t).catch(() => [] as UrlChange[]);
    const dcp = await this.dcpDir(t).catch(() => `<dcp of ${t.name}>`);
    const lines = [`way out: fix the cause, then \`bft2 retry ${task}\` tries the task again as it is written`];
    if (changes.length) {
      lines.push(`way out: the config builds other URLs for this task now (${describeUrlChanges(changes)}): \`bft2 retry --rebuild-urls ${task}\` writes them into the task and tries again`);
    }
    const send = this.config.autosend ? '(autosend sends it)' : `then \`bft2 send ${task}\``;
    lines.push(`way out: or publish it afresh: \`bft2 cancel ${task}\`, then \`bft2 gentask ${dcp} --basesubdir ${t.basesubdir} --btobscdn ${t['bt-obs-cdn'] || '1:1:1'} --policy ${t.policy || this.config.priorpolicy} --deloldtorrent --wait\`, ${send}`);
    return lines;
  }

  /**
   * The torrent a task seeds, the directory that holds its data directory, and where its
   * files are (`dataDir`; `mapped`: the seed reads them there whatever the torrent's name —
   * a single file's torrent names a directory that holds just it).
   */
  private async seedSource(t: Task): Promise<{ torrentFile: string; parentDir: string; dataDir: string; files: string[]; mapped: boolean } | undefined> {
    if (t.btlist.length === 0) return undefined;
    const btOnly = t.obslist.length === 0 && t.cdnlist.length === 0;
    const tp = torrentPaths(this.store, t.basesubdir, t.name);
    if (btOnly) {
      const dataDir = await this.contentDir(t);
      const mapped = t.type === 'file';
      return { torrentFile: tp.full, parentDir: mapped ? dataDir : path.dirname(dataDir), dataDir, files: t.filelist.map((f) => f.file), mapped };
    }
    return { torrentFile: tp.shareTorrent, parentDir: path.dirname(tp.shareDir), dataDir: tp.shareDir, files: t.btlist, mapped: false };
  }

  /** The seed's `send` checks: DCP in the store, torrent present, same-name seeding and `reactive`. */
  private async checkSendable(task: string, t: Task, reactive: boolean, taskfile = ''): Promise<string | undefined> {
    await this.dcpDir(t);
    const src = await this.seedSource(t);
    if (src && !(await exists(src.torrentFile))) throw errors.SEND_NO_TORRENT(src.torrentFile);
    const running = this.seeds.get(task);
    if (!running || running.stopped) return undefined;
    const torrent = src?.torrentFile ?? `${t.name}.torrent`;
    if (!reactive) throw errors.SEND_SEEDING(path.basename(torrent), path.basename(taskfile || task + '.task.json'));
    try {
      await this.stopSeed(task);
    } catch {
      throw errors.SEND_RESTART(path.basename(torrent), path.basename(taskfile || task + '.task.json'));
    }
    return 'restarted same name bt process, succeed!';
  }

  /** `send`: a task file (normally in sender/tmp) into `queues`. */
  async send(taskfile: string, reactive: boolean): Promise<string> {
    const task = TaskPipeline.taskOf(taskfile);
    let read: { raw: unknown; text: string };
    try {
      read = await readTaskJson(taskfile, { noFollow: false });
    } catch (err) {
      if (this.autosent.has(task) && isBft2Error(err) && err.code === 'TASK_OPEN') {
        const where = (await this.spool.locate(task)).find((l) => l.state !== 'tmp');
        if (where) return `already sent by autosend: ${where.file}`;
      }
      throw err;
    }
    const { raw, text } = read;
    const t = validateTask(raw, taskfile);
    await this.dcpDir(t);
    const busy = () => errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    return this.pipeline.takeIn(task, busy, async () => {
      const desc = await this.pipeline.admission.exclusive(task, () =>
        this.spool.withLock(task, async () => {
          for (const l of await this.spool.locate(task)) if (l.state === 'queues' || l.state === 'uploading') throw errors.SAME_IN_STATE(l.state, l.file);
          const answer = (await this.checkSendable(task, t, reactive, taskfile)) ?? 'succeeded!';
          // The same name published before and no longer seeding: it starts over.
          if (await exists(this.spool.file('uploaded', task))) await this.spool.move(task, 'uploaded', 'history');
          const tmpFile = this.spool.file('tmp', task);
          try {
            // This send's time: the seed clock (seedtime hours from sendtime) starts now, also for a task sent again.
            await writeFileDurable(tmpFile, withSendtime(raw, text));
          } catch {
            throw errors.SEND_COPY(taskfile);
          }
          this.stamped.add(task);
          await this.spool.clearErr('tmp', task);
          await this.spool.move(task, 'tmp', 'queues');
          return answer;
        }),
      );
      this.pipeline.admission.enqueue(task, t);
      return desc;
    });
  }

  // ----- publishing -----

  private async publish(u: Upload): Promise<void> {
    const file = this.spool.file('uploading', u.task);
    const t = u.checked;
    // A task dropped into queues by hand is sent now (send and autosend stamped theirs).
    if ((u.fromQueue && !this.stamped.delete(u.task)) || !t.sendtime) {
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      raw.sendtime = formatLocalTime();
      await this.pipeline.finishRun(u, () => writeJsonDurable(file, raw));
      t.sendtime = String(raw.sendtime);
    }
    const signal = u.abort.signal;
    this.obsKnown.delete(u.task);
    const work: Promise<void>[] = [];
    // The methods are independent: one that fails stops neither the seeding nor the upload
    // of another (a bad CDN URL once stopped the BitTorrent seed). Each failure names its
    // method, shows in uploadprogress at once, and goes into the `.err` when the run ends.
    const named = (method: string, p: Promise<void>) =>
      p.catch((err) => {
        if (signal.aborted) throw err;
        const e = errors.UPLOAD_FAILED(method, messageOf(err));
        (e as Error).cause = err;
        u.failed.set(method, e.message);
        this.log.warn(`${u.task}: ${e.message} (the other methods go on)`);
        throw e;
      });
    if (t.btlist.length) work.push(named('bt', this.startSeed(u.task, t)));
    if (t.obslist.length) work.push(named('obs', this.uploadObs(u, t, signal)));
    if (t.cdnlist.length) work.push(named('cdn', this.checkCdn(u, t, signal)));
    const failures = (await Promise.allSettled(work)).flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (signal.aborted) return;
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      const e = new Bft2Error('UPLOAD_FAILED', failures.map((f) => f.message).join('; '), false);
      (e as Error).cause = failures[0];
      throw e;
    }
    await this.pipeline.finishRun(u, () => this.spool.move(u.task, 'uploading', 'uploaded'));
    this.log.info(`uploaded ${u.task}: every method with a share is ready`);
  }

  /** The files a method will read, at the paths it reads them from, with their task entries. */
  private published(t: Task, files: string[], dir: string): PublishedFile[] {
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    return files.map((f) => ({ path: path.join(dir, f), entry: byName.get(f)! }));
  }

  private async startSeed(task: string, t: Task): Promise<void> {
    const src = (await this.seedSource(t))!;
    if (!(await exists(src.torrentFile))) throw errors.SEND_NO_TORRENT(src.torrentFile);
    const existing = this.seeds.get(task);
    if (existing && !existing.stopped) return;
    // Verified here (from the hash table when it vouches, else read once), so webtorrent
    // need not re-read the data before it serves it.
    await verifyPublishable(this.store, this.published(t, src.files, src.dataDir), this.hashes);
    await this.whitelist(task, t);
    const handle = await seed(this.bt, { torrentFile: src.torrentFile, parentDir: src.parentDir, ...(src.mapped ? { dataDir: src.dataDir } : {}), trusted: true, deferToCachers: true });
    this.seeds.set(task, handle);
    await this.seedFullTorrent(task, t);
  }

  /**
   * opentracker, as the seed's fleet runs it, answers only the info-hashes in its whitelist
   * (config `trackerwhitelist`): the task's torrents — the full one, and the `-tmp` share of a
   * split task — go in, and the tracker re-reads the file, before the task seeds.
   */
  private async whitelist(task: string, t: Task): Promise<void> {
    const config = this.config;
    if (!config.trackerwhitelist) return;
    const tp = torrentPaths(this.store, t.basesubdir, t.name);
    const split = t.obslist.length > 0 || t.cdnlist.length > 0;
    const hashes: string[] = [];
    const announce = new Set<string>();
    for (const f of split ? [tp.shareTorrent, tp.full] : [tp.full]) {
      const buf = await readFile(f).catch(() => undefined);
      if (!buf) continue;
      const info = await readTorrentFiles(buf);
      hashes.push(info.infoHash);
      if (info.announce[0]) announce.add(info.announce[0]);
    }
    const file = this.ctx.paths.map(config.trackerwhitelist);
    const reload = parseTrackerReload(config.trackerreload);
    const r = await admitToWhitelist(file, reload?.kind === 'pidfile' ? { ...reload, file: this.ctx.paths.map(reload.file) } : reload, hashes);
    const added = r.added.length ? `added ${r.added.join(', ')} to ${file}` : `${hashes.join(', ')} already in ${file}`;
    if (r.note) return void this.log.warn(`${task}: tracker whitelist: ${added}; ${r.note}`);
    this.log.info(`${task}: tracker whitelist: ${added}${r.reloaded ? '; the tracker re-read it' : ''}`);
    if (!r.reloaded) return;
    // The seed's first announce must not come before the tracker has read the file.
    for (const url of announce) {
      for (const { hash, reason } of await confirmListed(url, hashes, this.config.btport)) this.log.warn(`${task}: the tracker ${url} still refuses ${hash} after re-reading ${file}: ${reason}`);
    }
  }

  /**
   * A split task's full torrent is seeded too: it holds every file, so a receiver whose CDN
   * or OBS fails (or lags) can fetch those files over BitTorrent (SPEC §8, rebalancing).
   * Nobody fetches it otherwise. A failure here only costs the receivers that option.
   */
  private async seedFullTorrent(task: string, t: Task): Promise<void> {
    if (t.obslist.length === 0 && t.cdnlist.length === 0) return;
    const full = torrentPaths(this.store, t.basesubdir, t.name).full;
    const existing = this.fullSeeds.get(task);
    if ((existing && !existing.stopped) || !(await exists(full))) return;
    try {
      const dataDir = await this.dcpDir(t);
      await verifyPublishable(this.store, this.published(t, t.filelist.map((f) => f.file), dataDir), this.hashes);
      this.fullSeeds.set(task, await seed(this.bt, { torrentFile: full, parentDir: path.dirname(dataDir), trusted: true }));
    } catch (err) {
      this.log.warn(`${task}: the full torrent is not seeded (${messageOf(err)}); receivers cannot rebalance onto BitTorrent`);
    }
  }

  private async stopSeed(task: string): Promise<void> {
    for (const map of [this.seeds, this.fullSeeds]) {
      const s = map.get(task);
      map.delete(task);
      await s?.stop().catch(() => {});
    }
  }

  private async uploadObs(u: Upload, t: Task, signal: AbortSignal): Promise<void> {
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    if (this.config.machinetype === 'hwecs') {
      // The store is the bucket (obsfs): nothing to upload, but the bucket must hold the share (seed §4.3.3).
      const held = await this.obs.held({ task: u.task, taskObs: t.obs, files: t.obslist.map((f) => ({ file: f, size: byName.get(f)!.size, hash: byName.get(f)!.hash })) });
      this.obsKnown.set(u.task, { status: formatObsStatus(held), at: Date.now(), fromBucket: true });
      if (!held.complete) throw new Error(`${t.obs.url} holds ${held.bytes} of the OBS share's ${held.total} bytes (machinetype hwecs: the store is the bucket, nothing is uploaded; is the DCP in the bucket?)`);
      return;
    }
    if ((t.datasource || this.config.datasource) === 'obs') throw new Error('datasource obs (data in a bucket, not on this node) is not supported: use datasource local');
    u.obsTotal = t.obslist.reduce((s, f) => s + byName.get(f)!.size, 0);
    const sourceDir = await this.contentDir(t);
    await verifyPublishable(this.store, this.published(t, t.obslist, sourceDir), this.hashes, signal);
    await this.obs.upload({
      task: u.task,
      taskObs: t.obs,
      files: t.obslist.map((f) => ({ file: f, size: byName.get(f)!.size, hash: byName.get(f)!.hash })),
      sourceDir,
      signal,
      onBytes: (n) => {
        u.obsBytes += n;
        this.ctx.metrics.transferred('obs', 'up', n);
      },
      setDone: (n) => (u.obsBytes = n),
      onTryFailed: (file, reason, delay) => u.tries.failed('obs', file, reason, delay),
    });
    this.obsKnown.set(u.task, { status: 'completed', at: Date.now(), fromBucket: false });
  }

  /**
   * `obsstatus` of a task no upload of this process is working on: what its last upload
   * left, else what the bucket holds (asked at most every 30 s: OBS bills each request).
   */
  private async obsStatus(task: string, t: Task): Promise<string> {
    const known = this.obsKnown.get(task);
    if (known && (!known.fromBucket || Date.now() - known.at < OBS_LOOK_MS)) return known.status;
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    const files = t.obslist.map((f) => ({ file: f, size: byName.get(f)!.size, hash: byName.get(f)!.hash }));
    const status = await this.obs.held({ task, taskObs: t.obs, files }).then(formatObsStatus, (err: unknown) => {
      this.log.debug(`${task}: cannot look into ${t.obs.url}: ${messageOf(err)}`);
      return known?.status ?? 'uncompleted 0%';
    });
    this.obsKnown.set(task, { status, at: Date.now(), fromBucket: true });
    return status;
  }

  /** The CDN serves the DCP when its origin URL answers (seed: `curl -L <url>`). */
  private async checkCdn(u: Upload, t: Task, signal: AbortSignal): Promise<void> {
    const policy = defaultRetryPolicy();
    const url = fileUrl(t.cdn.url, t.cdnlist[0]);
    const size = t.filelist.find((f) => f.file === t.cdnlist[0])!.size;
    for (let tries = 1; ; tries++) {
      const problem = await this.cdnProblem(url, size);
      this.cdnState.set(u.task, problem ? 'unavailable' : 'available');
      if (!problem) return;
      const delay = nextRetryDelay(policy, tries, problem);
      u.tries.failed('cdn', url, messageOf(problem), delay);
      if (delay === undefined) throw problem;
      await sleep(delay, signal);
    }
  }

  /** Why the CDN URL does not serve the file (a HEAD, following redirects), or undefined when it does. */
  private async cdnProblem(url: string, size: number): Promise<Error | undefined> {
    try {
      const { res } = await requestFollowing(url, { method: 'HEAD', headersTimeout: 5000, bodyTimeout: 5000 });
      await res.body.dump();
      if (res.statusCode !== 200) return statusError(url, res.statusCode);
      const length = Number(res.headers['content-length'] ?? size);
      return length === size ? undefined : new Error(`${url} has ${length} bytes, the task says ${size}`);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private async resumeSeeding(task: string, state: 'uploaded' | 'uploading'): Promise<void> {
    const file = this.spool.file(state, task);
    try {
      const t = validateTask((await readTaskJson(file)).raw, file);
      if (this.seedExpired(t)) return;
      if (t.btlist.length) await this.startSeed(task, t);
    } catch (err) {
      this.log.error(`cannot resume seeding ${task}: ${messageOf(err)}`);
    }
  }

  private seedExpired(t: Task): boolean {
    const end = this.seedEnd(t);
    return end !== undefined && Date.now() >= end;
  }

  /** When the task's seed time is over (ms), counted from its sendtime; undefined before it was sent. */
  private seedEnd(t: Task): number | undefined {
    return seedEndMs(parseLocalTime(t.sendtime), seedHours(t, this.config));
  }

  /** The seeds for /metrics (SeedingProvider): peers, bytes served, seed time left. */
  async seedingTasks(): Promise<SeedingTask[]> {
    const out: SeedingTask[] = [];
    for (const [task, h] of this.seeds) {
      if (h.stopped) continue;
      const where = (await this.spool.locate(task)).find((l) => l.state === 'uploading' || l.state === 'uploaded');
      const t = where ? await readTaskJson(where.file).then((r) => validateTask(r.raw, where.file)).catch(() => undefined) : undefined;
      const end = t && this.seedEnd(t);
      out.push({ role: 'sender', task, peers: h.numPeers, uploadedBytes: h.uploaded, present: h.progress, ...(end !== undefined ? { seedLeftSeconds: Math.max(0, (end - Date.now()) / 1000) } : {}) });
    }
    return out;
  }

  /** Tasks whose seed time has passed: seeding stops, the task goes to history (finished); one stopped on an error stays where it is. */
  private async expireSeeds(): Promise<void> {
    for (const task of await this.spool.list('uploading')) {
      if (!this.seeds.has(task) || this.uploads.has(task)) continue;
      const file = this.spool.file('uploading', task);
      const t = await readTaskJson(file).then((r) => validateTask(r.raw, file)).catch(() => undefined);
      if (t && this.seedExpired(t)) {
        await this.stopSeed(task);
        this.log.info(`${task}: seed time over; the task stays in uploading with its .err`);
      }
    }
    for (const task of await this.spool.list('uploaded')) {
      const file = this.spool.file('uploaded', task);
      try {
        const t = validateTask((await readTaskJson(file)).raw, file);
        if (!this.seedExpired(t)) continue;
        await this.stopSeed(task);
        await this.spool.withLock(task, () => this.spool.move(task, 'uploaded', 'history'));
        this.servedFor(t, true);
        this.log.info(`${task}: seed time over, moved to history`);
      } catch (err) {
        this.log.warn(`seed expiry of ${task}: ${messageOf(err)}`);
      }
    }
  }

  // ----- queries -----

  /** `uploadprogress` (SPEC §9). */
  async uploadprogress(taskfile: string): Promise<Record<string, unknown> & { ok: boolean }> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile);
    // The task may move between finding and reading it: look again then.
    for (let attempt = 0; ; attempt++) {
      // A name published again has its earlier publication in history: the live one wins.
      const located = (await this.spool.locate(task)).filter((l) => l.state !== 'tmp');
      const where = located.find((l) => l.state !== 'history') ?? located[0];
      // The seed's answer for a task it does not know (§4.3.3), word for word.
      if (!where) return { ...UNKNOWN_UPLOAD };
      // A cancelled task is gone from the seed's spool ("清理队列"): the same answer, with the cancel named.
      if (where.state === 'history' && (await this.spool.hasMarker('history', task, '.cancelled'))) {
        const marker = await readFile(this.spool.marker('history', task, '.cancelled'), 'utf8').catch(() => '');
        return { ...UNKNOWN_UPLOAD, desc: `cancelled: ${marker.split('\n')[0] || 'cancelled'} (task file: ${where.file})` };
      }
      const read = await readTaskJson(where.file).catch(async (err: unknown) => {
        if (attempt < 3 && !(await exists(where.file))) return undefined;
        throw err;
      });
      if (read !== undefined) return this.describeUpload(task, where, validateTask(read.raw, where.file));
    }
  }

  private async describeUpload(task: string, where: { state: SenderState; file: string }, t: Task): Promise<Record<string, unknown> & { ok: boolean }> {
    const m: MethodState = {};
    const seeding = this.seeds.get(task);
    m.bt = seeding && !seeding.stopped ? 'seeding' : 'noseeding';
    const u = this.uploads.get(task);
    const hwecs = this.config.machinetype === 'hwecs';
    if (t.obslist.length === 0 || where.state === 'history' || (where.state === 'uploaded' && !hwecs)) m.obs = 'completed';
    else if (u && u.obsTotal > 0) m.obs = u.obsBytes >= u.obsTotal ? 'completed' : `uncompleted ${Math.floor((u.obsBytes / u.obsTotal) * 100)}%`;
    // hwecs (the store is the bucket), or no upload of this process at work on it: what the bucket holds.
    else if (hwecs || !u) m.obs = await this.obsStatus(task, t);
    else m.obs = 'uncompleted 0%';
    if (t.cdnlist.length === 0) m.cdn = 'available';
    else if (where.state === 'uploaded') m.cdn = (await this.cdnProblem(fileUrl(t.cdn.url, t.cdnlist[0]), t.filelist.find((f) => f.file === t.cdnlist[0])!.size)) ? 'unavailable' : 'available';
    else m.cdn = this.cdnState.get(task) ?? 'unavailable';

    const err = await this.spool.readErr(where.state, task);
    let status: string = where.state;
    if (err) status = 'error';
    else if (where.state === 'history') status = 'finished';
    else if (where.state === 'uploaded') {
      const ready = (t.btlist.length === 0 || m.bt === 'seeding') && m.obs === 'completed' && m.cdn === 'available';
      status = ready ? 'ready' : 'uploaded';
    }
    // While a method waits to try again, the reason shows at once (not when the tries run out);
    // so does a method that failed for good while the others go on.
    const retrying = [u?.tries.status() ?? '', ...(u ? [...u.failed.values()] : [])].filter(Boolean).join('; ');
    // What the tracker last answered for the seed: a refusal means no receiver will find it.
    const tracker = m.bt === 'seeding' ? describeTracker(this.ctx.trackers.forInfoHash(seeding!.infoHash)) : '';
    const trackerError = tracker.startsWith('tracker error') ? `bt: ${tracker}` : '';
    return {
      ok: true,
      taskfile: where.file,
      status,
      desc: err ?? [retrying, trackerError].filter(Boolean).join('; '),
      btstatus: m.bt,
      obsstatus: m.obs,
      cdnstatus: m.cdn,
      peers: m.bt === 'seeding' ? seeding!.numPeers : 0,
      bttracker: tracker,
      // What left this node per method since the daemon started: served by the seed, put into the bucket, sent by the origin.
      btuploaded: seeding?.uploaded ?? 0,
      obsuploaded: u ? u.obsBytes : m.obs === 'completed' && !hwecs && where.state !== 'history' ? t.filelist.filter((f) => t.obslist.includes(f.file)).reduce((n, f) => n + f.size, 0) : 0,
      cdnuploaded: this.servedFor(t),
    };
  }

  /** The origin sent `bytes` of the file at `urlPath` (a CDN fill or a receiver's range): counted for `cdnuploaded`. */
  servedByOrigin(urlPath: string, bytes: number): void {
    this.originServed.set(urlPath, (this.originServed.get(urlPath) ?? 0) + bytes);
  }

  /** Bytes the origin served under the task's CDN URL since the daemon started; `forget` drops them (the task is over). */
  private servedFor(t: Task, forget = false): number {
    if (t.cdnlist.length === 0) return 0;
    let prefix: string;
    try {
      prefix = decodeURIComponent(new URL(t.cdn.url).pathname).replace(/\/+$/, '');
    } catch {
      return 0;
    }
    let n = 0;
    for (const [p, bytes] of this.originServed) {
      if (p !== prefix && !p.startsWith(`${prefix}/`)) continue;
      n += bytes;
      if (forget) this.originServed.delete(p);
    }
    return n;
  }

  /** `cancel` of a sender task; undefined when the sender has no task of that name. */
  async cancel(task: string): Promise<string | undefined> {
    return this.pipeline.cancel(task, (state) => state !== 'history', () => this.stopSeed(task));
  }
}

/** The task's text with `sendtime` set to now (the text as given when it is not an object). */
function withSendtime(raw: unknown, text: string | undefined): string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return text ?? JSON.stringify(raw);
  return JSON.stringify({ ...(raw as Record<string, unknown>), sendtime: formatLocalTime() }, null, 2) + '\n';
}
