// One task's download (SPEC §8): the one place that decides which source fetches what and
// when. Each method's Source (src/transfer/source.ts; made by transfer/sources.ts) with a
// share — or, with rebalancing, with something it can reach — runs a lane that asks the
// work plan (work-plan.ts) for byte ranges and fetches a few at once into the task's part
// files (part-store.ts), each file hashed in order off the event loop and checked against
// its sha1. The engine never asks which method a source is. A lane runs only
// - inside its transfer window under `priortime` (the daemon's one WindowScheduler says
//   when it opens and closes; a closing window stops the lane's transfers without error and
//   without counting a try, the bytes stay and the next opening goes on from them),
// - while the disk keeps `diskreserve` free after the next range (else it waits),
// - within the node's rate cap for its method (transfer-caps.ts),
// and its failures go through the retry policy; a method that fails for good hands its
// bytes to the others (`rebalance` failed or idle), and an idle method takes chunks from
// a slow one (idle). A full disk stops the whole task (DISK_FULL).
// Owns: the task's lanes, its part store, its sources. Must not touch the spool, the store,
// or other tasks' files.
import { anySignal } from 'any-signal';
import { errors, isBft2Error, messageOf, type Bft2Error } from '../errors/catalogue.ts';
import { WorkPlan, type Assignment, type Moved, type RebalanceMode } from '../transfer/segments/work-plan.ts';
import { PartStore } from '../transfer/segments/part-store.ts';
import { SourceChanged } from '../transfer/segments/body-pump.ts';
import type { BtClient } from '../transfer/bt/bt-client.ts';
import type { ObsClient } from '../transfer/obs/obs-client.ts';
import type { Source, RangeSink, SourceStats } from '../transfer/source.ts';
import { makeSources } from '../transfer/sources.ts';
import type { CostLedger, CostProgress } from '../cost/cost-ledger.ts';
import type { PeriodBytes } from '../cost/cost-math.ts';
import { defaultRetryPolicy, nextRetryDelay } from '../transfer/retry-policy.ts';
import { isDiskFull } from '../transfer/disk-full.ts';
import type { TryLog } from '../transfer/try-log.ts';
import { parseWindows, nextOpening, type Window } from '../schedule/windows.ts';
import type { WindowScheduler } from '../schedule/window-scheduler.ts';
import { freeSpace, parseReserve, reserveVerdict, describeFilesystem } from '../schedule/disk-reserve.ts';
import type { TransferCaps } from './transfer-caps.ts';
import { RateMeter } from '../roles/receiver/progress-math.ts';
import { METHODS, type Method, type Task, type FileEntry } from '../task/schema.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/time.ts';
import { tuning } from '../config/tuning.ts';

const MiB = 1024 * 1024;

const HASH_STEP = 8 * MiB;

/** A method that has brought nothing this long gets its source's account in the notes. */
const NOTE_AFTER_MS = 5000;
/** Billing every chunk as it lands cost a tenth of a receive's event-loop time; a bill a quarter-second late is as true. */
const BILL_EVERY_MS = 250;

export interface TaskDownloadOptions {
  task: string;
  t: Task;
  /** The files to fetch per method (the task's lists minus local copies). */
  lists2: Record<Method, string[]>;
  assembly: string;
  /** Where the DCP goes at the end: its filesystem must keep the reserve too. */
  storeDir: string;
  available: ReadonlySet<Method>;
  config: () => Config;
  log: Logger;
  scheduler: WindowScheduler;
  caps: TransferCaps;
  btClient?: () => Promise<BtClient>;
  obsClient: (bucket: string) => Promise<ObsClient>;
  tries: TryLog;
  onBytes: (m: Method, n: number) => void;
  /** The share torrent, once fetched (the receiver keeps it to seed the stored DCP). */
  onTorrent?: (buf: Buffer) => void | Promise<void>;
  signal: AbortSignal;
  /** Config `rebalance`, or `off` (a cacher has one method). */
  rebalance: RebalanceMode;
  /** A cacher feeds a swarm (transfer/sources.ts). */
  swarmFeeder?: boolean;
  /** The task's cost ledger from what was saved (the download's own record first): every byte received is billed in it. */
  ledgerFrom?: (saved: unknown) => CostLedger;
  /** Bytes just billed, with their price period (the metrics count them). */
  onBilled?: (p: PeriodBytes) => void;
  /**
   * What the role knows of why a method's source sends nothing now, from its stats (a
   * receiver's BitTorrent: the peers and the tracker's last answer); '' when nothing.
   */
  why?: (m: Method, stats: SourceStats) => string;
}

