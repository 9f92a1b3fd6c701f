// Splitting a DCP's files between BitTorrent, object storage and the CDN (SPEC §7,
// "Allocation"), as pure functions: the `bt-obs-cdn` ratio and the files in torrent order
// in, three file lists out. No I/O here.
//
// Targets are total × share / sum(shares). "Closest" means, in this order:
//   1. the smallest maximum absolute deviation of the three methods from their targets;
//   2. ties toward BT: the smallest |BT deviation|, then the larger BT size;
//   3. then toward OBS: the smallest |OBS deviation|, then the larger OBS size.
// Deviations are compared scaled by sum(shares) (size × sum − total × share), which is
// integer arithmetic and so exact while total × sum(shares) < 2^53 (over 2 PB at 2:1:1).
//
// Contiguous mode (`ctfilesorder`): the layout is BT | OBS | CDN in torrent order, so BT
// is a prefix and OBS then CDN take the rest from the back; the two cuts are the exact
// optimum of the order above over all such layouts. Free mode: the best partition is
// NP-hard, so it is a heuristic (largest file first to the largest deficit, then
// single-file moves and swaps among the largest files while they improve), and the
// contiguous optimum is kept unless the heuristic beats it: free mode is never worse.
//
// A method with share 0 gets no file; a method that ends up with 0 bytes gets no file
// either (its target may simply be smaller than the smallest file). Zero-byte files go
// with their neighbours: the method of the nearest non-empty file before them, or after
// them at the very front. If every file is empty, all go to the first method with a share.
import { METHODS, type Method } from './schema.ts';

export type Ratio = Record<Method, number>;
export interface SizedFile {
  file: string;
  size: number;
}
export interface Allocation extends Record<Method, string[]> {
  sizes: Record<Method, number>;
}

const RATIO_SYNTAX = /^\s*(\d+)\s*:\s*(\d+)\s*:\s*(\d+)\s*$/;

/** "2:1:1" (whitespace around the numbers tolerated) → { bt: 2, obs: 1, cdn: 1 }. */
export function parseRatio(s: string): Ratio {
  const shown = JSON.stringify(s) ?? String(s);
  const m = typeof s === 'string' ? RATIO_SYNTAX.exec(s) : null;
  if (!m) throw new Error(`bt-obs-cdn ${shown} is not three whole numbers bt:obs:cdn, e.g. 2:1:1`);
  const ratio: Ratio = { bt: Number(m[1]), obs: Number(m[2]), cdn: Number(m[3]) };
  checkRatio(ratio, shown);
  return ratio;
}

function checkRatio(ratio: Ratio, shown: string): void {
  for (const k of METHODS) {
    if (!Number.isSafeInteger(ratio[k]) || ratio[k] < 0) throw new Error(`bt-obs-cdn ${shown}: the ${k} share must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`);
  }
  if (ratio.bt + ratio.obs + ratio.cdn === 0) throw new Error(`bt-obs-cdn ${shown} gives no method a share`);
}

/** Bytes per method of the given lists; a name not in `files` is a caller bug and throws. */
export function listSizes(files: readonly SizedFile[], lists: Record<Method, readonly string[]>): Record<Method, number> {
  const size = new Map(files.map((f) => [f.file, f.size]));
  const out = { bt: 0, obs: 0, cdn: 0 };
  for (const k of METHODS) {
    for (const f of lists[k]) {
      const s = size.get(f);
      if (s === undefined) throw new Error(`${k} list names ${JSON.stringify(f)}, which is not among the files`);
      out[k] += s;
    }
  }
  return out;
}

