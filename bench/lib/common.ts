// What the receive benchmarks share (bench/cdn.ts, receive.ts, spool.ts, memory.ts):
// run a standard tool, drop a task into a receiver daemon and time it to `.finished`,
// sample a process's RSS and CPU, describe the machine and how busy it was, medians and
// percentiles, and clean up whatever a run left. A bench is a report, not a gate.
// Owns the temp roots and daemons it registers; touches nothing else.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Daemon } from '../../tools/harness/daemon.ts';
import type { DcpFileSpec } from '../../tools/harness/dcp-fixture.ts';

export const MiB = 1024 * 1024;
export const REPO = path.resolve(import.meta.dirname, '..', '..');

/** The files of a data set: one large file, or a DCP of 4 reels of about the same total. */
export function dataSet(set: 'file' | 'dcp', totalMb: number): { name: string; files: DcpFileSpec[] } {
  const total = totalMb * MiB;
  if (set === 'file') return { name: `bench-${totalMb}mb`, files: [{ file: 'video.mxf', size: total }] };
  const xml = [
    { file: 'ASSETMAP.xml', size: 2_311 },
    { file: 'VOLINDEX.xml', size: 187 },
    { file: 'PKL.xml', size: 4_912 },
    { file: 'CPL.xml', size: 13_477 },
  ];
  const perReel = Math.floor((total - xml.reduce((s, f) => s + f.size, 0)) / 4);
  const reels = [1, 2, 3, 4].flatMap((r) => [
    { file: `reel${r}/picture.mxf`, size: Math.floor(perReel * 0.82) },
    { file: `reel${r}/sound.mxf`, size: perReel - Math.floor(perReel * 0.82) },
  ]);
  return { name: `bench-dcp4-${totalMb}mb`, files: [...xml, ...reels] };
}

export function positiveInt(v: string | undefined, dflt: number): number {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n > 0 ? n : dflt;
}

export function median(xs: number[]): number | undefined {
  return percentile(xs, 50);
}

/** Nearest-rank percentile; the median of an even count is the mean of the middle two. */
export function percentile(xs: number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  if (p === 50) {
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const sec = (ms: number | undefined): string => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
export const msText = (ms: number | undefined): string => (ms === undefined ? 'n/a' : `${Math.round(ms)} ms`);
export const mibps = (bytes: number, ms: number): string => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
export const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
export const ratioText = (r: number | undefined, target?: number): string =>
  r === undefined ? 'n/a' : `${r.toFixed(3)}${target === undefined ? '' : `  (target <= ${target}: ${r <= target ? 'ok' : 'MISSED'})`}`;

export function runCommand(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], cwd: opts.cwd });
    p.once('error', reject);
    p.once('exit', (c) => resolve(c ?? -1));
  });
}

/** A Debian tool the bench compares against: installed through tools/install-test-deps when missing. */
export function ensureTool(cmd: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return;
  } catch {
    // missing
  }
  console.log(`${cmd} is missing: running tools/install-test-deps ...`);
  execFileSync(path.join(REPO, 'tools/install-test-deps'), { stdio: 'inherit' });
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

let clkTck: number | undefined;

/** CPU seconds (user + system, every thread) a process used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  try {
    const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return 0;
  }
}

/** A process's peak RSS so far, the kernel's VmHWM (kB; undefined when it is gone). */
export function hwmKb(pid: number): Promise<number | undefined> {
  return statusKb(pid, 'VmHWM');
}

/** A process's RSS now (kB; 0 when it is gone). */
export async function rssKb(pid: number): Promise<number> {
  return (await statusKb(pid, 'VmRSS')) ?? 0;
}

