// The daemon's Prometheus metrics (SPEC §10): one prom-client Registry per daemon (never
// prom-client's global one), created once by the daemon and reachable as `ctx.metrics`.
// Counters are fed where things happen — `transferred()` where bytes move, BitTorrent's
// bytes from its client's own events, failed tries through src/transfer/try-log.ts, log
// lines through recent-log.ts —; everything that is a state (spool directories, peers,
// seeds, hash table, disks) is read when Prometheus scrapes, in the families' collect()
// callbacks. docs/observability.md lists every family.
// Owns: the registry and its families. Must not touch: anything it reads (spools, client,
// hash table, seeds are read-only here); it never starts the BitTorrent client.
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Paths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { BtClient } from '../transfer/bt/bt-client.ts';
import type { TableSnapshot } from '../hashtable/hash-table.ts';
import { observeFailedTries } from '../transfer/try-log.ts';
import { freeSpace, parseReserve, reserveBytes } from '../schedule/disk-reserve.ts';
import { messageOf } from '../errors/catalogue.ts';
import { countSpools } from './spool-counts.ts';
import type { SeedingProvider, SeedingRegistry, SeedingTask } from './seeding.ts';
import type { DownloadFigures, DownloadProvider, DownloadRegistry } from './downloads.ts';
import { polledDirs } from '../spool/watch-health.ts';
import { costOfPeriod, type PeriodBytes } from '../cost/cost-math.ts';

export type TransferMethodName = 'bt' | 'obs' | 'cdn';
export type Direction = 'down' | 'up';
const METHODS: readonly TransferMethodName[] = ['bt', 'obs', 'cdn'];

export interface MetricsOptions {
  paths: Paths;
  config(): Config;
  version: string;
  /** For a collector that fails (logged at debug: a scrape must not fill the log). */
  log?: Logger;
  /** prom-client's process and Node.js metrics (RSS, CPU, heap, event loop lag...); default true. */
  processMetrics?: boolean;
}

/** What the daemon hands over once its parts exist (they are made after the context). */
export interface MetricsSources {
  hashTable?: { load(): Promise<TableSnapshot> };
}

export class Metrics implements SeedingRegistry, DownloadRegistry {
  readonly registry = new Registry();
  private readonly bytes: Counter<'method' | 'direction'>;
  private readonly retries: Counter<'method'>;
  private readonly exhausted: Counter<'method'>;
  private readonly logLines: Counter<'level'>;
  private readonly received: Counter<'method' | 'period'>;
  private readonly cost: Counter<'method'>;
  private readonly announces: Counter<'result'>;
  private readonly downloadProviders = new Set<DownloadProvider>();
  /** Torrents whose last announce failed (the daemon's TrackerReports), read at scrape. */
  private trackerFailing: () => number = () => 0;
  /** The node's BitTorrent client once it exists (it is made on first use; never started here). */
  private bt?: BtClient;
  /** BitTorrent bytes sent, counted by the client's events since the last scrape (added to the counter then). */
  private readonly btPending = { up: 0 };
  private readonly providers = new Set<SeedingProvider>();
  private sources: MetricsSources = {};
  private readonly unsubscribe: () => void;
  /** Values several families read in one scrape (collect() callbacks run concurrently). */
  private scrape = new Map<string, Promise<unknown>>();
  private rendering?: Promise<string>;