/** Assigns every file to exactly one method; see the header for what "closest" means. */
export function allocate(files: readonly SizedFile[], ratio: Ratio, opts: { ctfilesorder: boolean }): Allocation {
  checkRatio(ratio, `${ratio.bt}:${ratio.obs}:${ratio.cdn}`);
  checkFiles(files);
  const total = files.reduce((a, f) => a + f.size, 0);
  let owner: Method[];
  if (total === 0) {
    const first = METHODS.find((k) => ratio[k] > 0)!;
    owner = files.map(() => first);
  } else {
    const sc: Scale = { total, sum: ratio.bt + ratio.obs + ratio.cdn, share: ratio };
    const contiguous = contiguousOwners(files, sc);
    owner = contiguous;
    if (!opts.ctfilesorder) {
      const free = freeOwners(files, sc);
      if (less(keyOfOwners(files, free, sc), keyOfOwners(files, contiguous, sc))) owner = free;
    }
  }
  const out: Allocation = { bt: [], obs: [], cdn: [], sizes: { bt: 0, obs: 0, cdn: 0 } };
  files.forEach((f, i) => {
    out[owner[i]!].push(f.file);
    out.sizes[owner[i]!] += f.size;
  });
  return out;
}

function checkFiles(files: readonly SizedFile[]): void {
  const seen = new Set<string>();
  let total = 0;
  for (const f of files) {
    if (seen.has(f.file)) throw new Error(`${JSON.stringify(f.file)} appears twice in the files to allocate`);
    seen.add(f.file);
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new Error(`${JSON.stringify(f.file)} has size ${f.size}, not a whole number of bytes`);
    total += f.size;
  }
  if (!Number.isSafeInteger(total)) throw new Error(`the files add up to more than ${Number.MAX_SAFE_INTEGER} bytes`);
}

interface Scale {
  total: number;
  sum: number;
  share: Ratio;
}

/** [max |dev|, |dev bt|, -bt, |dev obs|, -obs], deviations scaled by sum(shares); smaller is closer. */
type Key = [number, number, number, number, number];

function closenessKey(bt: number, obs: number, cdn: number, sc: Scale): Key {
  const dev = (size: number, k: Method) => Math.abs(size * sc.sum - sc.total * sc.share[k]);
  const db = dev(bt, 'bt');
  const dobs = dev(obs, 'obs');
  return [Math.max(db, dobs, dev(cdn, 'cdn')), db, -bt, dobs, -obs];
}

function less(a: Key, b: Key): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

function keyOfOwners(files: readonly SizedFile[], owner: readonly Method[], sc: Scale): Key {
  const s = { bt: 0, obs: 0, cdn: 0 };
  files.forEach((f, i) => (s[owner[i]!] += f.size));
  return closenessKey(s.bt, s.obs, s.cdn, sc);
}

/**
 * The optimal BT | OBS | CDN layout. A layout is fixed by two byte offsets from the set P
 * of distinct prefix sums: BT's end `b` and OBS's end `x`. For a fixed b the key is convex
 * in x and flat between the points where OBS and CDN hit their targets, so the optimum is
 * a neighbour in P of one of those two points: a handful of candidates per b.
 */
function contiguousOwners(files: readonly SizedFile[], sc: Scale): Method[] {
  const { total, share } = sc;
  const P: number[] = [0];
  // The largest index with a given prefix sum: a cut there leaves the zero-byte files
  // after a non-empty file with that file's method.
  const lastIndex = new Map<number, number>([[0, 0]]);
  let run = 0;
  files.forEach((f, i) => {
    run += f.size;
    if (run !== P[P.length - 1]) P.push(run);
    lastIndex.set(run, i + 1);
  });
  const m = P.length;
  let best: { key: Key; b: number; x: number } | undefined;
  for (let kb = 0; kb < m; kb++) {
    const b = P[kb]!;
    if (share.bt === 0 && b !== 0) break;
    let cands: number[];
    if (share.obs === 0 && share.cdn === 0) cands = b === total ? [kb] : [];
    else if (share.obs === 0) cands = [kb];
    else if (share.cdn === 0) cands = [m - 1];
    else {
      cands = [];
      // Where OBS and CDN meet their targets; ±1 around the search absorbs float rounding.
      for (const v of [b + (total * share.obs) / sc.sum, total - (total * share.cdn) / sc.sum]) {
        const at = lowerBound(P, v);
        for (let d = -1; d <= 1; d++) cands.push(Math.min(m - 1, Math.max(kb, at + d)));
      }
    }
    for (const kx of cands) {
      const x = P[kx]!;
      const key = closenessKey(b, x - b, total - x, sc);
      if (!best || less(key, best.key)) best = { key, b, x };
    }
  }
  // Offset 0 cuts at index 0, so leading zero-byte files go to the first non-empty method.
  const cutB = best!.b === 0 ? 0 : lastIndex.get(best!.b)!;
  const cutX = best!.x === 0 ? 0 : lastIndex.get(best!.x)!;
  return files.map((_, i) => (i < cutB ? 'bt' : i < cutX ? 'obs' : 'cdn'));
}