/** Samples a process's RSS every 50 ms until stopped; the peak, and VmHWM at the end. */
export function sampleRss(pid: number): { peakKb: () => number; stop: () => Promise<{ peakKb: number; hwmKb?: number; fifthsKb: number[] }> } {
  let peak = 0;
  let on = true;
  const t0 = performance.now();
  const samples: { ms: number; kb: number }[] = [];
  const loop = (async () => {
    while (on) {
      const kb = await statusKb(pid, 'VmRSS');
      if (kb !== undefined) {
        samples.push({ ms: performance.now() - t0, kb });
        if (kb > peak) peak = kb;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    peakKb: () => peak,
    stop: async () => {
      on = false;
      await loop;
      const kb = await statusKb(pid, 'VmRSS');
      if (kb !== undefined && kb > peak) peak = kb;
      return { peakKb: peak, hwmKb: await statusKb(pid, 'VmHWM'), fifthsKb: peakByFifth(samples, performance.now() - t0) };
    },
  };
}

/**
 * The highest sample in each fifth of a run's time: a level that climbs from one fifth to
 * the next is memory growing with the work, a level that is flat with one high fifth is a
 * spike.
 */
export function peakByFifth(samples: readonly { ms: number; kb: number }[], totalMs: number): number[] {
  const fifths = [0, 0, 0, 0, 0];
  for (const { ms, kb } of samples) {
    const i = Math.min(4, Math.floor((ms / Math.max(totalMs, 1)) * 5));
    if (kb > fifths[i]) fifths[i] = kb;
  }
  return fifths;
}

/** CPU ticks of the whole machine (all cores), to say how busy it was during a bench. */
async function cpuTicks(): Promise<{ busy: number; total: number; steal: number }> {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total, steal: f[7] };
}

/**
 * Watches how busy the machine is: `mark()` before a bench, `report()` after gives the
 * share of all cores in use meanwhile (the bench's own processes included) and the load.
 */
export function machineLoad() {
  let start: { busy: number; total: number; steal: number } | undefined;
  const load0 = os.loadavg();
  return {
    async mark() {
      start = await cpuTicks();
    },
    async report(): Promise<string> {
      const end = await cpuTicks();
      const s = start ?? end;
      const total = end.total - s.total || 1;
      return `machine busy ${(((end.busy - s.busy) / total) * 100).toFixed(0)}% of ${os.cpus().length} cores during the bench (this bench's own processes included), steal ${(((end.steal - s.steal) / total) * 100).toFixed(0)}%; load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} after`;
    },
  };
}

/**
 * Whether this machine is a VM whose balloon device reports free pages to the host
 * (virtio device 5, feature bit 5, VIRTIO_BALLOON_F_REPORTING): memory freed here is handed
 * back to the host about 2 s later, and the next write to it is much slower.
 */
function freePageReporting(): boolean {
  try {
    const root = '/sys/bus/virtio/devices';
    return readdirSync(root).some((d) => {
      const dev = readFileSync(path.join(root, d, 'device'), 'utf8').trim();
      return dev === '0x0005' && readFileSync(path.join(root, d, 'features'), 'utf8')[5] === '1';
    });
  } catch {
    return false;
  }
}

const SETTLE_MS = positiveInt(process.env.BENCH_SETTLE_MS, 3000);
/** How long a daemon's RSS is still watched after its task finished (BENCH_TAIL_MS). */
export const TAIL_MS = positiveInt(process.env.BENCH_TAIL_MS, 3000);

/**
 * Waits before a timed run so that every contender starts from the same state of the
 * machine's free memory: on a VM whose balloon reports free pages to the host, writing into
 * memory freed a moment before is much cheaper than after a rest, and `timeTool` deletes
 * its output right after a run, so without a pause `curl + sync` wrote into the pages
 * `curl` had just freed while bft2, timed after its daemon's start-up, paid in full
 * (docs/performance.md). BENCH_SETTLE_MS (3000; the kernel reports after 2 s) sets the pause.
 */
export async function settleMemory(): Promise<void> {
  await new Promise((res) => setTimeout(res, SETTLE_MS));
}

/** One line about the machine: CPU, cores, memory, kernel, the filesystem of the temp dir. */
export function describeMachine(dir = os.tmpdir()): string {
  const cpus = os.cpus();
  let fs = '';
  try {
    fs = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).split('\n')[1]?.split(/\s+/)[1] ?? '';
  } catch {
    // unknown
  }
  const reporting = `${freePageReporting() ? ', free page reporting on' : ''}; a ${SETTLE_MS} ms pause before each timed run`;
  return `${cpus.length} x ${cpus[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB RAM, Linux ${os.release()}, ${dir} on ${fs || 'unknown fs'}, node ${process.version}${reporting}`;
}

/** Peak RSS and CPU of a daemon over one timed run. */
export interface DaemonRun {
  ms: number;
  /** The higher of the 50 ms samples' peak and VmHWM. */
  peakKb: number;
  hwmKb?: number;
  /** The highest 50 ms sample in each fifth of the run (peakByFifth). */
  fifthsKb: number[];
  /** RSS just before the drop: what the idle daemon held. */
  startKb: number;
  cpuS: number;
}

/**
 * Drops `task` into the daemon's `queues` as a finished file renamed into place (as rsync
 * does) and times it to `<dcp>/<name>.finished`; checks every file's size in the store.
 * Start-up of the daemon is not timed.
 */
export async function timeTask(
  daemon: Daemon,
  task: Record<string, unknown> & { name: string; basesubdir: string },
  filelist: { file: string; size: number }[],
  timeoutS: number,
): Promise<DaemonRun> {
  return timeTasks(daemon, [{ task, filelist }], timeoutS);
}

/**
 * `timeTask` for several tasks dropped at once (renamed into `queues` one right after the
 * other): timed until every one has its `.finished`.
 */
export async function timeTasks(
  daemon: Daemon,
  tasks: { task: Record<string, unknown> & { name: string; basesubdir: string }; filelist: { file: string; size: number }[] }[],
  timeoutS: number,
): Promise<DaemonRun> {
  const pid = daemon.proc.pid!;
  await mkdir(daemon.paths.queues, { recursive: true });
  const drops: { tmp: string; to: string; finished: string }[] = [];
  for (const { task } of tasks) {
    const taskName = `${task.basesubdir}-${task.name}.task.json`;
    // A dotfile that does not end in .task.json: the spool ignores it until renamed.
    const tmp = path.join(daemon.paths.queues, `.bench-${taskName}.tmp`);
    await writeFile(tmp, JSON.stringify(task, null, 2));
    drops.push({ tmp, to: path.join(daemon.paths.queues, taskName), finished: path.join(daemon.paths.dcp, `${task.name}.finished`) });
  }
  await settleMemory();
  const startKb = await rssKb(pid);
  const rss = sampleRss(pid);
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  for (const d of drops) await rename(d.tmp, d.to);
  const deadline = t0 + timeoutS * 1000;
  let r: { peakKb: number; hwmKb?: number; fifthsKb: number[] };
  let ms: number;
  let cpuS: number;
  try {
    for (const { finished } of drops) {
      while (!(await exists(finished))) {
        if (daemon.exited()) throw new Error('daemon exited during the run');
        if (performance.now() > deadline) throw new Error(`no ${finished} after ${timeoutS} s`);
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  } finally {
    ms = performance.now() - t0;
    cpuS = (await cpuSeconds(pid)) - cpu0;
    // What the daemon does right after `.finished` counts too (seeding the stored DCP, the
    // hash watcher's pass over its files): RSS is watched TAIL_MS longer, untimed.
    if (!daemon.exited()) await new Promise((res) => setTimeout(res, TAIL_MS));
    r = await rss.stop();
  }
  for (const { task, filelist } of tasks) {
    for (const f of filelist) {
      const got = (await stat(path.join(daemon.paths.dcp, task.name, f.file))).size;
      if (got !== f.size) throw new Error(`bft2 stored ${got} bytes of ${task.name}/${f.file}, expected ${f.size}`);
    }
  }
  // The kernel's high-water mark catches a peak between two samples (a fresh daemon per
  // run, so it covers this run and the idle start-up before it).
  return { ms, cpuS, peakKb: Math.max(r.peakKb, r.hwmKb ?? 0), hwmKb: r.hwmKb, fifthsKb: r.fifthsKb, startKb };
}

/** Resets a process's VmHWM to its RSS now (Linux's clear_refs 5), so a later peak is this phase's; false when refused. */
export async function resetPeakRss(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

/** Free space (for a non-root user) and size of the filesystem holding `dir`, in MiB. */
export async function diskMb(dir: string): Promise<{ free: number; total: number }> {
  const s = await statfs(dir);
  return { free: (s.bavail * s.bsize) / MiB, total: (s.blocks * s.bsize) / MiB };
}

/** "median (min-max, n)" of figures in kB, as MB. */
export function spreadMb(kbs: number[]): string {
  if (kbs.length === 0) return 'n/a';
  return `${mb(median(kbs)!)} (${(Math.min(...kbs) / 1024).toFixed(1)}-${(Math.max(...kbs) / 1024).toFixed(1)}, n=${kbs.length})`;
}

/** Times a command that writes files, optionally followed by `sync FILES` (coreutils fsyncs each). */
export async function timeTool(cmd: string, args: string[], outFiles: string[], sizes: number[], opts: { sync?: boolean; cwd?: string } = {}): Promise<number> {
  for (const f of outFiles) await rm(f, { force: true });
  await settleMemory();
  const t0 = performance.now();
  const code = await runCommand(cmd, args, { cwd: opts.cwd });
  if (opts.sync && code === 0) await runCommand('sync', outFiles);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd} exited with ${code}`);
  for (let i = 0; i < outFiles.length; i++) {
    const got = (await stat(outFiles[i])).size;
    if (got !== sizes[i]) throw new Error(`${cmd} wrote ${got} bytes to ${outFiles[i]}, expected ${sizes[i]}`);
  }
  for (const f of outFiles) await rm(f, { force: true });
  return ms;
}

/** Where every run's figures go, per contender; printed as medians and ratios. */
export class Figures {
  readonly ms = new Map<string, number[]>();
  add(who: string, ms: number): void {
    const xs = this.ms.get(who) ?? [];
    xs.push(ms);
    this.ms.set(who, xs);
  }
  median(who: string): number | undefined {
    return median(this.ms.get(who) ?? []);
  }
  ratio(a: string, b: string): number | undefined {
    const x = this.median(a);
    const y = this.median(b);
    return x !== undefined && y !== undefined ? x / y : undefined;
  }
}

/** Temp dirs and daemons a bench made: removed at the end, on SIGINT/SIGTERM too. */
export class Cleanup {
  private readonly dirs = new Set<string>();
  private readonly stops: (() => Promise<void>)[] = [];
  dir(p: string): string {
    this.dirs.add(p);
    return p;
  }
  async forgetDir(p: string): Promise<void> {
    await rm(p, { recursive: true, force: true });
    this.dirs.delete(p);
  }
  onStop(fn: () => Promise<void>): void {
    this.stops.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.stops.splice(0).reverse()) await fn().catch(() => undefined);
    for (const d of this.dirs) await rm(d, { recursive: true, force: true }).catch(() => undefined);
    this.dirs.clear();
  }
  /** Cleans up on SIGINT/SIGTERM, then exits. */
  trapSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        console.log(`\n${sig}: cleaning up`);
        void this.run().finally(() => process.exit(0));
      });
    }
  }
}

export function tmpName(prefix: string): string {
  return path.join(os.tmpdir(), `${prefix}${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Runs a bench's `main` as a report, not a gate: a failure is printed, what it started is
 * always cleaned up, and the process exits 0.
 */
export async function runBench(name: string, main: () => Promise<void>, cleanup: Cleanup): Promise<never> {
  try {
    await main();
  } catch (err) {
    console.log(`${name}: FAILED: ${(err as Error).stack ?? err}`);
  } finally {
    await cleanup.run();
  }
  process.exit(0);
}