/** What `progress` and `showschedules` show of a running download. */
export interface DownloadSnapshot {
  bytes: Record<Method, number>;
  rates: Record<Method, number>;
  /** Each method's average rate while its window was open, in this run (for the ETA of a method waiting for its window). */
  lastRates: Record<Method, number>;
  /** '' while a method runs or is done; else why it waits ("waiting for obs window 00:00"). */
  waiting: Record<Method, string>;
  /** The next opening of a closed window. */
  next: Record<Method, Date | undefined>;
  /** Bytes each method still owns (not on disk yet). */
  remaining: Record<Method, number>;
  /** Ranges that moved between methods. */
  moved: Moved[];
  windows: Record<Method, Window[]>;
  peers: number;
  uploaded: number;
  /** A BitTorrent torrent of the task is in the client (serving its verified pieces). */
  seeding: boolean;
  /** What the bytes received so far cost (when the download keeps a ledger). */
  cost?: CostProgress;
  /** Per method, why it moves nothing now beyond a window or the disk (failed for good, no peers, the tracker's error), else ''. */
  notes: Record<Method, string>;
  /** Seconds since the task last landed a byte, while some method should be moving; 0 otherwise. */
  quietSeconds: number;
  /** Once quietSeconds reaches tuning `quiet`: `no data for N s from <method> (<why>)`, else ''. */
  stalled: string;
}

/** A window closed, or space ran short: the lane stops its transfers, no error, no try. */
class Paused extends Error {}

/** A method that took over a range got nothing for it (no peers, say): the range goes back. */
class HelpGivenUp extends Error {}

interface Lane {
  m: Method;
  source: Source;
  open: boolean;
  windows: Window[];
  /** Aborted when the window closes (and with the task). */
  period: AbortController;
  waiting: string;
  next?: Date;
  failures: number;
  backoffUntil: number;
  meter: RateMeter;
  /** Bytes this lane moved in this run, and the time its window was open meanwhile (the average rate). */
  runBytes: number;
  openMs: number;
  openSince?: number;
  bytes: number;
  failed?: Bft2Error;
  /** The methods that took over its bytes when it failed for good. */
  heirs?: string;
  /** When it last landed a byte, or began its ranges after none were in flight. */
  activeSince: number;
  parallel: number;
  /** Ranges being fetched now. */
  inflight: number;
  /** After a range taken over came to nothing, no other is taken before this. */
  helpCooldownUntil: number;
}

export class TaskDownload {
  private readonly parts: PartStore;
  private plan!: WorkPlan;
  /** The saved record is read: the plan, lanes and bill hold what was done before. */
  private loaded = false;
  private readonly lanes = new Map<Method, Lane>();
  private sources: Source[] = [];
  private readonly entries: Map<string, FileEntry>;
  private fatal?: unknown;
  private readonly stop = new AbortController();
  private wake: () => void = () => {};
  private woken: Promise<void>;
  private readonly verifying = new Map<string, Promise<void>>();
  private readonly recheck = new Set<string>();
  private readonly mismatches = new Map<string, number>();
  private readonly policy = defaultRetryPolicy();
  private saveTimer?: NodeJS.Timeout;
  /** The task's bill: bytes received per method and price period. */
  ledger?: CostLedger;
  /** When the task last landed a byte (or its run began). */
  private lastByteAt = Date.now();
  /** Bytes landed but not billed nor counted in the metrics yet (billed every BILL_EVERY_MS, at each snapshot and save). */
  private readonly unbilled: Record<Method, number> = { bt: 0, obs: 0, cdn: 0 };
  private billedAt = 0;
  /** Since when some method should be moving (undefined while every method waits for a window, is done or failed). */
  private expectedSince?: number;
  /** The stall last logged, without its seconds ('' while bytes flow). */
  private stallLogged = '';

