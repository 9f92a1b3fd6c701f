// The cacher pipeline (SPEC §5 cacher, §8): an edge node that downloads a task's BitTorrent
// share and seeds it for the task's seed time, then deletes it. No store, no dedup.
// It uses the receiver spool: tmp → queues → downloading → downloaded (→ history).
// `recv` checks a task as a receiver would and queues it; at most `downloadingnum` shares
// download at once (a slot is held until the share is complete, not while it seeds); the
// share's torrent goes into the daemon's BitTorrent client with its files in
// `data/transfer/bt/<basesubdir>/<torrent name>/` and is served from its first piece on.
// Under `priortime` pieces are fetched only inside the BT window; seeding never stops. The
// seed clock starts when the share is complete; while it runs the task file stays in
// `downloading`; when it is over the torrent leaves the client, the data directory is
// deleted and the task moves to `downloaded` with `finishedtime`.
// Owns: the receiver spool (on a cacher node), its shares' torrents in the client,
// `data/transfer/bt/<basesubdir>/<torrent name>/` and `<torrent name>.torrent` beside it.
// Must not touch: the store, the hash table, the sender spool, other torrents of the client.
import { rm, open } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { RECEIVER_STATES, taskNameOf, type ReceiverState } from '../../config/paths.ts';
import { TaskSpool } from '../../spool/task-spool.ts';
import { Admission, type Running } from '../../spool/admission.ts';
import { SpoolWatcher } from '../../spool/spool-watcher.ts';
import { writeFileDurable, writeJsonDurable, exists } from '../../spool/durable-fs.ts';
import { readTaskJson } from '../../trust/confined-file.ts';
import { validateTask, planDownload } from '../../task/validate-task.ts';
import type { Task } from '../../task/schema.ts';
import { errors, isBft2Error, messageOf, Bft2Error } from '../../errors/catalogue.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { fetchTorrent } from '../../transfer/bt/torrent-fetch.ts';
import { describe } from '../../transfer/bt/bt-errors.ts';
import { defaultRetryPolicy, nextRetryDelay } from '../../transfer/retry-policy.ts';
import { TryLog } from '../../transfer/try-log.ts';
import { isDiskFull, diskFullError } from '../../transfer/disk-full.ts';
import { parseWindows } from '../../schedule/windows.ts';
import { formatLocalTime, envNumber, sleep } from '../../util/time.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import { btShareUrl, checkBtShare, checkBtShareTorrent, isSplitTask, parseShareTorrent } from '../shared/bt-share-check.ts';
import { ShareTorrent } from './share-torrent.ts';
import { readRecord, writeRecord, seedHours, seedLeftMs, seedLeftMinutes, fingerprint, unchangedOnDisk, RECORD_KEY, type CacherRecord } from './seed-record.ts';
import { cprogressAnswer } from './cprogress.ts';
import type { TorrentInfo } from '../../transfer/bt/make-torrent.ts';

/** One task's download of its share (an Admission slot). */
interface Fetch extends Running {
  abort: AbortController;
  tries: TryLog;
}

class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** The longest sleep of a seed-expiry timer: timers measure elapsed time, the clock may jump. */
const EXPIRY_RECHECK_MS = 60 * 60_000;

