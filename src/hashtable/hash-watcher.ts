// Keeps the hash table current while the daemon runs (SPEC §6): chokidar on the store;
// any event schedules an indexing pass (debounced), which is a stat-only walk that hashes
// only new or changed files once they are stable, and recognises renamed files and
// directories by inode without reading them. A start-up pass and a periodic rescan catch
// whatever the watcher missed. When inotify runs out of watches (ENOSPC) it says how to
// raise the limit and carries on by polling rather than going blind. On `hwecs` (a FUSE
// store without inotify) it does not watch: `bft2 addhashtable DIR` feeds the table.
// Owns: the watcher and its pass schedule. Writes the table only through HashTableStore.
import { watch, type FSWatcher } from 'chokidar';
import { mkdir } from 'node:fs/promises';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { FileHasher } from '../hashing/hash-workers.ts';
import { HashTableStore, type TableMeta } from './hash-table.ts';
import { indexPass, type PassResult } from './indexer.ts';
import { isCovered } from './store-walk.ts';
import { isWatchLimit, reportPolling, whenStarted } from '../spool/watch-health.ts';
import path from 'node:path';
import { tuning } from '../config/tuning.ts';

export class HashWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private closed = false;
  private polling = false;
  /** Totals since start, for logs and tests. */
  readonly totals = { passes: 0, hashed: 0, hashedBytes: 0, moved: 0, removed: 0 };
  private readonly stableMs = tuning().hashstable;
  private readonly debounceMs = tuning().hashdebounce;
  private readonly rescanMs = tuning().storerescan;
  private stopListening?: () => void;

  constructor(
    private readonly base: string,
    private readonly config: () => Config,
    private readonly store: HashTableStore,
    private readonly hasher: FileHasher,
    private readonly log: Logger,
  ) {}

  private meta(): TableMeta {
    const c = this.config();
    return { servertype: c.servertype, receiverstoreplan: c.receiverstoreplan, basedatapath: c.basedatapath };
  }

  async start(): Promise<void> {
    await mkdir(this.base, { recursive: true });
    this.stopListening = this.store.onRecordingEnd(() => this.schedule(this.debounceMs));
    const { meta } = await this.store.load();
    const now = this.meta();
    const changed = meta && (meta.servertype !== now.servertype || meta.receiverstoreplan !== now.receiverstoreplan || meta.basedatapath !== now.basedatapath);
    if (changed) this.log.info(`servertype/receiverstoreplan/basedatapath changed (${JSON.stringify(meta)} → ${JSON.stringify(now)}): rebuilding the hash table`);
    // Start-up reconciliation; a rebuild drops every entry the new store does not hold.
    await this.runPass(changed || !meta ? { inScope: () => true } : {}, 'start-up');
    if (this.config().machinetype === 'hwecs') {
      this.log.info('machinetype hwecs: the store is not watched; feed the table with `bft2 addhashtable DIR`');
      return;
    }
    await this.startWatcher(false);
    // Whatever changed while the watcher was setting up is caught by one more pass.
    this.schedule(0);
    this.rescanTimer = setInterval(() => this.schedule(0), this.rescanMs);
    this.rescanTimer.unref();
  }

  private async startWatcher(usePolling: boolean): Promise<void> {
    this.polling = usePolling;
    this.watcher = watch(this.base, {
      ignoreInitial: true,
      usePolling,
      interval: 5000,
      binaryInterval: 5000,
      ignored: (p: string, st?: { isFile(): boolean }) => p !== this.base && (path.basename(p).startsWith('.') || (st?.isFile() === true && !isCovered(this.base, p))),
    });
    for (const ev of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) this.watcher.on(ev, () => this.schedule(this.debounceMs));
    this.watcher.on('error', (err) => this.onWatchError(err as NodeJS.ErrnoException));
    await whenStarted(this.watcher);
  }

  private onWatchError(err: NodeJS.ErrnoException): void {
    if (isWatchLimit(err) && !this.polling) {
      // ENOSPC from inotify is the watch limit, not a full disk.
      reportPolling(this.base, 'inotify limit', this.log);
      void this.watcher?.close();
      void this.startWatcher(true).then(() => this.schedule(0));
      return;
    }
    this.log.error(`hash watcher: ${err.message}`);
  }

  /** Runs a pass soon; events arriving meanwhile are folded into it or the next one. */
  schedule(ms: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runPass({}), ms);
  }

  /** Waits until no pass is running or due (for tests and orderly stops). */
  async idle(): Promise<void> {
    while (this.running || this.again) await (this.running ?? new Promise((r) => setTimeout(r, 50)));
  }

  private async runPass(opts: { inScope?: (p: string) => boolean }, label = 'pass'): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let result: PassResult | undefined;
      try {
        result = await indexPass(this.store, this.hasher, this.log, { dir: this.base, stableMs: this.stableMs, meta: this.meta(), ...opts });
        this.totals.passes += 1;
        this.totals.hashed += result.hashed;
        this.totals.hashedBytes += result.hashedBytes;
        this.totals.moved += result.moved;
        this.totals.removed += result.removed;
        if (label !== 'pass' || result.hashed || result.moved || result.removed || result.unstable) {
          this.log.info(`${label}: ${result.files} files, hashed ${result.hashed} (${result.hashedBytes} bytes), moved ${result.moved}, removed ${result.removed}, still changing ${result.unstable}`);
        }
      } catch (err) {
        this.log.error(`hash pass failed: ${(err as Error).message}`);
      } finally {
        this.running = undefined;
      }
      if (this.again) {
        this.again = false;
        this.schedule(this.debounceMs);
      } else if (result?.unstable) this.schedule(this.stableMs);
    })();
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopListening?.();
    clearTimeout(this.timer);
    clearInterval(this.rescanTimer);
    await this.watcher?.close();
    await this.running;
  }
}