  constructor(private readonly o: TaskDownloadOptions) {
    const byName = new Map(o.t.filelist.map((f) => [f.file, f]));
    const files = METHODS.flatMap((m) => o.lists2[m]).map((f) => byName.get(f)!);
    this.entries = new Map(files.map((f) => [f.file, f]));
    this.parts = new PartStore(o.assembly, files);
    this.woken = new Promise((r) => (this.wake = r));
  }

  /** Resolves when every file is verified in the assembly directory under its real name. */
  async run(): Promise<void> {
    const o = this.o;
    const { verified, done, extra } = await this.parts.load();
    this.ledger = o.ledgerFrom?.(extra?.accounting);
    const owners = new Map<string, Method>();
    for (const m of METHODS) for (const f of o.lists2[m]) owners.set(f, m);
    const planFiles = [...this.entries.values()].filter((f) => !verified.has(f.file)).map((f) => ({ file: f.file, size: f.size, owner: owners.get(f.file)! }));
    this.sources = makeSources({
      task: o.task,
      t: o.t,
      lists2: o.lists2,
      files: [...this.entries.values()],
      assembly: o.assembly,
      log: o.log,
      available: o.available,
      rebalancing: o.rebalance !== 'off',
      btClient: o.btClient,
      obsClient: o.obsClient,
      onShareTorrent: o.onTorrent,
      landed: (m, file, start, end) => this.landed(m, file, start, end),
      doneRanges: (file) => this.plan.doneRanges(file),
      swarmFeeder: o.swarmFeeder,
    });
    const sourceOf = new Map(this.sources.map((x) => [x.method, x]));
    this.plan = new WorkPlan(planFiles, {
      chunk: tuning().chunk,
      chunkOf: Object.fromEntries(this.sources.map((x) => [x.method, x.rangeBytes])),
      reach: (m, file) => sourceOf.get(m)?.reaches(file) ?? false,
      rebalance: o.rebalance,
      done,
      startFile: Object.fromEntries(this.sources.filter((x) => x.startFile).map((x) => [x.method, x.startFile!(planFiles)])),
      // Only a method busy at full capacity has bytes that would wait for it.
      canStealFrom: (victim) => {
        const v = this.lanes.get(victim);
        return v !== undefined && (v.inflight >= v.parallel || !v.open || Date.now() < v.backoffUntil);
      },
    });
    for (const source of this.sources) this.lanes.set(source.method, this.makeLane(source));
    // Bytes on disk from before count for the method that owns them.
    for (const f of planFiles) this.counted(f.owner).bytes += this.plan.doneBytes(f.file);
    for (const f of verified) this.counted(owners.get(f)!).bytes += this.entries.get(f)!.size;
    // Bytes a crash kept out of the last saved bill are billed now. The bill counts bytes by
    // the method that fetched them, the disk by the method that owns the file: only what
    // the disk holds beyond the whole bill is new, given to the owners short of theirs.
    if (this.ledger) {
      const billed = this.ledger.summary().methods;
      let unbilled = METHODS.reduce((n, m) => n + this.counted(m).bytes - billed[m].bytes, 0);
      for (const m of METHODS) {
        const short = Math.min(unbilled, this.counted(m).bytes - billed[m].bytes);
        if (short <= 0) continue;
        this.ledger.record(m, short, new Date(o.scheduler.now()));
        unbilled -= short;
      }
    }
    this.loaded = true;
    if (o.rebalance === 'idle') for (const source of this.sources) source.warmUp?.();
    const onAbort = () => this.stopAll(o.signal.reason);
    o.signal.addEventListener('abort', onAbort, { once: true });
    this.lastByteAt = Date.now();
    this.saveTimer = setInterval(() => {
      void this.save();
      this.logStall();
    }, 2000);
    try {
      for (const f of planFiles) this.scheduleVerify(f.file);
      const lanes = [...this.lanes.values()].filter((l) => this.laneMayRun(l.m)).map((l) => this.runLane(l));
      await Promise.all(lanes);
      await Promise.all([...this.verifying.values()]);
      if (this.fatal) throw this.fatal;
      o.signal.throwIfAborted();
      const missing = [...this.entries.keys()].filter((f) => !this.parts.isVerified(f));
      if (missing.length) throw errors.DOWNLOAD_FAILED(owners.get(missing[0])!, missing[0], 'no method could fetch it');
      await this.parts.promoteAll();
    } finally {
      o.signal.removeEventListener('abort', onAbort);
      clearInterval(this.saveTimer);
      for (const m of METHODS) o.scheduler.unsubscribe(this.windowKey(m));
      this.stop.abort(new Paused('download over'));
      await Promise.allSettled(this.sources.map((x) => x.close()));
      await this.save().catch(() => undefined);
      await this.parts.close();
    }
  }

