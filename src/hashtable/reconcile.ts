// Decides, from the index and a stat-only walk, what the table needs: entries kept as
// they are, entries whose file moved (same inode, size and mtime at a new path: a renamed
// file or directory, so nothing is re-read), files to hash, entries to drop. Pure.
import type { FileStat } from './store-walk.ts';

export interface IndexEntry extends FileStat {
  sha1: string;
}

export interface ReconcilePlan {
  keep: IndexEntry[];
  /** Entries at their new path, with the path they were indexed at. */
  moved: (IndexEntry & { from: string })[];
  /** New or changed files that are stable: hash them. */
  hash: FileStat[];
  /** New or changed files still being written: look again later. */
  unstable: FileStat[];
  removed: IndexEntry[];
}

const sameContent = (a: FileStat, b: FileStat) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/**
 * `scope` limits the walk's authority: entries outside it are kept untouched (an
 * `addhashtable DIR` walks one DCP). A file counts as stable when its mtime is at least
 * `stableMs` before `now`.
 */
export function reconcile(
  index: Iterable<IndexEntry>,
  walked: FileStat[],
  opts: {
    now: number;
    stableMs: number;
    inScope: (p: string) => boolean;
    /** Out-of-scope paths known to be gone: their entries may be claimed by a rename into scope. */
    goneOutside?: ReadonlySet<string>;
  },
): ReconcilePlan {
  const plan: ReconcilePlan = { keep: [], moved: [], hash: [], unstable: [], removed: [] };
  const byPath = new Map<string, IndexEntry>();
  const byInode = new Map<number, IndexEntry[]>();
  for (const e of index) {
    byPath.set(e.path, e);
    if (!opts.inScope(e.path)) plan.keep.push(e);
  }
  for (const e of byPath.values()) {
    if (!opts.inScope(e.path) && !opts.goneOutside?.has(e.path)) continue;
    const list = byInode.get(e.ino) ?? [];
    list.push(e);
    byInode.set(e.ino, list);
  }
  const claimed = new Set<IndexEntry>();
  const walkedPaths = new Set(walked.map((w) => w.path));
  for (const f of walked) {
    const known = byPath.get(f.path);
    if (known && sameContent(known, f)) {
      plan.keep.push(known);
      claimed.add(known);
      continue;
    }
    const origin = (byInode.get(f.ino) ?? []).find((e) => !claimed.has(e) && sameContent(e, f) && e.path !== f.path);
    // A file that still stands at its old path is a copy or a hard link, not a rename.
    if (origin && !walkedPaths.has(origin.path)) {
      claimed.add(origin);
      plan.moved.push({ ...origin, path: f.path, from: origin.path });
      continue;
    }
    if (opts.now - f.mtimeMs >= opts.stableMs) plan.hash.push(f);
    else plan.unstable.push(f);
  }
  // Gone, or changed since it was hashed (not trusted until hashed again).
  for (const e of byPath.values()) if (opts.inScope(e.path) && !claimed.has(e)) plan.removed.push(e);
  // An out-of-scope entry claimed by a rename was kept above; it is moved, not kept.
  plan.keep = plan.keep.filter((e) => !claimed.has(e) || opts.inScope(e.path));
  return plan;
}
