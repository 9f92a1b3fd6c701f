// Pure progress arithmetic for `progress` (SPEC §9): percents, the seed's rate format,
// the ETA (also one that knows the transfer windows), and a sliding-window rate meter.
import { openTimeFinish, type Window } from '../../schedule/windows.ts';

/** "66.667%": three decimals and a percent sign; 0 when the whole is 0. */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '0.000%';
  return ((part / whole) * 100).toFixed(3) + '%';
}

/** As formatPercent, but 100.000% only when the whole is there: a part short of it reads 99.999% at most. */
export function formatPercentDone(part: number, whole: number): string {
  const p = formatPercent(part, whole);
  return part < whole && p === '100.000%' ? '99.999%' : p;
}

/** The seed's rule: N B/s up to 9999 B, then N KB/s up to 9999 KB, then N MB/s. */
export function formatRate(bytesPerSecond: number): string {
  const r = Math.max(0, bytesPerSecond);
  if (r <= 9999) return `${Math.round(r)} B/s`;
  if (r <= 9999 * 1024) return `${Math.round(r / 1024)} KB/s`;
  return `${Math.round(r / (1024 * 1024))} MB/s`;
}

/** Minutes until done at the current rate, rounded up; -1 when unknown (no rate). */
export function etaMinutes(remainingBytes: number, bytesPerSecond: number): number {
  if (remainingBytes <= 0) return 0;
  if (bytesPerSecond <= 0) return -1;
  return Math.ceil(remainingBytes / bytesPerSecond / 60);
}

/**
 * Minutes until every method has fetched what it still owns, at its rate, counting only the
 * open hours of its windows (a method whose window is closed waits for the next opening);
 * -1 when a method with bytes left has no known rate.
 */
export function etaWithWindows(lanes: { remaining: number; rate: number; windows: Window[] }[], now: Date): number {
  let latest = now.getTime();
  for (const l of lanes) {
    if (l.remaining <= 0) continue;
    if (l.rate <= 0) return -1;
    const workMs = (l.remaining / l.rate) * 1000;
    const finish = l.windows.length > 0 ? openTimeFinish(l.windows, now, workMs).getTime() : now.getTime() + workMs;
    latest = Math.max(latest, finish);
  }
  return Math.ceil((latest - now.getTime()) / 60_000);
}

/** Bytes per second over the last `windowMs`. */
export class RateMeter {
  private samples: { t: number; n: number }[] = [];
  constructor(private readonly windowMs = 5000, private readonly now = () => Date.now()) {}

  add(n: number): void {
    const t = this.now();
    const last = this.samples[this.samples.length - 1];
    // One sample per 100 ms keeps the array small at gigabytes per second.
    if (last && t - last.t < 100) last.n += n;
    else this.samples.push({ t, n });
    this.prune(t);
  }

  rate(): number {
    const t = this.now();
    this.prune(t);
    if (this.samples.length === 0) return 0;
    const total = this.samples.reduce((s, x) => s + x.n, 0);
    const span = Math.max(1000, t - this.samples[0].t);
    return (total * 1000) / span;
  }

  private prune(t: number): void {
    while (this.samples.length && t - this.samples[0].t > this.windowMs) this.samples.shift();
  }
}