  /** What the download has done so far; none until it has read its saved record (progress then reads the disk). */
  snapshot(): DownloadSnapshot | undefined {
    if (!this.loaded) return undefined;
    this.bill();
    const s = {
      bytes: {} as Record<Method, number>,
      rates: {} as Record<Method, number>,
      lastRates: {} as Record<Method, number>,
      waiting: {} as Record<Method, string>,
      next: {} as Record<Method, Date | undefined>,
      remaining: {} as Record<Method, number>,
      windows: {} as Record<Method, Window[]>,
      moved: this.plan ? [...this.plan.moved.values()] : [],
      peers: 0,
      uploaded: 0,
      seeding: false,
      cost: this.ledger?.progress(),
      notes: { bt: '', obs: '', cdn: '' } as Record<Method, string>,
      quietSeconds: 0,
      stalled: '',
    };
    for (const m of METHODS) {
      const l = this.lanes.get(m);
      s.bytes[m] = l?.bytes ?? 0;
      s.rates[m] = l ? l.meter.rate() : 0;
      s.lastRates[m] = l ? this.averageRate(l) : 0;
      s.remaining[m] = this.plan ? this.plan.remainingBytes(m) : 0;
      s.waiting[m] = l && s.remaining[m] > 0 ? l.waiting : '';
      s.next[m] = l && !l.open && s.remaining[m] > 0 ? l.next : undefined;
      s.windows[m] = l?.windows ?? [];
    }
    for (const source of this.sources) {
      const x = source.stats();
      s.peers += x.peers;
      s.uploaded += x.uploaded;
      s.seeding ||= x.serving;
    }
    Object.assign(s, this.stallView(s.remaining));
    return s;
  }

  /**
   * Why the task moves nothing (issue 22): each method's note, and — once no byte has landed
   * for tuning `quiet` while a method should be moving (its window open, not failed) — the
   * stall, naming each such method with what is known of it: waiting for disk space,
   * retrying (the reason, the next try), or its source's own account (no peers, the tracker).
   */
  private stallView(remaining: Record<Method, number>): Pick<DownloadSnapshot, 'notes' | 'quietSeconds' | 'stalled'> {
    const notes = { bt: '', obs: '', cdn: '' } as Record<Method, string>;
    const idle: string[] = [];
    const now = Date.now();
    for (const l of this.lanes.values()) {
      const stats = l.source.stats();
      const why = this.o.why?.(l.m, stats) ?? '';
      if (l.failed) {
        notes[l.m] = `${l.m} failed for good (${l.failed.message}); its bytes went to ${l.heirs || 'nobody (all on disk)'}`;
        continue;
      }
      if (remaining[l.m] <= 0 && l.inflight === 0) continue;
      // What the source tells, once it has sent nothing for a few seconds (a tracker's error at once).
      if (why && (now - l.activeSince >= NOTE_AFTER_MS || /tracker error/.test(why))) notes[l.m] = `${l.m}: ${why}`;
      if (!l.open) continue;
      const retry = now < l.backoffUntil ? `retrying: ${this.o.tries.statusOf(l.m) || 'after a failed try'}` : '';
      const peers = stats.peers > 0 && !why ? `${stats.peers} peer${stats.peers === 1 ? '' : 's'} connected` : '';
      const state = [l.waiting, retry, why, peers].filter(Boolean).join('; ');
      idle.push(state ? `${l.m} (${state})` : l.m);
    }
    if (idle.length === 0 || this.allVerified()) {
      this.expectedSince = undefined;
      return { notes, quietSeconds: 0, stalled: '' };
    }
    // Quiet counts from the last byte, or from when a method should have begun to move (a window opened).
    this.expectedSince ??= now;
    const quiet = now - Math.max(this.lastByteAt, this.expectedSince);
    const seconds = Math.floor(quiet / 1000);
    return { notes, quietSeconds: seconds, stalled: quiet >= tuning().quiet ? `no data for ${seconds} s from ${idle.join(', ')}` : '' };
  }

