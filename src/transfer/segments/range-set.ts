// A set of byte ranges [start, end) of one file, kept sorted and merged: which bytes of a
// file are on disk, which are being fetched, which a method owns. Pure and small, so the
// download plan (work-plan.ts) can be reasoned about and tested without any I/O.
// Owns nothing but its own array.

export type Range = readonly [start: number, end: number];

export class RangeSet {
  private ranges: [number, number][] = [];

  constructor(ranges: Iterable<Range> = []) {
    for (const [s, e] of ranges) this.add(s, e);
  }

  /** Adds [start, end), merging with neighbours it touches. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const out: [number, number][] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < s) out.push(r);
      else if (r[0] > e) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push(r);
      } else {
        s = Math.min(s, r[0]);
        e = Math.max(e, r[1]);
      }
    }
    if (!placed) out.push([s, e]);
    this.ranges = out;
  }

  /** Removes [start, end). */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const out: [number, number][] = [];
    for (const [s, e] of this.ranges) {
      if (e <= start || s >= end) out.push([s, e]);
      else {
        if (s < start) out.push([s, start]);
        if (e > end) out.push([end, e]);
      }
    }
    this.ranges = out;
  }

  has(offset: number): boolean {
    return this.ranges.some(([s, e]) => s <= offset && offset < e);
  }

  /** True when every byte of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    return this.ranges.some(([s, e]) => s <= start && end <= e);
  }

  /** Bytes of [start, end) in the set (the whole set without arguments). */
  size(start = 0, end = Number.MAX_SAFE_INTEGER): number {
    let n = 0;
    for (const [s, e] of this.ranges) n += Math.max(0, Math.min(e, end) - Math.max(s, start));
    return n;
  }

  /** The parts of [start, end) NOT in the set, in order. */
  gaps(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    let at = start;
    for (const [s, e] of this.ranges) {
      if (e <= at) continue;
      if (s >= end) break;
      if (s > at) out.push([at, Math.min(s, end)]);
      at = Math.max(at, e);
      if (at >= end) break;
    }
    if (at < end) out.push([at, end]);
    return out;
  }

  /** The end of the run of set bytes that starts at `from` (`from` itself when `from` is not set). */
  contiguousEnd(from: number): number {
    for (const [s, e] of this.ranges) if (s <= from && from < e) return e;
    return from;
  }

  isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  toJSON(): [number, number][] {
    return this.ranges.map(([s, e]) => [s, e]);
  }

  [Symbol.iterator](): Iterator<Range> {
    return this.ranges.map(([s, e]) => [s, e] as Range)[Symbol.iterator]();
  }
}
