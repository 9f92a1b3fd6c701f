// What a lab run costs this machine, read from /proc while it runs: each daemon's resident
// memory (idle before the hand-out, and its peak) and CPU time, the whole machine's busy
// share of its cores and its load average. The city scenario's figures must come from a
// network-limited run, not a CPU-bound one: this says which it was. The machine is shared:
// its busy share and load count every process on it, also other people's.
// Owns the samples; reads /proc only.
import { readFile } from 'node:fs/promises';
import os from 'node:os';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux everywhere bft2 runs). */
const TICKS_PER_S = 100;

export interface DaemonUsage {
  host: string;
  /** Resident memory when sampled idle (daemons started, before the hand-out), MB. */
  idleRssMB: number | null;
  peakRssMB: number;
  /** CPU seconds (user + system) during the delivery, over its processes (a restarted daemon counts both). */
  cpuS: number;
}

export interface ResourceSummary {
  wallS: number;
  daemons: DaemonUsage[];
  /** The daemons' RSS summed at each sample: the largest sum, MB. */
  peakTotalRssMB: number;
  idleTotalRssMB: number;
  /** CPU seconds of every daemon together, and that over the wall time (cores in use on average). */
  daemonCpuS: number;
  daemonCores: number;
  /** The whole machine (every process, also others'): busy share of all its cores, 0..1. */
  machineBusy: number;
  cores: number;
  loadAverage: { start: number[]; end: number[] };
}

interface ProcSample {
  rssKB: number;
  ticks: number;
}

async function procSample(pid: number): Promise<ProcSample | undefined> {
  try {
    const [status, stat] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    // Fields after the command (in parentheses, which may hold spaces): utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKB: rss ? Number(rss[1]) : 0, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // gone (killed, or exited)
  }
}

async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Samples the daemons' processes (by host: their current pid) every `everyMs` from start() to stop(). */
export class ResourceMonitor {
  /** Per host: idle and peak RSS, CPU ticks of earlier processes (a restart), the current pid and its ticks at the first and last sample. */
  private readonly perHost = new Map<string, { idleKB: number | null; peakKB: number; ticksDone: number; pid?: number; startTicks?: number; lastTicks?: number }>();
  private peakTotalKB = 0;
  private idleTotalKB = 0;
  private timer?: NodeJS.Timeout;
  private t0 = 0;
  private machine0?: { busy: number; total: number };
  private load0: number[] = [];

  constructor(
    private readonly pids: () => Map<string, number>,
    private readonly everyMs = 2000,
  ) {}

  /** One sample with the daemons idle (started, nothing handed out yet). */
  async sampleIdle(): Promise<void> {
    let total = 0;
    for (const [host, pid] of this.pids()) {
      const s = await procSample(pid);
      const h = this.entry(host);
      h.idleKB = s?.rssKB ?? null;
      total += s?.rssKB ?? 0;
    }
    this.idleTotalKB = total;
  }

  async start(): Promise<void> {
    this.t0 = Date.now();
    this.machine0 = await machineTicks();
    this.load0 = os.loadavg();
    await this.sample();
    const tick = () => {
      this.timer = setTimeout(() => void this.sample().finally(() => this.timer && tick()), this.everyMs);
    };
    tick();
  }

  async stop(): Promise<ResourceSummary> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sample();
    const m = await machineTicks();
    const wallS = (Date.now() - this.t0) / 1000;
    const daemons: DaemonUsage[] = [...this.perHost.entries()].map(([host, h]) => ({
      host,
      idleRssMB: h.idleKB === null ? null : h.idleKB / 1024,
      peakRssMB: h.peakKB / 1024,
      cpuS: (h.ticksDone + (h.lastTicks ?? 0) - (h.startTicks ?? 0)) / TICKS_PER_S,
    }));
    const daemonCpuS = daemons.reduce((n, d) => n + d.cpuS, 0);
    const m0 = this.machine0!;
    return {
      wallS,
      daemons,
      peakTotalRssMB: this.peakTotalKB / 1024,
      idleTotalRssMB: this.idleTotalKB / 1024,
      daemonCpuS,
      daemonCores: wallS > 0 ? daemonCpuS / wallS : 0,
      machineBusy: m.total > m0.total ? (m.busy - m0.busy) / (m.total - m0.total) : 0,
      cores: os.cpus().length,
      loadAverage: { start: this.load0, end: os.loadavg() },
    };
  }

  private entry(host: string) {
    let h = this.perHost.get(host);
    if (!h) this.perHost.set(host, (h = { idleKB: null, peakKB: 0, ticksDone: 0 }));
    return h;
  }

  private async sample(): Promise<void> {
    let total = 0;
    for (const [host, pid] of this.pids()) {
      const s = await procSample(pid);
      if (!s) continue;
      const h = this.entry(host);
      if (h.pid !== pid) {
        if (h.pid === undefined) {
          // Its first sample (the delivery's start): only what it spends from now counts.
          h.startTicks = s.ticks;
        } else {
          // A restarted daemon: the old process's time is kept, the new one counts from its start.
          h.ticksDone += (h.lastTicks ?? 0) - (h.startTicks ?? 0);
          h.startTicks = 0;
        }
        h.pid = pid;
      }
      h.lastTicks = s.ticks;
      h.peakKB = Math.max(h.peakKB, s.rssKB);
      total += s.rssKB;
    }
    this.peakTotalKB = Math.max(this.peakTotalKB, total);
  }
}