  /** A stall goes to the log when it begins and when its reason changes. */
  private logStall(): void {
    if (!this.plan) return;
    const remaining = {} as Record<Method, number>;
    for (const m of METHODS) remaining[m] = this.plan.remainingBytes(m);
    const { stalled } = this.stallView(remaining);
    const shape = stalled.replace(/^no data for \d+ s/, '');
    if (shape === this.stallLogged) return;
    // Its end is logged where the next byte lands (markDone); a stall that ends otherwise (a window closed) just clears.
    if (stalled) this.o.log.warn(`${this.o.task}: stalled: ${stalled}`);
    this.stallLogged = shape;
  }

  // ----- lanes -----

  /** The lane that counts a method's bytes (a method without a source here counts in a lane of its own, idle). */
  private counted(m: Method): Lane {
    let lane = this.lanes.get(m);
    if (!lane) {
      lane = { m, activeSince: 0, source: undefined as unknown as Source, open: false, windows: [], period: new AbortController(), waiting: '', failures: 0, backoffUntil: 0, meter: new RateMeter(), runBytes: 0, openMs: 0, bytes: 0, inflight: 0, helpCooldownUntil: 0, parallel: 0 };
      this.idleCounters.set(m, lane);
    }
    return lane;
  }
  private readonly idleCounters = new Map<Method, Lane>();

  private makeLane(source: Source): Lane {
    const o = this.o;
    const m = source.method;
    const config = o.config();
    const policy = o.t.policy || config.priorpolicy;
    const spec = policy === 'priortime' ? o.t[m].priortime || config[`${m}time`] : '';
    const windows = spec ? parseWindows(spec) : [];
    const lane: Lane = {
      m,
      activeSince: Date.now(),
      source,
      open: true,
      windows,
      period: new AbortController(),
      waiting: '',
      failures: 0,
      backoffUntil: 0,
      meter: new RateMeter(),
      runBytes: 0,
      openMs: 0,
      bytes: 0,
      inflight: 0,
      helpCooldownUntil: 0,
      parallel: source.parallel,
    };
    if (windows.length > 0) {
      lane.open = o.scheduler.subscribe(this.windowKey(m), windows, (open) => this.onWindow(lane, open));
      if (!lane.open) {
        this.closeWindow(lane);
        o.log.info(`${o.task}: waits for its ${m} window ${spec} (opens ${this.formatNext(lane)})`);
      }
    }
    return lane;
  }

  private windowKey(m: Method): string {
    return `download:${this.o.task}:${m}`;
  }

  /** Bytes per second while open, since the lane first moved bytes in this run. */
  private averageRate(l: Lane): number {
    const ms = l.openMs + (l.open && l.openSince !== undefined ? this.o.scheduler.now() - l.openSince : 0);
    return ms > 0 ? (l.runBytes * 1000) / ms : 0;
  }

  private onWindow(lane: Lane, open: boolean): void {
    if (lane.open && !open && lane.openSince !== undefined) lane.openMs += this.o.scheduler.now() - lane.openSince;
    if (!lane.open && open && lane.openSince !== undefined) lane.openSince = this.o.scheduler.now();
    lane.open = open;
    if (open) {
      lane.waiting = '';
      lane.next = undefined;
      lane.period = new AbortController();
      this.o.log.info(`${this.o.task}: ${lane.m} window open`);
    } else {
      this.o.log.info(`${this.o.task}: ${lane.m} window closed; its transfers stop until ${this.formatNext(lane)}`);
      this.closeWindow(lane);
    }
    this.notify();
  }

  private closeWindow(lane: Lane): void {
    lane.period.abort(new Paused('window closed'));
    lane.next = nextOpening(lane.windows, new Date(this.o.scheduler.now()));
    lane.waiting = `waiting for ${lane.m} window ${this.formatNext(lane)}`;
    void lane.source.pause(new Paused('window closed'));
  }

  private formatNext(lane: Lane): string {
    const n = lane.next ?? nextOpening(lane.windows, new Date(this.o.scheduler.now()));
    const p = (x: number) => String(x).padStart(2, '0');
    return `${p(n.getHours())}:${p(n.getMinutes())}`;
  }

