// The rate cap of one method on this node (SPEC §3 `btlimit`, `obslimit`, `cdnlimit`,
// `btuploadlimit`): a token bucket that every transfer of that method draws from, so the
// cap holds for the method as a whole however many files or tasks run at once.
// Owns: the bucket and its queue of waiting takers. Must not touch: the config or the
// timetable (schedule/rate.ts says which cap is in force; the owner calls setRate), nor
// the bytes themselves (throttle passes the caller's chunks through unchanged).
//
// Takers are served first come, first served: a new small chunk never overtakes a large
// one already waiting, or a busy file could starve another. A chunk larger than the
// burst is paid for in burst-sized parts, so one 4 MiB read does not need a 4 MiB bucket.
// Time is measured with performance.now(), which a wall-clock jump does not move; tests
// pass a clock of their own.

/** A burst of half a second at the cap: short enough to keep the pace smooth, long enough
 * that timers firing late on a busy node do not throw tokens away (docs/performance.md);
 * 64 KiB keeps slow caps from chopping reads into tiny pieces. */
const MIN_BURST_BYTES = 64 * 1024;
const BURST_SECONDS = 0.5;

interface Taker {
  remaining: number;
  /** Tokens already paid towards this chunk: refunded if it is aborted. */
  paid: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class RateLimiter {
  private rate: number | undefined;
  private tokens = 0;
  private lastRefill: number;
  private readonly takers: Taker[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `bytesPerSecond` undefined: no cap. `now`: milliseconds on a clock that only moves forward. */
  constructor(
    bytesPerSecond?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastRefill = now();
    this.setRate(bytesPerSecond);
  }

  get bytesPerSecond(): number | undefined {
    return this.rate;
  }

  /** Applies at once, also to takers already waiting (a `reloadconf` or a timetable step). */
  setRate(bytesPerSecond: number | undefined): void {
    if (bytesPerSecond !== undefined && !(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) {
      throw new RangeError(`a rate cap must be a positive number of bytes per second, not ${bytesPerSecond}`);
    }
    this.refill();
    const wasUncapped = this.rate === undefined;
    this.rate = bytesPerSecond;
    if (bytesPerSecond === undefined) {
      this.tokens = 0;
      for (const taker of this.takers.splice(0)) this.settle(taker);
      this.disarm();
      return;
    }
    // The bucket starts empty: a full one would let a whole burst (half a second) through
    // on top of the rate, and the cap is measured from the moment it is set.
    this.tokens = wasUncapped ? 0 : Math.min(this.tokens, this.burst());
    this.serve();
  }

  /** Resolves when `n` bytes may pass; rejects with the signal's reason on abort. */
  take(n: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.rate === undefined || n <= 0) return Promise.resolve();
    if (this.takers.length === 0) {
      this.refill();
      if (n <= this.tokens) {
        this.tokens -= n;
        return Promise.resolve();
      }
    }
    return new Promise<void>((resolve, reject) => {
      const taker: Taker = { remaining: n, paid: 0, resolve, reject, signal };
      if (signal) {
        taker.onAbort = () => this.abandon(taker);
        signal.addEventListener('abort', taker.onAbort, { once: true });
      }
      this.takers.push(taker);
      this.serve();
    });
  }

  private burst(): number {
    return this.rate === undefined ? Infinity : Math.max(MIN_BURST_BYTES, this.rate * BURST_SECONDS);
  }

  private refill(): void {
    const t = this.now();
    if (this.rate !== undefined) {
      this.tokens = Math.min(this.burst(), this.tokens + ((t - this.lastRefill) * this.rate) / 1000);
    }
    this.lastRefill = t;
  }

  /** Pays the head of the queue as far as the bucket allows, then sleeps until the next
   * part is affordable. */
  private serve(): void {
    this.disarm();
    this.refill();
    const rate = this.rate;
    if (rate === undefined) return;
    while (this.takers.length > 0) {
      const head = this.takers[0];
      const part = Math.min(head.remaining, this.burst());
      if (this.tokens < part) {
        const waitMs = Math.max(1, Math.ceil(((part - this.tokens) * 1000) / rate));
        this.timer = setTimeout(() => this.serve(), waitMs);
        return;
      }
      this.tokens -= part;
      head.remaining -= part;
      head.paid += part;
      if (head.remaining === 0) {
        this.takers.shift();
        this.settle(head);
      }
    }
  }

  private settle(taker: Taker): void {
    if (taker.onAbort) taker.signal?.removeEventListener('abort', taker.onAbort);
    taker.resolve();
  }

  private abandon(taker: Taker): void {
    const i = this.takers.indexOf(taker);
    if (i < 0) return;
    this.takers.splice(i, 1);
    // The bytes never passed: give their tokens to the next taker.
    this.refill();
    this.tokens = Math.min(this.burst(), this.tokens + taker.paid);
    taker.reject(taker.signal?.reason);
    this.serve();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The same chunks as `source`, each let through only when the limiter allows it. */
export async function* throttle(source: AsyncIterable<Buffer>, limiter: RateLimiter, signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await limiter.take(chunk.length, signal);
    yield chunk;
  }
}
