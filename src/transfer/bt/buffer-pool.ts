// Buffers the BitTorrent client reuses instead of leaving to the garbage collector: whole
// pieces being received (patches/piece-buffer.ts), and blocks being read for a peer
// (file-store.ts, blockReader).
// A buffer that lives for more than a few young-generation collections is moved to V8's
// old generation, and an old buffer is freed only when ~64 MB of them have piled up — more
// than the daemon's whole budget (issue 10). A reused buffer is never garbage.
// Owns: the free buffers. Must not hand out a buffer that is still lent.

/**
 * Buffers for reuse, by length. At most `keep` free buffers per length are held, and none
 * after `idleMs` without a take, so an idle node does not keep them. A buffer that never
 * comes back (a piece that failed its hash, a torrent removed mid-piece) is left to the
 * garbage collector.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private readonly lent = new WeakSet<Uint8Array>();
  private idleTimer: NodeJS.Timeout | undefined;
  private lastTake = 0;
  /** Counts since start: buffers handed out, made new, given back (tests and figures). */
  taken = 0;
  allocated = 0;
  returned = 0;

  constructor(
    private readonly keep = 4,
    private readonly idleMs = 10_000,
  ) {}

  take(length: number): Buffer {
    let buf = this.free.get(length)?.pop();
    if (!buf) {
      buf = Buffer.allocUnsafeSlow(length);
      this.allocated++;
    }
    this.taken++;
    this.lent.add(buf);
    this.lastTake = performance.now();
    // One timer at a time: a seed takes ~13,000 blocks a second.
    if (!this.idleTimer) this.armIdleTimer(this.idleMs);
    return buf;
  }

  /** Returns a buffer from take(); anything else (or a second give) is ignored. */
  give(buf: Uint8Array): void {
    if (!this.lent.delete(buf)) return;
    this.returned++;
    const list = this.free.get(buf.length) ?? [];
    if (list.length < this.keep) list.push(buf as Buffer);
    this.free.set(buf.length, list);
  }

  /** Free buffers held now (for tests and figures). */
  get freeCount(): number {
    let n = 0;
    for (const l of this.free.values()) n += l.length;
    return n;
  }

  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const idle = performance.now() - this.lastTake;
      if (idle >= this.idleMs) {
        this.free.clear();
        this.idleTimer = undefined;
      } else this.armIdleTimer(this.idleMs - idle);
    }, ms);
    this.idleTimer.unref();
  }
}

/**
 * The process's whole-piece buffers: every torrent's incoming pieces take from it (bt-lane's
 * store gives back what it wrote). While pieces flow, every buffer given back is kept: a
 * piece buffer lives long enough to reach V8's old generation, so one dropped for want of
 * room stays resident until a full collection, and its successor is a fresh 4 MiB mapping
 * (with a limit of 4, a 20 GiB receive made 13 for 6 ever lent at once, and its RSS climbed
 * with them; docs/performance.md, memory). So the pool holds as many as were lent at once,
 * no more. Free ones go after 1 s without a take (a receive takes one every ~20 ms): once a
 * hybrid's BitTorrent share is in, they should not stay through the HTTP lanes' last
 * seconds or the idle daemon after.
 */
export const pieceBuffers = new BufferPool(Number.POSITIVE_INFINITY, 1000);
