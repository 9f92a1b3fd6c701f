// Asks V8 for a full collection when the daemon's garbage has grown past a bound, so its
// RSS stays within the 150 MB budget of issue 10.
//
// Why: V8 sizes its heap for throughput, not for a small resident set. It starts a full
// collection when ArrayBuffer memory has grown by 64 MB since the last one (a constant of
// V8, kExternalAllocationSoftLimit, no flag), or when the old generation reaches its limit
// (64 MB here, scripts/bft2's --initial-old-space-size). Garbage that lives long enough to be
// promoted therefore piles up to about 64 MB of each kind before it is freed. Measured with
// scripts/bench-receive on the development machine:
// - a hybrid 1:1:1 receive: after each young collection `arrayBuffers` stood ~12 MB/s
//   higher (buffers, mostly 64 KiB socket reads, kept past two young collections while the
//   event loop served the three methods), from 22 to 47-77 MB, until a full collection;
//   the receiver peaked at 143-184 MB;
// - a sender seeding 3 DCPs: the JS heap grew from 27 to 80 MB between full collections
//   (the objects of the ~700 peer requests queued at a time live long enough to be
//   promoted); RSS 156-166 MB.
// With this governor (16 MB of ArrayBuffers, 24 MB of heap): hybrid 135-142 MB in 8 runs
// of 9 (one 150.3), the seed 131-135 MB, the CDN receive unchanged in time and CPU. It
// asked for 4 collections per GiB of the hybrid receive, 14-20 ms each (70 ms in all); a
// sender publishing and serving for ~20 s got 33, of 27-37 ms. A slack of 8 MB kept the
// hybrid at 133-137 MB but made it 20% slower; 10 MB cost the CDN receive 0.2-0.35
// CPU-seconds per GiB, where RSS is 115-120 MB anyway.
// So the slacks are halved only past a pressure line of resident set (130 MB,
// BFT2_GC_PRESSURE_MB): the hybrid receive then peaked at 131-140 MB in 7 runs of 8 (one
// slow run, 6.2 s, at 157), against 134-158 without it the same day.
// When the daemon goes quiet (a download over, its memory no longer moving for a second)
// with a few MB of garbage left, it asks for one more: otherwise nothing would free what
// the burst left (a receiver sat at 150-157 MB for as long as it stayed idle after a hybrid
// receive, its old ArrayBuffers and idle piece buffers never collected).
// Owns: one timer and one GC observer. Needs node's --expose-gc (scripts/bft2 passes it);
// without it, it does nothing.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { envNumber } from '../util/time.ts';

const MB = 1024 * 1024;

export interface GcLimits {
  /** ArrayBuffer bytes above the level after the last full collection that ask for one. */
  arrayBufferSlack: number;
  /** JS heap bytes (used) above that level that ask for one. */
  heapSlack: number;
  /** From this resident set on (0: never) both slacks are halved: tighter near the budget. */
  rssPressure: number;
  /** Garbage of either kind that asks for one once memory has been still for `quietMs`. */
  quietSlack: number;
  quietMs: number;
}

export interface MemorySample {
  arrayBuffers: number;
  heapUsed: number;
  rss: number;
}

/** Whether the garbage since the last full collection (`floor`) is past the limits (0: that limit is off). */
export function collectionDue(now: MemorySample, floor: MemorySample, limits: GcLimits): boolean {
  const d = limits.rssPressure > 0 && now.rss >= limits.rssPressure ? 2 : 1;
  return (limits.arrayBufferSlack > 0 && now.arrayBuffers - floor.arrayBuffers > limits.arrayBufferSlack / d) || (limits.heapSlack > 0 && now.heapUsed - floor.heapUsed > limits.heapSlack / d);
}

/** Whether two samples differ by more than noise (a timer's own allocations): the process is busy. */
export function memoryMoved(prev: MemorySample, now: MemorySample): boolean {
  return Math.abs(now.arrayBuffers - prev.arrayBuffers) > MB / 2 || Math.abs(now.heapUsed - prev.heapUsed) > MB / 2;
}

/** Whether a quiet daemon should free what is left: still for `quietMs`, garbage past `quietSlack`. */
export function quietCollectionDue(now: MemorySample, floor: MemorySample, stillForMs: number, limits: GcLimits): boolean {
  if (limits.quietSlack <= 0 || stillForMs < limits.quietMs) return false;
  return now.arrayBuffers - floor.arrayBuffers > limits.quietSlack || now.heapUsed - floor.heapUsed > limits.quietSlack;
}

/** The level to measure growth from: what a full collection left, or lower if memory fell since. */
export function lowerFloor(floor: MemorySample, now: MemorySample): MemorySample {
  return { arrayBuffers: Math.min(floor.arrayBuffers, now.arrayBuffers), heapUsed: Math.min(floor.heapUsed, now.heapUsed), rss: now.rss };
}

export const defaultGcLimits = (): GcLimits => ({
  arrayBufferSlack: envNumber('BFT2_GC_BUFFERS_MB', 16) * MB,
  heapSlack: envNumber('BFT2_GC_HEAP_MB', 24) * MB,
  rssPressure: envNumber('BFT2_GC_PRESSURE_MB', 130) * MB,
  quietSlack: 4 * MB,
  quietMs: 1000,
});

type GcFunction = (options: { type: 'major'; execution: 'async' }) => Promise<void> | void;

export interface GcGovernor {
  /** Full collections it asked for. */
  readonly asked: number;
  stop(): void;
}

/** Whether node was started with --expose-gc. */
export const gcExposed = (): boolean => typeof (globalThis as { gc?: unknown }).gc === 'function';

/** Samples memory every `everyMs` and asks for a full collection (asynchronously, one at a time) when one is due. */
export function startGcGovernor(limits: GcLimits = defaultGcLimits(), everyMs = 100): GcGovernor | undefined {
  if (!gcExposed() || (limits.arrayBufferSlack <= 0 && limits.heapSlack <= 0)) return undefined;
  const gc = (globalThis as unknown as { gc: GcFunction }).gc;
  const sample = (): MemorySample => {
    const m = process.memoryUsage();
    return { arrayBuffers: m.arrayBuffers, heapUsed: m.heapUsed, rss: m.rss };
  };
  let floor = sample();
  let prev = floor;
  let stillSince = performance.now();
  let collecting = false;
  let asked = 0;
  // Every full collection, V8's own or ours, sets the level growth is measured from.
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) floor = sample();
  });
  observer.observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => {
    const now = sample();
    const t = performance.now();
    if (memoryMoved(prev, now)) stillSince = t;
    prev = now;
    floor = lowerFloor(floor, now);
    if (collecting || !(collectionDue(now, floor, limits) || quietCollectionDue(now, floor, t - stillSince, limits))) return;
    collecting = true;
    asked++;
    // Async: V8 runs it as a task of its own, not inside this timer's callback.
    void Promise.resolve(gc({ type: 'major', execution: 'async' })).finally(() => {
      collecting = false;
      floor = sample();
    });
  }, everyMs);
  timer.unref();
  return {
    get asked() {
      return asked;
    },
    stop() {
      clearInterval(timer);
      observer.disconnect();
    },
  };
}
