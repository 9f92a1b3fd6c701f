// One indexing pass over (part of) the store: a stat-only walk, the reconcile plan, the
// hashing of what is new or changed in the hashing threads, then one update of the table.
// Used by the hash watcher, `inithashtable` and `addhashtable`.
import path from 'node:path';
import { lstat } from 'node:fs/promises';
import { walkStore } from './store-walk.ts';
import { reconcile, type IndexEntry } from './reconcile.ts';
import type { FileHasher } from '../hashing/hash-workers.ts';
import type { HashTableStore, TableMeta } from './hash-table.ts';
import type { Logger } from '../log/logger.ts';

export interface PassOptions {
  /** Directory to walk. */
  dir: string;
  /** Whether an index entry is the walk's business (entries outside are kept as they are). */
  inScope?: (p: string) => boolean;
  /** Hash everything in scope again, whatever the index says. */
  force?: boolean;
  stableMs: number;
  meta?: TableMeta;
  onProgress?: (p: { files: number; totalFiles: number; bytes: number; totalBytes: number }) => void;
}

export interface PassResult {
  files: number;
  hashed: number;
  hashedBytes: number;
  moved: number;
  removed: number;
  /** Files still being written or changed while hashed: another pass is due. */
  unstable: number;
}

export const under = (dir: string) => (p: string) => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

export async function indexPass(store: HashTableStore, hasher: FileHasher, log: Logger, opts: PassOptions): Promise<PassResult> {
  const inScope = opts.inScope ?? under(opts.dir);
  const walked = await walkStore(opts.dir);
  const { entries, meta } = await store.load();
  const metaChanged = opts.meta !== undefined && JSON.stringify(opts.meta) !== JSON.stringify(meta);
  const known = opts.force ? [...entries.values()].filter((e) => !inScope(e.path)) : entries.values();
  // Entries outside the walk whose inode turns up inside it, and whose path is gone: the
  // directory was renamed into scope (addhashtable of a renamed DCP re-reads nothing).
  const inodes = new Set(walked.map((w) => w.ino));
  const goneOutside = new Set<string>();
  for (const e of entries.values()) {
    if (!inScope(e.path) && inodes.has(e.ino) && !(await lstat(e.path).catch(() => undefined))) goneOutside.add(e.path);
  }
  const plan = reconcile(known, walked, { now: Date.now(), stableMs: opts.stableMs, inScope, goneOutside });
  // Files whose hashes their writer is recording are left to it; the pass that follows the
  // recording (HashWatcher) finds them in the table, or hashes what it did not record.
  plan.hash = plan.hash.filter((f) => !store.isIncoming(f.path));

  const totalBytes = plan.hash.reduce((s, f) => s + f.size, 0);
  let doneBytes = 0;
  let doneFiles = 0;
  let unstable = plan.unstable.length;
  const hashed: IndexEntry[] = [];
  await Promise.all(
    plan.hash.map(async (f) => {
      const r = await hasher.hashFile(f.path);
      doneFiles += 1;
      doneBytes += f.size;
      opts.onProgress?.({ files: doneFiles, totalFiles: plan.hash.length, bytes: doneBytes, totalBytes });
      if (r.ok) hashed.push({ ...r.stat, sha1: r.sha1 });
      else if (r.changed) unstable += 1;
      else log.warn(`cannot hash ${f.path}: ${r.reason}`);
    }),
  );

  if (plan.moved.length || plan.removed.length || hashed.length || metaChanged) {
    await store.update((s) => {
      // Only drop what this pass saw as it was: another writer may have put newer entries.
      for (const e of plan.removed) {
        const cur = s.entries.get(e.path);
        if (cur && cur.sha1 === e.sha1 && cur.ino === e.ino && cur.mtimeMs === e.mtimeMs) s.entries.delete(e.path);
      }
      for (const { from, ...e } of plan.moved) {
        const old = s.entries.get(from);
        if (old && old.ino === e.ino && old.sha1 === e.sha1) s.entries.delete(from);
        s.entries.set(e.path, e);
      }
      for (const e of hashed) s.entries.set(e.path, e);
      if (opts.meta) s.meta = opts.meta;
    });
  }
  return { files: walked.length, hashed: hashed.length, hashedBytes: hashed.reduce((s, e) => s + e.size, 0), moved: plan.moved.length, removed: plan.removed.length, unstable };
}