export class Cacher {
  readonly spool: TaskSpool<ReceiverState>;
  private readonly admission: Admission<ReceiverState, Fetch>;
  /** Shares in the BitTorrent client, by task: downloading, seeding, or both. */
  private readonly shares = new Map<string, ShareTorrent>();
  private readonly expiry = new Map<string, NodeJS.Timeout>();
  /** Tasks `recv` is handling now: a second call for one of them is refused at once. */
  private readonly receiving = new Set<string>();
  /** Tasks queued by this process: their first start drops any `cacher` record they came with (a task file is data from outside). */
  private readonly fresh = new Set<string>();
  private watchers: SpoolWatcher[] = [];
  private stopping = false;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly btClient: () => Promise<BtClient>,
  ) {
    this.spool = new TaskSpool(ctx.paths, 'receiver', RECEIVER_STATES, ctx.log);
    this.admission = new Admission<ReceiverState, Fetch>({
      spool: this.spool,
      queue: 'queues',
      active: 'downloading',
      limit: () => this.config.downloadingnum,
      log: ctx.log,
      keyOf: (task) => this.dataDirKey(task),
      create: (task) => ({ task, abort: new AbortController(), tries: new TryLog(), done: Promise.resolve() }),
      work: (f) => this.fetchAndReport(f),
    });
  }

  private get config() {
    return this.ctx.config();
  }
  private get log() {
    return this.ctx.log;
  }

  // ----- paths -----

  /** `data/transfer/bt/<basesubdir>`: webtorrent's `path` for the task's torrent. */
  private btParent(t: Task): string {
    return path.join(this.ctx.paths.transferDir, 'bt', t.basesubdir);
  }
  /** The torrent's name: recorded once known, else the sender's convention (`<name>-tmp` for a split task). */
  private torrentName(t: Task, rec: CacherRecord | undefined): string {
    return rec?.torrent ?? (isSplitTask(t) ? `${t.name}-tmp` : t.name);
  }
  private dataDir(t: Task, rec: CacherRecord | undefined): string {
    return path.join(this.btParent(t), this.torrentName(t, rec));
  }
  /** The saved copy of the share's torrent, so a restart does not need the origin. */
  private torrentCopy(t: Task, name: string): string {
    return path.join(this.btParent(t), `${name}.torrent`);
  }

  // ----- life cycle -----

  async start(): Promise<void> {
    await this.spool.ensureDirs();
    await this.spool.reconcileMarkers();
    const resuming: string[] = [];
    for (const task of await this.spool.list('downloading')) {
      if (!(await this.spool.hasMarker('downloading', task, '.err'))) resuming.push(task);
    }
    if (resuming.length) this.log.info(`start downloading taskfiles: ${resuming.join(',')}`);
    for (const task of resuming) await this.admission.launch(task);

    this.watchers = [
      new SpoolWatcher(
        this.spool.dir('queues'),
        {
          ready: ({ task, file, raw }) => this.admitToQueue(task, file, raw),
          unparseable: ({ task, file }) => this.spool.refuse('queues', task, errors.TASK_JSON(file)),
          unsafe: ({ task, error }) => this.spool.refuse('queues', task, error),
        },
        this.log,
      ),
      // A downloading task whose .err is deleted is re-armed. The cacher rewrites the task
      // files of seeding tasks (seed clock, finishedtime): those changes re-arm nothing.
      new SpoolWatcher(this.spool.dir('downloading'), { ready: ({ task }) => this.onDownloadingFile(task), unparseable: () => {} }, this.log),
    ];
    for (const w of this.watchers) await w.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.admission.stop();
    for (const w of this.watchers) await w.close();
    for (const t of this.expiry.values()) clearTimeout(t);
    this.expiry.clear();
    const running = [...this.admission.running.values()];
    for (const f of running) f.abort.abort(new Error('daemon stopping'));
    await Promise.allSettled(running.map((f) => f.done));
    await Promise.allSettled([...this.shares.values()].map((s) => s.stop()));
  }

  private async onDownloadingFile(task: string): Promise<void> {
    const share = this.shares.get(task);
    if (share && !share.stopped && share.complete) return; // seeding: nothing to re-arm
    await this.admission.rearm(task);
  }

  // ----- checks -----

  /** The receiver's checks without dedup (SPEC §5): schema, sizes, paths, URLs; and a BT share to seed. */
  private check(raw: unknown, where: string): Task {
    const t = validateTask(raw, where);
    if (t.btlist.length === 0) throw errors.CACHER_NO_BT_SHARE();
    planDownload(t, new Set(), where);
    btShareUrl(t);
    return t;
  }

  /** Two tasks that would use one data directory never run at once (Admission's key). */
  private async dataDirKey(task: string): Promise<string | undefined> {
    const where = (await this.spool.locate(task)).find((l) => l.state === 'queues' || l.state === 'downloading');
    if (!where) return undefined;
    const raw = (await readTaskJson(where.file)).raw as Record<string, unknown>;
    return this.dataDir(validateTask(raw, where.file), where.state === 'downloading' ? readRecord(raw) : undefined);
  }

  // ----- API: recv -----

  /** `recv`: check a task file (any path) and queue it; `reactive` restarts the seed clock of a same-name task. */
  async recv(taskfile: string, reactive: boolean): Promise<string> {
    const task = taskNameOf(path.basename(taskfile));
    if (!task) throw errors.TASK_FILENAME(taskfile);
    if (this.receiving.has(task)) throw errors.SAME_IN_STATE('queues', this.spool.file('queues', task));
    this.receiving.add(task);
    try {
      return await this.receive(task, taskfile, reactive);
    } finally {
      this.receiving.delete(task);
    }
  }

  private async receive(task: string, taskfile: string, reactive: boolean): Promise<string> {
    const { raw, text } = await readTaskJson(taskfile, { noFollow: false });
    const t = this.check(raw, taskfile);
    const sameName = async () => {
      for (const l of await this.spool.locate(task)) {
        if (l.state === 'queues') throw errors.SAME_IN_STATE('queues', l.file);
        if (l.state === 'downloading') return l.file;
      }
      return undefined;
    };
    const running = await sameName();
    if (running) {
      if (!reactive) throw errors.SAME_IN_STATE('downloading', running);
      return this.reactivate(task, raw as Record<string, unknown>);
    }
    await checkBtShare(t);

    let again = false;
    let copied = '';
    const queued = await this.spool.withLock(task, async () => {
      if (await sameName()) return false;
      if (await exists(this.spool.file('downloaded', task))) {
        await this.spool.move(task, 'downloaded', 'history');
        again = true;
      }
      copied = await this.spool.adopt('tmp', task, taskfile, text);
      await this.spool.clearErr('tmp', task);
      await this.spool.move(task, 'tmp', 'queues');
      return true;
    });
    // It reached downloading between the two looks: the same answers as above.
    if (!queued) return this.receive(task, taskfile, reactive);
    await this.admitToQueue(task, this.spool.file('queues', task), raw, true);
    const desc = again ? 'same name task downloaded, to download again.' : 'succeed!';
    return desc + copied;
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
      const failed = await this.spool.hasMarker('downloading', task, '.err');
      if (failed) await this.spool.clearErr('downloading', task);
      return failed;
    });
    this.log.info(`${task}: reactive recv, seed clock restarted`);
    if (rearm) await this.admission.rearm(task);
    else if (this.shares.get(task)?.complete) this.armExpiry(task);
    return `reactive cacher bt seeding with taskfile:${task}.task.json`;
  }

  /** A complete task file in `queues` (dropped in, or put there by `recv`). */
  private async admitToQueue(task: string, file: string, raw: unknown, checked = false): Promise<void> {
    if (this.admission.isWaiting(task)) return;
    try {
      if (!checked) {
        if (!(await exists(file))) return; // taken meanwhile (recv admits its own tasks)
        await checkBtShare(this.check(raw, file));
      }
      const stillQueued = await this.spool.withLock(task, async () => {
        if (!(await exists(this.spool.file('queues', task)))) return false;
        const running = (await this.spool.locate(task)).find((l) => l.state === 'downloading');
        if (running) throw errors.SAME_IN_STATE('downloading', running.file);
        if (await exists(this.spool.file('downloaded', task))) await this.spool.move(task, 'downloaded', 'history');
        return true;
      });
      if (!stillQueued) return;
    } catch (err) {
      await this.spool.refuse('queues', task, err);
      return;
    }
    this.fresh.add(task);
    await this.admission.enqueue(task);
  }

  // ----- downloading -----

  /** The download, with its failure reported once: `.err` (reason, then the tries' history); what is verified stays served. */
  private async fetchAndReport(f: Fetch): Promise<void> {
    try {
      await this.fetchShare(f);
    } catch (err) {
      if (err instanceof Cancelled || this.stopping || f.abort.signal.aborted) return;
      let e = isBft2Error(err) ? err : new Bft2Error('DOWNLOAD_FAILED', messageOf(err), false);
      const share = this.shares.get(f.task);
      share?.setDownloading(false);
      if (isDiskFull(err)) {
        const needed = share ? share.info.totalLength - share.verifiedBytes : 0;
        e = await diskFullError(share ? path.dirname(share.dataDir) : path.join(this.ctx.paths.transferDir, 'bt'), needed);
      }
      this.log.error(`${e.code} ${f.task}: ${e.message}`);
      await this.spool.writeErr('downloading', f.task, e.message, f.tries.history).catch((werr) => this.log.error(`cannot write ${f.task}.err: ${messageOf(werr)}`));
    } finally {
      f.tries.clear();
    }
  }

  private async fetchShare(f: Fetch): Promise<void> {
    const { task } = f;
    const file = this.spool.file('downloading', task);
    const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
    const t = this.check(raw, file);
    if (this.fresh.delete(task) && raw[RECORD_KEY] !== undefined) delete raw[RECORD_KEY];
    let rec = readRecord(raw);
    const hours = seedHours(t, this.config);
    if (seedLeftMs(rec, hours) === 0) {
      await this.finish(task, f);
      return;
    }

    let share = this.shares.get(task);
    // The record of the verified data is (re)written unless the share came back exactly as recorded.
    let recordNeeded = !rec?.seedstart || !rec.files;
    if (!share || share.stopped) {
      const { torrent, info } = await this.torrentFor(f, t, rec);
      // Another task's share on the same torrent or directory (a task file renamed by hand):
      // webtorrent cannot hold one torrent twice, and two downloads must not share files.
      const dataDir = path.join(this.btParent(t), info.name);
      for (const [other, s] of this.shares) {
        if (other !== task && (s.infoHash === info.infoHash || s.dataDir === dataDir)) throw errors.SAME_IN_STATE('downloading', this.spool.file('downloading', other));
      }
      if (rec?.infohash !== info.infoHash || rec.torrent !== info.name) {
        // A first start, or the origin published another torrent: what was recorded of the old data is void.
        if (rec && rec.torrent !== info.name) await this.removeData(t, rec.torrent);
        rec = { torrent: info.name, infohash: info.infoHash, ...(rec?.seedstart ? { seedstart: rec.seedstart } : {}) };
        writeRecord(raw, rec);
        raw.receivetime ||= formatLocalTime();
        await writeJsonDurable(file, raw);
      }
      await writeFileDurable(this.torrentCopy(t, info.name), torrent).catch(async () => {
        // The copy is a convenience for restarts; a write failure (a full disk) must not stop the download.
        await rm(this.torrentCopy(t, info.name), { force: true });
      });
      const trusted = await unchangedOnDisk(this.btParent(t), info, rec.files);
      if (!trusted) recordNeeded = true;
      share = await ShareTorrent.add({ client: await this.btClient(), torrent, info, parentDir: this.btParent(t), trusted, label: task, log: this.log, signal: f.abort.signal }).catch((err) => {
        throw f.abort.signal.aborted ? new Cancelled() : err;
      });
      this.shares.set(task, share);
      this.watchShare(task, share);
    }

    if (!share.complete) {
      recordNeeded = true;
      this.log.info(`downloading ${task}: bt share ${share.info.totalLength} bytes into ${share.dataDir}`);
      await this.download(f, t, share);
      if (f.abort.signal.aborted) throw new Cancelled();
    }
    // Complete: record the data as verified and start the seed clock (once).
    if (recordNeeded) {
      const files = await fingerprint(this.btParent(t), share.info);
      await this.spool.withLock(task, async () => {
        const now = (await readTaskJson(file)).raw as Record<string, unknown>;
        const r = readRecord(now) ?? { torrent: share.info.name, infohash: share.infoHash };
        r.files = files;
        r.seedstart ??= new Date().toISOString();
        writeRecord(now, r);
        await writeJsonDurable(file, now);
      });
    }
    this.log.info(`seeding ${task}: ${share.dataDir}, ${formatHours(seedHours(t, this.config))} seed time`);
    this.armExpiry(task);
  }

  /**
   * The share's torrent: the saved copy when it is the recorded one (a restart needs no
   * origin), else downloaded from `bt.tmpurl` / `bt.url` with the retry policy. Either way
   * it must hold exactly the share's files.
   */
  private async torrentFor(f: Fetch, t: Task, rec: CacherRecord | undefined): Promise<{ torrent: Buffer; info: TorrentInfo }> {
    const url = btShareUrl(t);
    if (rec) {
      const copy = this.torrentCopy(t, rec.torrent);
      const torrent = await readSavedTorrent(copy);
      if (torrent !== undefined) {
        const info = await parseShareTorrent(copy, torrent).catch(() => undefined);
        if (info?.infoHash === rec.infohash) return { torrent, info: checkBtShareTorrent(t, url, info) };
      }
    }
    const policy = defaultRetryPolicy();
    for (let failed = 1; ; failed++) {
      try {
        const torrent = await fetchTorrent(url, f.abort.signal);
        return { torrent, info: checkBtShareTorrent(t, url, await parseShareTorrent(url, torrent)) };
      } catch (err) {
        if (f.abort.signal.aborted) throw new Cancelled();
        const delay = nextRetryDelay(policy, failed, err);
        this.log.warn(`${f.task}: ${f.tries.failed('bt', path.basename(url), describe(err), delay)}`);
        if (delay === undefined) throw err;
        await sleep(delay, f.abort.signal).catch(() => {
          throw new Cancelled();
        });
      }
    }
  }

  /**
   * Downloads the rest of the share. Under `priortime` pieces are fetched only while the BT
   * window is open: a closing window deselects every piece (verified ones stay, and stay
   * served) without error or try; the opening selects them again. A download that gets no
   * byte from peers for BFT2_BT_STALL_MS counts a failed try; when the retry policy gives
   * up, the task fails (DOWNLOAD_FAILED) and keeps serving what it has.
   */
  private download(f: Fetch, t: Task, share: ShareTorrent): Promise<void> {
    const policy = t.policy || this.config.priorpolicy;
    const windowText = t.bt.priortime || this.config.bttime;
    const windows = policy === 'priortime' ? parseWindows(windowText) : undefined;
    const key = `cacher ${f.task} bt`;
    const retry = defaultRetryPolicy();
    const stallMs = envNumber('BFT2_BT_STALL_MS', 10 * 60_000);
    const label = share.info.name;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let failedTries = 0;
      let lastData = Date.now();
      let timer: NodeJS.Timeout | undefined;

      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (windows) this.ctx.scheduler.unsubscribe(key);
        share.off('progress', onProgress);
        share.off('download', onData);
        share.off('done', onDone);
        share.off('failed', finish);
        f.abort.signal.removeEventListener('abort', onAbort);
        share.setDownloading(false);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => finish(f.abort.signal.reason instanceof Cancelled ? f.abort.signal.reason : new Cancelled());
      const onDone = () => finish();
      const onProgress = () => {
        failedTries = 0;
        f.tries.progressed('bt');
        if (share.complete) finish();
      };
      const onData = () => {
        lastData = Date.now();
      };
      // One timer per task, not one per 16 KiB block: it looks at the time of the last byte.
      const watchStall = (ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(onStallCheck, ms);
      };
      const onStallCheck = () => {
        if (settled || !share.isDownloading) return;
        const quiet = Date.now() - lastData;
        if (quiet < stallMs) return watchStall(stallMs - quiet);
        failedTries += 1;
        const reason = `no data from peers for ${Math.round(quiet / 1000)} s (${share.peers} peers connected)`;
        const delay = nextRetryDelay(retry, failedTries, new Error(reason));
        this.log.warn(`${f.task}: ${f.tries.failed('bt', label, reason, delay)}`);
        if (delay === undefined) return finish(errors.DOWNLOAD_FAILED('bt', label, reason));
        // The torrent stays selected: a peer that appears meanwhile is used at once.
        lastData = Date.now() - stallMs + delay;
        watchStall(delay);
      };
      const onWindow = (open: boolean) => {
        if (settled) return;
        share.setDownloading(open);
        if (open) {
          lastData = Date.now();
          watchStall(stallMs);
          this.log.info(`${f.task}: bt window ${windowText} open: downloading`);
        } else {
          clearTimeout(timer);
          this.log.info(`${f.task}: bt window ${windowText} closed: downloading paused, ${share.verifiedBytes} bytes kept and served`);
        }
      };

      share.on('progress', onProgress);
      share.on('download', onData);
      share.once('done', onDone);
      share.once('failed', finish);
      f.abort.signal.addEventListener('abort', onAbort, { once: true });
      if (f.abort.signal.aborted) return onAbort();
      if (share.stopped) return finish(new Error(`torrent ${label} is no longer in the client`));
      if (share.complete) return finish();
      const open = windows ? this.ctx.scheduler.subscribe(key, windows, onWindow) : true;
      if (!open) this.log.info(`${f.task}: waits for its bt window ${windowText}; serving what it holds`);
      else onWindow(true);
    });
  }

  /** A share that fails after its download (a file removed or unreadable under it): the task gets its `.err`. */
  private watchShare(task: string, share: ShareTorrent): void {
    share.once('failed', (err: Error) => {
      // It stays in the map, stopped: cprogress says noseeding, a re-arm adds it again.
      this.clearExpiry(task);
      if (this.stopping || this.admission.running.has(task)) return; // a running download reports it itself
      const message = errors.DOWNLOAD_FAILED('bt', share.info.name, `seeding stopped: ${err.message}`).message;
      this.log.error(`${isDiskFull(err) ? 'DISK_FULL' : 'DOWNLOAD_FAILED'} ${task}: ${message}`);
      void this.spool.writeErr('downloading', task, message).catch(() => {});
    });
  }

  // ----- the seed clock -----

  /** Arms (or re-arms) the timer that ends the task's seeding when its seed time is over. */
  private armExpiry(task: string): void {
    this.clearExpiry(task);
    const tick = async () => {
      this.expiry.delete(task);
      if (this.stopping) return;
      let left: number | undefined;
      try {
        const file = this.spool.file('downloading', task);
        if (!(await exists(file))) return;
        const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
        left = seedLeftMs(readRecord(raw), seedHours(validateTask(raw, file), this.config));
        if (left === undefined) return;
        if (left === 0) return void (await this.finish(task));
      } catch (err) {
        this.log.warn(`${task}: seed clock: ${messageOf(err)}; looking again in a minute`);
        left = 60_000;
      }
      if (this.stopping) return;
      this.expiry.set(task, setTimeout(() => void tick(), Math.min(left, EXPIRY_RECHECK_MS)));
    };
    void tick();
  }

  private clearExpiry(task: string): void {
    clearTimeout(this.expiry.get(task));
    this.expiry.delete(task);
  }

  /**
   * The seed time is over: the torrent leaves the client, the data directory (and the saved
   * torrent) is deleted, `finishedtime` is written and the task moves to `downloaded`.
   * A crash anywhere in here is finished by the next start (the time is still over).
   */
  private async finish(task: string, self?: Fetch): Promise<void> {
    const running = this.admission.running.get(task);
    if (running && running !== self) {
      running.abort.abort(new Cancelled());
      await running.done.catch(() => {});
    }
    await this.spool.withLock(task, async () => {
      const file = this.spool.file('downloading', task);
      if (!(await exists(file))) return;
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      const t = validateTask(raw, file);
      const rec = readRecord(raw);
      // A reactive recv may have restarted the clock a moment ago.
      const left = seedLeftMs(rec, seedHours(t, this.config));
      if (left !== undefined && left > 0) return void this.armExpiry(task);
      await this.removeShare(task, t, rec);
      raw.finishedtime = formatLocalTime();
      await writeJsonDurable(file, raw);
      await this.spool.move(task, 'downloading', 'downloaded');
      this.log.info(`${task}: seed time over; seeding stopped, ${this.dataDir(t, rec)} deleted, task downloaded`);
    });
  }

  /** Stops the share's seeding and deletes its data directory and saved torrent. */
  private async removeShare(task: string, t: Task, rec: CacherRecord | undefined): Promise<void> {
    this.clearExpiry(task);
    const share = this.shares.get(task);
    this.shares.delete(task);
    await share?.stop();
    await this.removeData(t, share?.info.name ?? this.torrentName(t, rec));
  }

  /** Deletes a share's data directory and its saved torrent. */
  private async removeData(t: Task, torrentName: string): Promise<void> {
    await rm(path.join(this.btParent(t), torrentName), { recursive: true, force: true });
    await rm(this.torrentCopy(t, torrentName), { force: true });
  }

  // ----- API: cancel, progress, cprogress -----

  /** `cancel`: stops the seeding (and the download), deletes the data, files the task in history with `.cancelled`. */
  async cancel(taskfile: string): Promise<string> {
    const task = taskNameOf(path.basename(taskfile)) ?? path.basename(taskfile);
    const f = this.admission.running.get(task);
    if (f) {
      f.abort.abort(new Cancelled());
      await f.done.catch(() => {});
    }
    this.admission.drop(task);
    this.fresh.delete(task);
    this.clearExpiry(task);
    return this.spool.withLock(task, async () => {
      const where = (await this.spool.locate(task))[0];
      if (!where) return `no need to cancel, not found task: ${task}.task.json`;
      if (where.state === 'downloaded' || where.state === 'history') return `no need to cancel, task already ${where.state === 'history' ? 'in history' : 'downloaded'}: ${where.file}`;
      if (where.state === 'downloading') {
        let t: Task | undefined;
        let rec: CacherRecord | undefined;
        try {
          const raw = (await readTaskJson(where.file)).raw as Record<string, unknown>;
          t = validateTask(raw, where.file);
          rec = readRecord(raw);
        } catch {
          // A task that never validated never wrote anything; its share (if any) still stops.
        }
        if (t) await this.removeShare(task, t, rec);
        else await this.shares.get(task)?.stop();
        this.shares.delete(task);
      }
      await this.spool.move(task, where.state, 'history');
      // The seed's cancel deletes the error file: a cancelled task is not in error.
      await this.spool.clearErr('history', task);
      await this.spool.writeMarker('history', task, '.cancelled', `${formatLocalTime()} cancelled while in ${where.state}`);
      this.log.info(`cancelled ${task} (was in ${where.state})`);
      return 'succeeded!';
    });
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
    try {
      const raw = (await readTaskJson(where.file)).raw as Record<string, unknown>;
      t = validateTask(raw, where.file);
      rec = readRecord(raw);
    } catch (e) {
      const reason = err ?? messageOf(e);
      return cprogressAnswer({ state, taskfile: where.file, dataDir: '', err: reason, seedleftMinutes: 0 });
    }
    const share = this.shares.get(task);
    return cprogressAnswer({
      state,
      taskfile: where.file,
      dataDir: share?.dataDir ?? this.dataDir(t, rec),
      err,
      cancelled,
      share:
        share && !share.stopped
          ? { servable: share.verifiedBytes > 0, verifiedBytes: share.verifiedBytes, totalBytes: share.info.totalLength, uploaded: share.uploaded, peers: share.peers }
          : undefined,
      seedleftMinutes: seedLeftMinutes(rec, seedHours(t, this.config)),
    });
  }
}

const formatHours = (h: number) => `${Number(h.toFixed(4))} h`;

/** Largest .torrent read back (bt-method's bound for a fetched one). */
const MAX_TORRENT_BYTES = 16 * 1024 * 1024;

/** The saved torrent copy, if it is a regular file of sane size (never through a symlink); else undefined. */
async function readSavedTorrent(file: string): Promise<Buffer | undefined> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_TORRENT_BYTES) return undefined;
    return await fh.readFile();
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}