  constructor(private readonly opts: MetricsOptions) {
    const registers = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;

    new Gauge({
      name: 'bft2_info',
      help: 'Always 1; the labels say which bft2 version runs and in which role (servertype).',
      labelNames: ['version', 'servertype'],
      registers,
      collect() {
        this.reset();
        this.set({ version: opts.version, servertype: opts.config().servertype }, 1);
      },
    });

    this.bytes = new Counter({
      name: 'bft2_transfer_bytes_total',
      help: 'Bytes transferred by method (bt, obs, cdn) and direction (down: received by this node, up: sent by it). down counts the bytes that landed in task files (BitTorrent\'s once their piece is verified), as progress does; bt up counts BitTorrent piece data sent to peers; obs up counts OBS upload parts.',
      labelNames: ['method', 'direction'],
      registers,
      collect() {
        // BitTorrent's bytes sent, summed by plain additions per block (cheap at any rate), enter here.
        const { up } = self.btPending;
        self.btPending.up = 0;
        if (up) this.inc({ method: 'bt', direction: 'up' }, up);
      },
    });
    for (const method of METHODS) for (const direction of ['down', 'up'] as const) this.bytes.inc({ method, direction }, 0);

    new Gauge({
      name: 'bft2_tasks',
      help: 'Task files per role and state, where state is the spool directory (tmp, queues, downloading, downloaded, uploading, uploaded, history); role cacher is the receiver spool of a cacher.',
      labelNames: ['role', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const c of await self.spoolCounts()) this.set({ role: c.role, state: c.state }, c.tasks);
      },
    });
    new Gauge({
      name: 'bft2_task_errors',
      help: 'Task files per role and state that carry a <task>.err (stopped on an error until the .err is deleted, or refused in queues/tmp).',
      labelNames: ['role', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const c of await self.spoolCounts()) this.set({ role: c.role, state: c.state }, c.errors);
      },
    });

    this.retries = new Counter({
      name: 'bft2_retries_total',
      help: 'Failed tries of a transfer method (either role) that are tried again after a back-off.',
      labelNames: ['method'],
      registers,
    });
    this.exhausted = new Counter({
      name: 'bft2_tries_exhausted_total',
      help: 'Failed tries after which the method gave up (tries used up, or an error more tries cannot cure): the task gets its .err.',
      labelNames: ['method'],
      registers,
    });
    for (const method of METHODS) {
      this.retries.inc({ method }, 0);
      this.exhausted.inc({ method }, 0);
    }
    this.unsubscribe = observeFailedTries((method, retried) => (retried ? this.retries : this.exhausted).inc({ method: methodLabel(method) }));

    new Gauge({
      name: 'bft2_bt_peers',
      help: 'Peer connections of the node\'s BitTorrent client now, over all its torrents (downloads and seeds); 0 while the client has not started.',
      registers,
      collect() {
        const wt = self.bt && !self.bt.wt.destroyed ? self.bt.wt : undefined;
        this.set(wt ? wt.torrents.reduce((n, t) => n + (t.destroyed ? 0 : t.numPeers), 0) : 0);
      },
    });
    const seedGauge = (name: string, help: string, pick: (s: SeedingTask) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['role', 'task'],
        registers,
        async collect() {
          this.reset();
          for (const s of await self.seedingTasks()) {
            const v = pick(s);
            if (v !== undefined && Number.isFinite(v)) this.set({ role: s.role, task: s.task }, v);
          }
        },
      });
    seedGauge('bft2_seed_peers', 'Peers connected to a seeding task\'s torrent now.', (s) => s.peers);
    seedGauge('bft2_seed_time_left_seconds', 'Seed time left of a seeding task (seedtime hours from sendtime for a sender; from completion for a cacher).', (s) => s.seedLeftSeconds);
    seedGauge('bft2_seed_uploaded_bytes', 'Bytes a seeding task has served to peers since its seed started (resets when the seed restarts).', (s) => s.uploadedBytes);
    seedGauge('bft2_seed_present_ratio', 'Share of a seeding task\'s torrent data present and served, 0 to 1.', (s) => s.present);

    const downloadGauge = (name: string, help: string, perMethod: boolean, pick: (f: DownloadFigures, m: TransferMethodName) => number) =>
      new Gauge({
        name,
        help,
        labelNames: perMethod ? ['role', 'task', 'method'] : ['role', 'task'],
        registers,
        collect() {
          this.reset();
          for (const p of self.downloadProviders) {
            let figures: DownloadFigures[] = [];
            try {
              figures = p.downloads();
            } catch (err) {
              self.opts.log?.debug(`metrics: a download provider failed: ${messageOf(err)}`);
            }
            for (const f of figures) {
              if (perMethod) for (const m of METHODS) this.set({ role: f.role, task: f.task, method: m }, pick(f, m));
              else this.set({ role: f.role, task: f.task }, pick(f, 'bt'));
            }
          }
        },
      });
    downloadGauge('bft2_download_bytes', 'Bytes of a downloading task\'s files on disk, by the method that fetched them (what progress <method>percent counts).', true, (f, m) => f.bytes[m]);
    downloadGauge('bft2_download_rate_bytes_per_second', 'Bytes per second a downloading task receives now, per method (what progress <method>rate shows).', true, (f, m) => f.rates[m]);
    downloadGauge('bft2_download_quiet_seconds', 'Seconds since a downloading task last landed a byte while a method should be moving (its window open, not failed); 0 while bytes flow or every method waits for its window. progress says why in `stalled` once it reaches tuning quiet (30 s).', false, (f) => f.quietSeconds);

    this.announces = new Counter({
      name: 'bft2_tracker_announces_total',
      help: 'Answers of BitTorrent trackers to this node\'s announces (every torrent): result ok, or error (the tracker refused, e.g. a whitelist, or could not be reached).',
      labelNames: ['result'],
      registers,
    });
    this.announces.inc({ result: 'ok' }, 0);
    this.announces.inc({ result: 'error' }, 0);
    new Gauge({
      name: 'bft2_tracker_failing_torrents',
      help: 'Torrents of this node whose last announce failed (logged as `tracker error`).',
      registers,
      collect() {
        this.set(self.trackerFailing());
      },
    });

    new Gauge({
      name: 'bft2_watch_polling',
      help: '1 when a directory watcher polls because inotify is out of watches (fs.inotify.max_user_watches; the log says how to raise it), else 0.',
      registers,
      collect() {
        this.set(polledDirs().length > 0 ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bft2_hashtable_files',
      help: 'Files listed in the hash table (etc/bft2/hashtable.txt).',
      registers,
      async collect() {
        this.set((await self.hashTableSize()).files);
      },
    });
    new Gauge({
      name: 'bft2_hashtable_bytes',
      help: 'Total size of the files listed in the hash table.',
      registers,
      async collect() {
        this.set((await self.hashTableSize()).bytes);
      },
    });

    const diskGauge = (name: string, help: string, pick: (d: DiskArea) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['area', 'path'],
        registers,
        async collect() {
          this.reset();
          for (const d of await self.disks()) this.set({ area: d.area, path: d.path }, pick(d));
        },
      });
    diskGauge('bft2_disk_free_bytes', 'Bytes free for bft2 (statfs bavail) on the filesystem of the store (area store: basedatapath) and of the transfer area (area transfer: data/transfer).', (d) => d.free);
    diskGauge('bft2_disk_size_bytes', 'Size of the filesystem of the store and of the transfer area.', (d) => d.total);
    diskGauge('bft2_disk_reserve_bytes', 'Free space bft2 keeps on that filesystem (config diskreserve): downloads pause below it.', (d) => d.reserve);

    this.logLines = new Counter({
      name: 'bft2_log_messages_total',
      help: 'Lines the daemon logged at level warn or error (bftv2.log and mhashtable.log).',
      labelNames: ['level'],
      registers,
    });
    this.logLines.inc({ level: 'warn' }, 0);
    this.logLines.inc({ level: 'error' }, 0);

    this.received = new Counter({
      name: 'bft2_received_bytes_total',
      help: 'Bytes downloaded by receiver and cacher tasks per method and price period (period: the HH:MM its price starts at, config btprice/obsprice/cdnprice).',
      labelNames: ['method', 'period'],
      registers,
    });
    this.cost = new Counter({
      name: 'bft2_cost_total',
      help: 'What the bytes downloaded by receiver and cacher tasks cost per method, at the config\'s prices per GB, in the config\'s currency.',
      labelNames: ['method'],
      registers,
    });
    for (const method of METHODS) this.cost.inc({ method }, 0);
  }

  /** Bytes a download billed, with their price period (the task's ledger: src/cost/cost-ledger.ts). */
  billed(p: PeriodBytes): void {
    this.received.inc({ method: p.method, period: p.from }, p.bytes);
    this.cost.inc({ method: p.method }, costOfPeriod(p));
  }

  /** Bytes moved by a method; called where they move (a download's onBytes, an upload's parts). */
  transferred(method: TransferMethodName, direction: Direction, n: number): void {
    if (n > 0) this.bytes.inc({ method, direction }, n);
  }

  /** A line logged at warn or error. */
  logged(level: 'warn' | 'error'): void {
    this.logLines.inc({ level });
  }

  /** An answer of a tracker to an announce (src/observe/tracker-reports.ts). */
  announced(ok: boolean): void {
    this.announces.inc({ result: ok ? 'ok' : 'error' });
  }

  /** How many torrents are failing their announces now, read at scrape. */
  watchTrackers(failing: () => number): void {
    this.trackerFailing = failing;
  }

  /** A role's running downloads, asked on every scrape until the returned function is called. */
  registerDownloads(provider: DownloadProvider): () => void {
    this.downloadProviders.add(provider);
    return () => void this.downloadProviders.delete(provider);
  }

  /** A role's seeds, asked on every scrape until the returned function is called. */
  registerSeeding(provider: SeedingProvider): () => void {
    this.providers.add(provider);
    return () => void this.providers.delete(provider);
  }

  /** The parts made after the context (the hash table). */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /**
   * The node's BitTorrent client, as soon as it is made: the bytes it sends are counted from
   * its own 'upload' events (piece data to peers), so a torrent that comes and goes between
   * two scrapes is counted too; its bytes received are counted where they land (a
   * download's `transferred`). Returns the client.
   */
  watchBtClient(client: BtClient): BtClient {
    this.bt = client;
    client.wt.on('upload', (n: number) => (this.btPending.up += n));
    return client;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text; concurrent scrapes share one collection. */
  render(): Promise<string> {
    this.rendering ??= (async () => {
      this.scrape = new Map();
      try {
        return await this.registry.metrics();
      } finally {
        this.rendering = undefined;
      }
    })();
    return this.rendering;
  }

  close(): void {
    this.unsubscribe();
    this.providers.clear();
    this.downloadProviders.clear();
  }

  // ----- scrape-time readings, each read once per scrape -----

  private once<T>(key: string, read: () => Promise<T>, fallback: T): Promise<T> {
    let p = this.scrape.get(key) as Promise<T> | undefined;
    if (!p) {
      p = read().catch((err) => {
        this.opts.log?.debug(`metrics: reading ${key} failed: ${messageOf(err)}`);
        return fallback;
      });
      this.scrape.set(key, p);
    }
    return p;
  }

  private spoolCounts() {
    return this.once('spools', () => countSpools(this.opts.paths, this.opts.config()), []);
  }

  private seedingTasks(): Promise<SeedingTask[]> {
    return this.once(
      'seeding',
      async () => {
        const all: SeedingTask[] = [];
        for (const p of this.providers) {
          try {
            all.push(...(await p.seedingTasks()));
          } catch (err) {
            this.opts.log?.debug(`metrics: a seeding provider failed: ${messageOf(err)}`);
          }
        }
        return all;
      },
      [],
    );
  }

  private hashTableSize(): Promise<{ files: number; bytes: number }> {
    return this.once(
      'hashtable',
      async () => {
        const table = this.sources.hashTable ? await this.sources.hashTable.load() : undefined;
        let bytes = 0;
        for (const e of table?.entries.values() ?? []) bytes += e.size;
        return { files: table?.entries.size ?? 0, bytes };
      },
      { files: 0, bytes: 0 },
    );
  }

  private disks(): Promise<DiskArea[]> {
    return this.once(
      'disks',
      async () => {
        const config = this.opts.config();
        let reserve: ReturnType<typeof parseReserve> | undefined;
        try {
          reserve = parseReserve(config.diskreserve);
        } catch {
          reserve = undefined; // the config check refuses it; nothing to report meanwhile
        }
        const areas: [string, string][] = [
          ['store', this.opts.paths.basedata(config)],
          ['transfer', this.opts.paths.transferDir],
        ];
        const out: DiskArea[] = [];
        for (const [area, p] of areas) {
          const s = await freeSpace(p).catch(() => undefined);
          if (s) out.push({ area, path: p, free: s.free, total: s.total, reserve: reserve ? reserveBytes(reserve, s.total) : 0 });
        }
        return out;
      },
      [],
    );
  }
}

interface DiskArea {
  area: string;
  path: string;
  free: number;
  total: number;
  reserve: number;
}

/** A method name as a label value: the three methods, anything else `other` (labels stay few). */
function methodLabel(method: string): string {
  return (METHODS as readonly string[]).includes(method) ? method : 'other';
}
