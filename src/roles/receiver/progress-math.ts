// Pure progress arithmetic for `progress` (SPEC §9): percents, the seed's rate format,
// the ETA (also one that knows the transfer windows), and a rate meter for bytes that land in bursts.
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

/**
 * Bytes per second over the last `windowMs`, from bytes that land in bursts: a BitTorrent
 * piece (4-16 MiB) counts when it is verified, all at once, after it arrived over seconds.
 * Each burst's bytes are spread over the time since the one before (they arrived
 * meanwhile), and the window ends at the last burst while the quiet since then is no
 * longer than the quiet spells between bursts before it; after that it ends now, so a flow
 * that stopped decays to 0. Counting a burst as if it came in an instant overstated a
 * capped BitTorrent download several times (issue 22). `start` and `stop` say when transfers run:
 * the first burst after a start arrived since that start, a stopped meter reads 0, and a
 * stop of more than a second (a closed window, a back-off) begins a new window.
 */
export class RateMeter {
  /** Bytes counted so far at times: `start` points (no new bytes) and bursts. */
  private points: { t: number; total: number; burst: boolean }[] = [];
  private total = 0;
  private running = false;
  private stoppedAt?: number;
  constructor(
    private readonly windowMs = 10_000,
    private readonly now = () => Date.now(),
  ) {}

  /** Transfers run (again) from now. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.stoppedAt !== undefined && this.now() - this.stoppedAt > 1000) this.points = [];
    this.points.push({ t: this.now(), total: this.total, burst: false });
  }

  /** Nothing is in flight: the rate reads 0 until the next start. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.stoppedAt = this.now();
  }

  add(n: number): void {
    if (n <= 0) return;
    const t = this.now();
    if (this.points.length === 0) this.points.push({ t, total: this.total, burst: false });
    this.total += n;
    const last = this.points[this.points.length - 1];
    const before = this.points[this.points.length - 2];
    // One point per 100 ms keeps the list short at gigabytes per second.
    if (last.burst && before && t - before.t < 100) {
      last.t = t;
      last.total = this.total;
    } else this.points.push({ t, total: this.total, burst: true });
    this.prune();
  }

  rate(): number {
    if (!this.running || this.points.length < 2) return 0;
    const pts = this.points;
    const last = pts[pts.length - 1];
    let quiet = 0;
    for (let i = 1; i < pts.length; i++) if (pts[i].burst) quiet = Math.max(quiet, pts[i].t - pts[i - 1].t);
    const end = Math.max(last.t, this.now() - Math.max(1000, 1.5 * quiet));
    const from = Math.max(end - this.windowMs, pts[0].t);
    if (end <= from) return 0;
    return ((this.totalAt(end) - this.totalAt(from)) * 1000) / (end - from);
  }

  /** Bytes counted by time t, each burst spread over the time since the point before it. */
  private totalAt(t: number): number {
    const pts = this.points;
    if (t >= pts[pts.length - 1].t) return pts[pts.length - 1].total;
    for (let i = pts.length - 1; i > 0; i--) {
      const a = pts[i - 1];
      const b = pts[i];
      if (t >= a.t) return b.t === a.t ? b.total : a.total + ((b.total - a.total) * (t - a.t)) / (b.t - a.t);
    }
    return pts[0].total;
  }

  /** Points no window can reach any more go (one before the window stays, to spread its burst). */
  private prune(): void {
    const last = this.points[this.points.length - 1].t;
    while (this.points.length > 2 && this.points[1].t <= last - this.windowMs) this.points.shift();
  }
}