  /** A lane runs when its method has bytes of its own, or may take over some (rebalancing). */
  private laneMayRun(m: Method): boolean {
    if (this.plan.hasWork(m)) return true;
    if (this.o.rebalance === 'off') return false;
    const source = this.lanes.get(m)?.source;
    return source !== undefined && [...this.entries.keys()].some((f) => source.reaches(f));
  }

  /**
   * A lane lives until every file is verified (or the task fails, or its method fails for
   * good): a lane with nothing of its own stays, to take over bytes of a slow or failed one.
   */
  private async runLane(lane: Lane): Promise<void> {
    const inflight = new Set<Promise<void>>();
    for (;;) {
      if (this.fatal || this.stop.signal.aborted || this.o.signal.aborted || lane.failed) break;
      if (this.allVerified()) break;
      if (!lane.open || Date.now() < lane.backoffUntil) {
        await this.waitChange(Math.max(50, Math.min(5000, lane.backoffUntil - Date.now())));
        continue;
      }
      if (inflight.size < lane.parallel) {
        const space = await this.spaceProblem();
        if (space) {
          if (lane.waiting !== space) this.o.log.warn(`${this.o.task}: ${lane.m} ${space}`);
          lane.waiting = space;
          await this.waitChange(5000);
          continue;
        }
        if (lane.waiting.startsWith('waiting for disk')) lane.waiting = '';
        while (inflight.size < lane.parallel) {
          const a = this.plan.next(lane.m, { steal: Date.now() >= lane.helpCooldownUntil });
          if (!a) break;
          if (a.from) this.o.log.info(`${this.o.task}: rebalance: ${lane.m} takes ${a.file} bytes ${a.start}-${a.end} from ${a.from}`);
          // Out of the set before anyone is woken: a waking lane sees the room it made.
          const p: Promise<void> = this.runAssignment(lane, a).finally(() => {
            inflight.delete(p);
            this.notify();
          });
          inflight.add(p);
        }
      }
      await this.waitChange(1000);
    }
    await Promise.allSettled([...inflight]);
  }

  private allVerified(): boolean {
    for (const f of this.entries.keys()) if (!this.parts.isVerified(f)) return false;
    return true;
  }

  private async runAssignment(lane: Lane, a: Assignment): Promise<void> {
    const before = lane.bytes;
    const help = new AbortController();
    // Not AbortSignal.any: on Node 20 every call stays referenced from the long-lived signals
    // (about 1 KB a range, for the task's life); anySignal's listeners go in `finally`.
    const signal = anySignal([lane.period.signal, this.stop.signal, this.o.signal, help.signal]);
    if (lane.inflight === 0) {
      lane.meter.start();
      lane.activeSince = Date.now();
    }
    lane.inflight += 1;
    // A range taken over from another method must move within a while, or it goes back.
    let watchdog: NodeJS.Timeout | undefined;
    if (a.from) {
      const limit = tuning().helpstall;
      let last = this.plan.doneIn(a.file, a.start, a.end);
      let since = Date.now();
      watchdog = setInterval(() => {
        const now = this.plan.doneIn(a.file, a.start, a.end);
        if (now > last) [last, since] = [now, Date.now()];
        else if (Date.now() - since > limit) help.abort(new HelpGivenUp(`no data for ${Math.round(limit / 1000)} s`));
      }, Math.min(1000, limit));
      watchdog.unref();
    }
    try {
      await this.fetch(lane, a, signal);
      lane.failures = 0;
    } catch (err) {
      const reason = signal.aborted ? signal.reason : undefined;
      if (reason instanceof Paused || this.o.signal.aborted || this.stop.signal.aborted) return;
      if (a.from && (reason instanceof HelpGivenUp || !(isDiskFull(err) || err instanceof SourceChanged))) {
        // A helper that cannot help gives the range back; no try of its own share is counted.
        this.o.log.info(`${this.o.task}: rebalance: ${lane.m} gives ${a.file} bytes ${a.start}-${a.end} back to ${a.from} (${messageOf(reason ?? err)})`);
        this.plan.release(a.id);
        this.plan.giveBack(a);
        lane.helpCooldownUntil = Date.now() + 2 * tuning().helpstall;
        return;
      }
      if (err instanceof SourceChanged) {
        this.o.log.warn(`${this.o.task}: ${err.message}`);
        this.plan.resetFile(a.file);
        await this.parts.reset(a.file);
        return;
      }
      if (isDiskFull(err)) return this.setFatal(err);
      const progressed = lane.bytes > before;
      if (progressed && !isBft2Error(err)) {
        // A drop after progress: go on at once, only tries that move nothing count.
        lane.failures = 0;
        this.o.tries.failed(lane.m, a.file, messageOf(err), 0);
        return;
      }
      lane.failures += 1;
      const delay = nextRetryDelay(this.policy, lane.failures, err);
      this.o.log.warn(`${this.o.task}: ${this.o.tries.failed(lane.m, a.file, messageOf(err), delay)}`);
      if (delay === undefined) this.laneFailed(lane, a.file, err);
      else lane.backoffUntil = Math.max(lane.backoffUntil, Date.now() + delay);
    } finally {
      signal.clear();
      clearInterval(watchdog);
      lane.inflight -= 1;
      if (lane.inflight === 0) lane.meter.stop();
      this.plan.release(a.id);
    }
  }

