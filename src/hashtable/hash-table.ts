// hashtable.txt and its index (SPEC §6): the sha1 of every covered file of the store, in
// sha1sum format, and beside it the size, mtime and inode each hash was taken at, so
// restarts, rescans and renames re-hash nothing unchanged. One writer at a time (a lock
// in the lock dir); every write is read-modify-write of the files on disk, so the daemon's
// watcher, the receiver and `bft2 inithashtable` can all write without losing each
// other's changes. Both files are replaced atomically.
// Owns: hashtable.txt, hashtable.index.json. Reads the store only through stat.
import { readFile, stat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { Paths } from '../config/paths.ts';
import { writeFileDurable } from '../spool/durable-fs.ts';
import { formatTable, parseLine } from './sha1sum-format.ts';
import type { IndexEntry } from './reconcile.ts';
import type { Logger } from '../log/logger.ts';

/** What the table was built for; a change of any of these rebuilds it (seed §4.0). */
export interface TableMeta {
  servertype: string;
  receiverstoreplan: string;
  basedatapath: string;
}

export interface TableSnapshot {
  meta?: TableMeta;
  entries: Map<string, IndexEntry>;
}

type IndexRow = [path: string, sha1: string, size: number, mtimeMs: number, ino: number];

export class HashTableStore {
  private cache?: { mtimeMs: number; size: number; snapshot: TableSnapshot };
  /** Directories whose hashes a writer in this process is about to record. */
  private readonly incoming = new Set<string>();
  /** Called when a recording ends (the hash watcher looks at what it left). */
  private readonly recordedListeners = new Set<() => void>();

  constructor(
    private readonly paths: Paths,
    private readonly log: Logger,
  ) {}

  get tableFile() {
    return this.paths.hashTable;
  }
  get indexFile() {
    return this.paths.hashTable.replace(/\.txt$/, '') + '.index.json';
  }

  /** The table as on disk (cached while the index file is unchanged). */
  async load(): Promise<TableSnapshot> {
    const st = await stat(this.indexFile).catch(() => undefined);
    if (st && this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size) return this.cache.snapshot;
    const snapshot = st ? await this.readIndex() : await this.readLegacyTable();
    if (st) this.cache = { mtimeMs: st.mtimeMs, size: st.size, snapshot };
    return snapshot;
  }

  private async readIndex(): Promise<TableSnapshot> {
    try {
      const raw = JSON.parse(await readFile(this.indexFile, 'utf8')) as { meta?: TableMeta; files: IndexRow[] };
      const entries = new Map<string, IndexEntry>();
      for (const [p, sha1, size, mtimeMs, ino] of raw.files) entries.set(p, { path: p, sha1, size, mtimeMs, ino });
      return { meta: raw.meta, entries };
    } catch (err) {
      this.log.warn(`hash index ${this.indexFile} unreadable (${(err as Error).message}): the store is re-hashed`);
      return { entries: new Map() };
    }
  }

  /**
   * A table without index (written by hand or by an older install): its hashes cannot be
   * trusted without the stat they were taken at, so its entries only seed nothing.
   */
  private async readLegacyTable(): Promise<TableSnapshot> {
    const text = await readFile(this.tableFile, 'utf8').catch(() => '');
    const n = text.split('\n').filter((l) => parseLine(l)).length;
    if (n) this.log.info(`hashtable.txt has ${n} lines but no index: they are verified by re-hashing`);
    return { entries: new Map() };
  }

  /**
   * Runs `work`, which puts files into `dir` and then records their hashes itself (a
   * receiver storing a DCP it has verified): meanwhile an indexing pass leaves that
   * directory alone instead of reading gigabytes it is about to be told (it did, when it
   * ran between the files' arrival and the record). When `work` ends, recorded or not, the
   * listeners are told, so what it did not record is hashed then.
   */
  async recording<T>(dir: string, work: () => Promise<T>): Promise<T> {
    this.incoming.add(dir);
    try {
      return await work();
    } finally {
      this.incoming.delete(dir);
      for (const listener of this.recordedListeners) listener();
    }
  }

  /** Calls `listener` whenever a recording ends; returns how to stop. */
  onRecordingEnd(listener: () => void): () => void {
    this.recordedListeners.add(listener);
    return () => this.recordedListeners.delete(listener);
  }

  /** Whether `file` is in a directory being recorded (see recording). */
  isIncoming(file: string): boolean {
    for (const dir of this.incoming) if (file.startsWith(dir + path.sep)) return true;
    return false;
  }

  /** Applies `change` to the table on disk under the writer lock, and writes both files. */
  async update(change: (s: TableSnapshot) => void | Promise<void>): Promise<TableSnapshot> {
    await mkdir(this.paths.lockDir, { recursive: true });
    await mkdir(path.dirname(this.indexFile), { recursive: true });
    const release = await lockfile.lock(path.join(this.paths.lockDir, 'hashtable'), {
      realpath: false,
      lockfilePath: path.join(this.paths.lockDir, 'hashtable.lock'),
      retries: { retries: 200, minTimeout: 20, maxTimeout: 250 },
      stale: 30_000,
      onCompromised: (err) => this.log.warn(`hash table lock compromised: ${err.message}`),
    });
    try {
      this.cache = undefined;
      const current = await this.load();
      const snapshot: TableSnapshot = { meta: current.meta, entries: new Map(current.entries) };
      await change(snapshot);
      const sorted = [...snapshot.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const rows: IndexRow[] = sorted.map((e) => [e.path, e.sha1, e.size, e.mtimeMs, e.ino]);
      // Index first: if we stop between the two writes, the next write brings the text up to date.
      await writeFileDurable(this.indexFile, JSON.stringify({ version: 1, meta: snapshot.meta, files: rows }));
      await writeFileDurable(this.tableFile, formatTable(sorted));
      this.cache = undefined;
      return snapshot;
    } finally {
      await release().catch(() => {});
    }
  }

  /**
   * Files of the store with this sha1 that can be trusted now: still present with the
   * size, mtime and inode they had when hashed. A listed file that is gone or changed is
   * not trusted.
   */
  async trustedCopies(sha1: string, size: number): Promise<IndexEntry[]> {
    const { entries } = await this.load();
    const out: IndexEntry[] = [];
    for (const e of entries.values()) {
      if (e.sha1 !== sha1 || e.size !== size) continue;
      const st = await stat(e.path).catch(() => undefined);
      if (st && st.isFile() && st.size === e.size && st.mtimeMs === e.mtimeMs && st.ino === e.ino) out.push(e);
    }
    return out;
  }
}