/** First index of sorted `a` whose value is >= v (a.length if none). */
function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bounds on free mode's improvement passes, so that a pathological input stays fast. */
const MAX_PASSES = 64;
const SWAP_FILES = 200;

/** Free mode: largest first to the largest deficit (ties to BT, then OBS), then moves and swaps. */
function freeOwners(files: readonly SizedFile[], sc: Scale): Method[] {
  const active = METHODS.filter((k) => sc.share[k] > 0);
  const order = files
    .map((f, i) => i)
    .filter((i) => files[i]!.size > 0)
    .sort((a, b) => files[b]!.size - files[a]!.size || a - b);
  const owner: (Method | undefined)[] = files.map(() => undefined);
  const s = { bt: 0, obs: 0, cdn: 0 };
  for (const i of order) {
    let pick = active[0]!;
    let deficit = -Infinity;
    for (const k of active) {
      const d = sc.total * sc.share[k] - s[k] * sc.sum;
      if (d > deficit) [pick, deficit] = [k, d];
    }
    owner[i] = pick;
    s[pick] += files[i]!.size;
  }
  let key = closenessKey(s.bt, s.obs, s.cdn, sc);
  // Moving `out` bytes from method a to b and `back` bytes the other way, if that is closer.
  const tryShift = (a: Method, b: Method, out: number, back: number): boolean => {
    const t = { ...s };
    t[a] += back - out;
    t[b] += out - back;
    const k2 = closenessKey(t.bt, t.obs, t.cdn, sc);
    if (!less(k2, key)) return false;
    Object.assign(s, t);
    key = k2;
    return true;
  };
  // Swaps find what single moves cannot (two big files on the wrong methods); they cost
  // a square, so only the largest files are tried.
  const swappable = order.slice(0, SWAP_FILES);
  for (let pass = 0, improved = true; improved && pass < MAX_PASSES; pass++) {
    improved = false;
    for (const i of order) {
      for (const to of active) {
        if (to !== owner[i] && tryShift(owner[i]!, to, files[i]!.size, 0)) {
          owner[i] = to;
          improved = true;
        }
      }
    }
    for (let x = 0; x < swappable.length; x++) {
      for (let y = x + 1; y < swappable.length; y++) {
        const i = swappable[x]!;
        const j = swappable[y]!;
        const [a, b] = [owner[i]!, owner[j]!];
        if (a !== b && tryShift(a, b, files[i]!.size, files[j]!.size)) {
          [owner[i], owner[j]] = [b, a];
          improved = true;
        }
      }
    }
  }
  // Zero-byte files: with the nearest non-empty file before them, else after them.
  let prev: Method | undefined;
  for (let i = 0; i < files.length; i++) {
    if (owner[i]) prev = owner[i];
    else if (prev) owner[i] = prev;
  }
  let next: Method | undefined;
  for (let i = files.length - 1; i >= 0; i--) {
    if (files[i]!.size > 0) next = owner[i];
    else if (!owner[i]) owner[i] = next;
  }
  return owner as Method[];
}