  private async fetch(lane: Lane, a: Assignment, signal: AbortSignal): Promise<void> {
    const sink: RangeSink = {
      take: (n) => this.o.caps.take(lane.m, n, signal),
      validator: this.parts.validator(a.file, lane.m),
      setValidator: (v) => this.parts.setValidator(a.file, lane.m, v),
      write: async (offset, bufs) => {
        await this.parts.writev(a.file, offset, bufs);
        let n = 0;
        for (const b of bufs) n += b.length;
        this.markDone(lane.m, a.file, offset, offset + n);
      },
    };
    await lane.source.fetch(this.entries.get(a.file)!, a.start, a.end, signal, sink);
  }

  /** Bytes a source wrote through its own store (BitTorrent's verified pieces): the part store is told, then they count. */
  private landed(m: Method, file: string, start: number, end: number): void {
    this.parts.touched(file);
    this.markDone(m, file, start, end);
  }

  /** Bytes landed: they count for the method that fetched them, and the file's hash moves on. */
  private markDone(m: Method, file: string, start: number, end: number): void {
    const before = this.plan.doneBytes(file);
    this.plan.markDone(file, start, end);
    const added = this.plan.doneBytes(file) - before;
    if (added > 0) {
      this.lastByteAt = Date.now();
      if (this.stallLogged) {
        this.stallLogged = '';
        this.o.log.info(`${this.o.task}: data flows again`);
      }
      const lane = this.lanes.get(m)!;
      lane.activeSince = this.lastByteAt;
      lane.bytes += added;
      lane.meter.add(added);
      lane.runBytes += added;
      lane.openSince ??= this.o.scheduler.now();
      this.o.tries.progressed(m);
      this.unbilled[m] += added;
      if (this.lastByteAt - this.billedAt >= BILL_EVERY_MS) this.bill();
    }
    this.scheduleVerify(file);
  }

  /** Bills the bytes landed since the last call and counts them in the metrics. */
  private bill(): void {
    this.billedAt = Date.now();
    const at = new Date(this.o.scheduler.now());
    for (const m of METHODS) {
      const n = this.unbilled[m];
      if (n === 0) continue;
      this.unbilled[m] = 0;
      const billed = this.ledger?.record(m, n, at);
      if (billed) this.o.onBilled?.(billed);
      this.o.onBytes(m, n);
    }
  }

  private laneFailed(lane: Lane, file: string, err: unknown): void {
    const e = isBft2Error(err) && err.code !== 'HTTP_FAILED' ? err : Object.assign(errors.DOWNLOAD_FAILED(lane.m, file, messageOf(err)), { cause: err });
    lane.failed = e;
    lane.period.abort(new Paused('method failed'));
    const stranded = this.plan.fail(lane.m);
    if (stranded.length > 0) return this.setFatal(e);
    const heirs = METHODS.filter((m) => m !== lane.m && this.plan.hasWork(m));
    lane.heirs = heirs.join(', ');
    this.o.log.warn(`${this.o.task}: ${lane.m} failed for good (${e.message}); rebalance: its bytes go to ${heirs.join(', ') || 'nobody (all on disk)'}`);
  }

  private setFatal(err: unknown): void {
    if (!this.fatal) this.fatal = err;
    this.stopAll(err);
  }

  private stopAll(reason: unknown): void {
    this.stop.abort(reason instanceof Paused ? reason : new Paused(messageOf(reason)));
    for (const source of this.sources) void source.pause(new Paused('stopped'));
    this.notify();
  }

  // ----- verification -----

  /** Hashes what is newly done in order; a complete file is checked against its sha1. */
  private scheduleVerify(file: string): void {
    // The hashing worker is woken per HASH_STEP of new in-order bytes (and at the file's
    // end), not per 1 MiB write: each wake-up is a cross-thread signal.
    if (this.plan) {
      const to = this.plan.contiguousDone(file, 0);
      if (to < this.entries.get(file)!.size && to - this.parts.hashedTo(file) < HASH_STEP) return;
    }
    if (this.verifying.has(file)) {
      this.recheck.add(file);
      return;
    }
    const p = (async () => {
      do {
        this.recheck.delete(file);
        const to = this.plan.contiguousDone(file, 0);
        const entry = this.entries.get(file)!;
        const r = entry.size === 0 ? await this.parts.createEmpty(file) : await this.parts.advance(file, to);
        if (r && !r.ok) await this.onMismatch(file, r.actual!);
        if (r?.ok) this.notify();
      } while (this.recheck.has(file));
    })()
      .catch((err) => {
        if (isDiskFull(err)) return this.setFatal(err);
        // The part is not what the record says (cut short, changed by hand): fetch the file again.
        this.o.log.warn(`${this.o.task}: verifying ${file}: ${messageOf(err)}; fetching it again`);
        this.plan.resetFile(file);
        return this.parts.reset(file);
      })
      .finally(() => {
        this.verifying.delete(file);
        this.notify();
      });
    this.verifying.set(file, p);
  }

  private async onMismatch(file: string, actual: string): Promise<void> {
    const entry = this.entries.get(file)!;
    const n = (this.mismatches.get(file) ?? 0) + 1;
    this.mismatches.set(file, n);
    const err = errors.SHA1_MISMATCH(file, entry.hash, actual);
    const owners = this.plan.ownersOf(file).join('+') || 'download';
    const giveUp = n >= this.policy.maxTries;
    this.o.log.warn(`${this.o.task}: ${this.o.tries.failed(owners, file, err.message, giveUp ? undefined : this.policy.baseDelayMs)}`);
    if (giveUp) return this.setFatal(err);
    await sleep(this.policy.baseDelayMs, this.stop.signal).catch(() => undefined);
    this.plan.resetFile(file);
  }

  // ----- waiting -----

  private notify(): void {
    const w = this.wake;
    this.woken = new Promise((r) => (this.wake = r));
    w();
  }

  /** Until an in-flight range ends or the plan changes (both notify), or `ms` pass. */
  private async waitChange(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.woken, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Why no new range may start now (the disk reserve), or undefined. */
  private async spaceProblem(): Promise<string | undefined> {
    const config = this.o.config();
    const reserve = parseReserve(config.diskreserve);
    // The next range may be the largest any source fetches.
    const chunk = Math.max(tuning().chunk, ...this.sources.map((x) => x.rangeBytes));
    const checks: [string, number][] = [[this.o.assembly, chunk]];
    // A store on another filesystem receives the whole DCP at the end.
    const store = await freeSpace(this.o.storeDir).catch(() => undefined);
    const here = await freeSpace(this.o.assembly).catch(() => undefined);
    if (store && here && store.dev !== here.dev) checks.push([this.o.storeDir, this.o.t.size]);
    for (const [p, needed] of checks) {
      const space = p === this.o.assembly ? here : store;
      if (!space) continue;
      const v = reserveVerdict({ free: space.free, total: space.total, reserve, needed });
      if (!v.ok) return `waiting for disk space: ${await describeFilesystem(p)} has ${space.free} bytes free, the reserve (${config.diskreserve}) needs ${v.short} more`;
    }
    return undefined;
  }

  private async save(): Promise<void> {
    if (!this.plan) return;
    this.bill();
    const ledger = this.ledger;
    await this.parts.save((file) => this.plan.doneRanges(file), ledger ? () => ({ accounting: ledger.toJSON() }) : undefined).catch((err) => {
      if (isDiskFull(err)) this.setFatal(err);
    });
  }
}

