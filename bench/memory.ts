// Benchmark of memory against the amount of work (issue 21 point 6): a daemon's peak RSS must
// not grow with the size of a DCP, the number of tasks or the number of seeds and peers.
// - cdn, obs, bt: a fresh receiver receives a DCP of BENCH_LARGE_MB (20480) and one of
//   BENCH_SIZE_MB (1024) by that one method, alternated; target: the large DCP's median
//   peak within 15% of the small one's;
// - tasks: a fresh receiver gets BENCH_TASKS (10) CDN tasks of BENCH_SIZE_MB at once,
//   against one such task; target: <= 2x;
// - seed: a fresh sender seeds BENCH_SEED_DCPS (10) DCPs of BENCH_SEED_MB (BENCH_SIZE_MB) to
//   BENCH_PEERS (20) aria2c at once (two per DCP), against one DCP to one aria2c; target <= 2x.
// The DCPs (4 reels and their XML, as bench/cdn's) are sparse files in a sender's store
// (lib/sparse-dcp.ts): each file's first 4 KiB name it, the rest is a hole, so 20 GiB cost
// neither disk nor time to make. The sender publishes them with gentask as usual (hashes,
// torrent); a receiver writes and sha1-checks every byte as always. CDN is the sender's
// origin; OBS is s3rver, whose objects are hard links to the same files (lib/loopback.ts
// placeObjects); BitTorrent is the sender's seed.
// A receiver's peak is timeTasks' (50 ms samples and VmHWM, from the drop until
// BENCH_TAIL_MS after the last .finished); a seeding sender's is from the first peer's start
// until BENCH_TAIL_MS after the last one's exit, its VmHWM reset just before (clear_refs), so
// publishing does not count. Each run also prints its peak in each fifth of its time: a
// level that climbs is memory growing with the work, one high fifth a spike. Each figure
// is the median of BENCH_RUNS (3) runs, with the spread; the source's CPU time (sender or
// s3rver) is printed to show whether it was the bottleneck. Disk: a receive needs its
// data's size free (deleted after each run) beyond the receivers' diskreserve (5% of the
// filesystem), the seed scenario peers x BENCH_SEED_MB; a run without the room is skipped
// with a message.
// Env: BENCH_SIZE_MB, BENCH_LARGE_MB, BENCH_RUNS, BENCH_SCENARIOS (cdn,obs,bt,tasks,seed),
// BENCH_TASKS, BENCH_SEED_DCPS, BENCH_PEERS, BENCH_SEED_MB, BENCH_TIMEOUT_S (per run).
// BENCH_AB_FLAGS (node flags: every run is done without them and with them, alternated,
// and their effect printed). A quick run: BENCH_SIZE_MB=64 BENCH_LARGE_MB=1024.
// BFT2_NODE_FLAGS reaches every daemon. A report, not a gate: it exits 0.
// Owns its temp root, daemons, s3rver and aria2c processes (all removed at the end, on
// SIGINT/SIGTERM too); touches nothing else.
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { makeTempRoot } from '../tools/harness/daemon.ts';
import { startLoopbackSender } from '../tools/harness/sender-config.ts';
import {
  Cleanup,
  cpuSeconds,
  describeMachine,
  ensureTool,
  diskMb,
  hwmKb,
  machineLoad,
  mb,
  median,
  mibps,
  MiB,
  positiveInt,
  ratioText,
  resetPeakRss,
  rssKb,
  runBench,
  runCommand,
  sampleRss,
  sec,
  settleMemory,
  spreadMb,
  TAIL_MS,
  timeTasks,
} from './lib/common.ts';
import { aria2cArgs, fetchTorrent, placeObjects, publishDcp, senderDcpDir, startReceiver, startS3, type S3, type Task } from './lib/loopback.ts';
import { makeSparseDcp, METHODS, taskForMethod } from './lib/sparse-dcp.ts';

const TARGET_SIZE = 1.15;
const TARGET_LOAD = 2;
const sizeMb = positiveInt(process.env.BENCH_SIZE_MB, 1024);
const largeMb = positiveInt(process.env.BENCH_LARGE_MB, 20480);
const runs = positiveInt(process.env.BENCH_RUNS, 3);
const scenarios = new Set((process.env.BENCH_SCENARIOS ?? 'cdn,obs,bt,tasks,seed').split(','));
const taskCount = positiveInt(process.env.BENCH_TASKS, 10);
const seedDcps = positiveInt(process.env.BENCH_SEED_DCPS, 10);
const peerCount = positiveInt(process.env.BENCH_PEERS, 20);
const seedMb = positiveInt(process.env.BENCH_SEED_MB, sizeMb);
const timeoutFor = (mib: number): number => positiveInt(process.env.BENCH_TIMEOUT_S, 120 + Math.ceil(mib / 5));
/** Room left beside a run's data (logs, the spool, other users of the disk)... */
const DISK_MARGIN_MB = 2048;
/** ...or the receivers' `diskreserve` (default 5% of the filesystem), whichever is more. */
const DISK_RESERVE = 0.05;
const cleanup = new Cleanup();
cleanup.trapSignals();

/** Waits until a process has used under 0.1 CPU-seconds in a second (a sender done hashing), at most `maxS`. */
async function waitIdle(pid: number, maxS = 600): Promise<void> {
  const end = performance.now() + maxS * 1000;
  let last = await cpuSeconds(pid);
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = await cpuSeconds(pid);
    if (now - last < 0.1) return;
    last = now;
  }
}

async function roomFor(dir: string, needMb: number, what: string): Promise<boolean> {
  const { free, total } = await diskMb(dir);
  const margin = Math.max(DISK_MARGIN_MB, Math.ceil(total * DISK_RESERVE));
  if (free >= needMb + margin) return true;
  console.log(`${what}: SKIPPED: ${free.toFixed(0)} MiB free in ${dir}, it needs ${needMb} MiB + ${margin} MiB (the margin, or the receivers' diskreserve of 5%)`);
  return false;
}

/** One contender's figures over the runs. */
class Series {
  readonly kb: number[] = [];
  readonly ms: number[] = [];
  readonly cpuS: number[] = [];
  readonly sourceCpuS: number[] = [];
  readonly failed: string[] = [];
  peak = (): number | undefined => median(this.kb);
}

/**
 * How the daemons under test run: as they are (BFT2_NODE_FLAGS from the environment), or,
 * with BENCH_AB_FLAGS, an A/B: every run done without node flags and with those flags,
 * alternated. The sender that serves the receivers keeps the environment's flags.
 */
interface Variant {
  tag: string;
  env?: Record<string, string>;
}
const abFlags = process.env.BENCH_AB_FLAGS;
const VARIANTS: Variant[] = abFlags ? [{ tag: ' [no flags]', env: { BFT2_NODE_FLAGS: '' } }, { tag: ` [${abFlags}]`, env: { BFT2_NODE_FLAGS: abFlags } }] : [{ tag: '' }];

/** Fails when a daemon's command line does not carry its variant's flags (an A/B that changed nothing). */
async function checkFlags(pid: number, v: Variant): Promise<void> {
  const flags = v.env?.BFT2_NODE_FLAGS;
  if (!flags) return;
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  for (const f of flags.split(/\s+/).filter(Boolean)) if (!argv.includes(f)) throw new Error(`the daemon runs without ${f}: ${argv.join(' ')}`);
}

const totalBytes = (ts: Task[]): number => ts.reduce((s, t) => s + t.filelist.reduce((x, f) => x + f.size, 0), 0);

let receivers = 0;

/** A fresh receiver gets `tasks` at once; its peak RSS, time and CPU, and the source's CPU meanwhile. */
async function receiveRun(label: string, base: string, s3: S3, tasks: Task[], sourcePid: number, v: Variant, into: Series): Promise<void> {
  const bytes = totalBytes(tasks);
  if (!(await roomFor(base, Math.ceil(bytes / MiB), label))) return;
  const d = await startReceiver(cleanup.dir(path.join(base, `receiver-${++receivers}`)), s3, { downloadingnum: Math.max(2, taskCount) }, v.env);
  try {
    await checkFlags(d.proc.pid!, v);
    const src0 = await cpuSeconds(sourcePid);
    const r = await timeTasks(
      d,
      tasks.map((task) => ({ task, filelist: task.filelist })),
      timeoutFor(bytes / MiB),
    );
    const srcS = (await cpuSeconds(sourcePid)) - src0;
    into.kb.push(r.peakKb);
    into.ms.push(r.ms);
    into.cpuS.push(r.cpuS);
    into.sourceCpuS.push(srcS);
    console.log(`  ${label.padEnd(26)}: ${sec(r.ms)} (${mibps(bytes, r.ms)}), peak RSS ${mb(r.peakKb)} (VmHWM ${r.hwmKb ? mb(r.hwmKb) : 'n/a'}, idle before ${mb(r.startKb)}; by fifth of the run ${fifthsText(r.fifthsKb)}), CPU ${r.cpuS.toFixed(2)} s, source CPU ${srcS.toFixed(2)} s`);
  } catch (err) {
    into.failed.push((err as Error).message);
    console.log(`  ${label.padEnd(26)}: FAILED: ${(err as Error).message}\n--- last daemon output ---\n${d.output().split('\n').slice(-20).join('\n')}`);
  } finally {
    await d.stop();
    await cleanup.forgetDir(d.root);
  }
}

/** "150/171/168/170/173 MB": the peak of each fifth of a run, to tell growth from a spike. */
const fifthsText = (kbs: number[]): string => `${kbs.map((k) => (k / 1024).toFixed(0)).join('/')} MB`;
const medianText = (xs: number[], f: (x: number) => string): string => (xs.length ? f(median(xs)!) : 'n/a');
const cpuText = (s: number): string => `${s.toFixed(2)} s`;

/** The summary line of a pair: each side's peak with its spread, and the ratio against the target. */
function compareLine(what: string, base: { name: string; s: Series }, load: { name: string; s: Series }, target: number): string {
  const a = base.s.peak();
  const b = load.s.peak();
  const failed = base.s.failed.length + load.s.failed.length;
  return (
    `${what}: peak RSS ${base.name} ${spreadMb(base.s.kb)}; ${load.name} ${spreadMb(load.s.kb)}; ratio ${ratioText(a && b ? b / a : undefined, target)}` +
    `; time ${medianText(base.s.ms, sec)} / ${medianText(load.s.ms, sec)}, CPU ${medianText(base.s.cpuS, cpuText)} / ${medianText(load.s.cpuS, cpuText)}, source CPU ${medianText(base.s.sourceCpuS, cpuText)} / ${medianText(load.s.sourceCpuS, cpuText)}` +
    (failed ? `; ${failed} run(s) FAILED` : '')
  );
}

type Side = { name: string; run: (v: Variant, into: Series) => Promise<void> };

/**
 * A scenario's `runs` rounds, each the base case then the loaded one (for every variant);
 * its summary lines: each variant's pair against the target and, in an A/B, the flags'
 * effect (with / without) on the peaks and CPU times.
 */
async function pair(what: string, target: number, a: Side, b: Side): Promise<string[]> {
  const series = VARIANTS.map(() => ({ a: new Series(), b: new Series() }));
  for (let i = 1; i <= runs; i++) {
    console.log(`run ${i}`);
    for (const [k, v] of VARIANTS.entries()) {
      await a.run(v, series[k].a);
      await b.run(v, series[k].b);
    }
  }
  const lines = VARIANTS.map((v, k) => compareLine(`${what}${v.tag}`, { name: a.name, s: series[k].a }, { name: b.name, s: series[k].b }, target));
  if (series.length === 2) {
    const r = (xs: number[], ys: number[]): string => (xs.length && ys.length ? (median(ys)! / median(xs)!).toFixed(3) : 'n/a');
    const [off, on] = series;
    lines.push(
      `${what} A/B: with ${abFlags} / without: peak RSS ${a.name} ${r(off.a.kb, on.a.kb)}, ${b.name} ${r(off.b.kb, on.b.kb)}; CPU ${r(off.a.cpuS, on.a.cpuS)}, ${r(off.b.cpuS, on.b.cpuS)}; time ${r(off.a.ms, on.a.ms)}, ${r(off.b.ms, on.b.ms)}`,
    );
  }
  for (const l of lines) console.log(l);
  return lines;
}

/** The receive scenarios and the tasks scenario, served by one sender (and s3rver). */
async function receiving(base: string, s3: S3): Promise<string[]> {
  const root = cleanup.dir(path.join(base, 'sender'));
  const { sender } = await startLoopbackSender(s3, { root, config: { autosend: true, uploadingnum: taskCount + 2 }, tuning: { hashstable: '300ms' } });
  cleanup.onStop(() => sender.stop());
  const dcps = path.dirname(senderDcpDir(sender, 'x'));
  const split = scenarios.has('bt') ? '1:0:0' : '0:0:1';
  const publish = async (name: string, mib: number, how: string): Promise<Task> => {
    const t0 = performance.now();
    await makeSparseDcp(dcps, name, mib);
    const task = await publishDcp(sender, name, how, 600_000 + mib * 100);
    console.log(`published ${name} (${mib} MiB, ${task.filelist.length} files, ${how}) in ${sec(performance.now() - t0)}; sender RSS now ${mb(await rssKb(sender.proc.pid!))}`);
    return task;
  };
  const lines: string[] = [];
  const methods = METHODS.filter((m) => scenarios.has(m));
  if (methods.length) {
    const small = await publish('mem-small', sizeMb, split);
    const large = await publish('mem-large', largeMb, split);
    if (methods.includes('obs')) for (const t of [small, large]) await placeObjects(s3, t, senderDcpDir(sender, t.name));
    await waitIdle(sender.proc.pid!);
    for (const m of methods) {
      console.log(`\n== ${m}: one DCP of ${largeMb} MiB against one of ${sizeMb} MiB, ${runs} runs alternated`);
      const sourcePid = m === 'obs' ? s3.proc.pid! : sender.proc.pid!;
      const side = (t: Task, mib: number): Side => ({ name: `${mib} MiB`, run: (v, into) => receiveRun(`${m} ${mib} MiB${v.tag}`, base, s3, [taskForMethod(t, m)], sourcePid, v, into) });
      lines.push(...(await pair(m, TARGET_SIZE, side(small, sizeMb), side(large, largeMb))));
    }
  }
  if (scenarios.has('tasks')) {
    const tasks: Task[] = [];
    for (let i = 1; i <= taskCount; i++) tasks.push(taskForMethod(await publish(`mem-task-${i}`, sizeMb, '0:0:1'), 'cdn'));
    await waitIdle(sender.proc.pid!);
    console.log(`\n== tasks: ${taskCount} CDN tasks of ${sizeMb} MiB at once against one, ${runs} runs alternated`);
    const side = (ts: Task[]): Side => {
      const name = `${ts.length} task${ts.length > 1 ? 's' : ''}`;
      return { name, run: (v, into) => receiveRun(`${name}${v.tag}`, base, s3, ts, sender.proc.pid!, v, into) };
    };
    lines.push(...(await pair('tasks', TARGET_LOAD, side(tasks.slice(0, 1)), side(tasks))));
  }
  await sender.stop();
  await cleanup.forgetDir(root);
  return lines;
}

let senders = 0;

/** A fresh sender publishes `dcpCount` DCPs (1:0:0) and seeds them to `peers` aria2c at once (peer j takes DCP j mod dcpCount). */
async function seedRun(base: string, s3: S3, dcpCount: number, peers: number, v: Variant, into: Series): Promise<void> {
  const label = `${seedLabel(dcpCount, peers)}${v.tag}`;
  if (!(await roomFor(base, peers * seedMb, label))) return;
  const root = cleanup.dir(path.join(base, `seeder-${++senders}`));
  const { sender } = await startLoopbackSender(s3, { root, config: { autosend: true, uploadingnum: dcpCount }, tuning: { hashstable: '300ms' }, env: v.env });
  const pid = sender.proc.pid!;
  const peerDirs: string[] = [];
  try {
    await checkFlags(pid, v);
    const dcps = path.dirname(senderDcpDir(sender, 'x'));
    const tasks: Task[] = [];
    for (let i = 1; i <= dcpCount; i++) {
      await makeSparseDcp(dcps, `mem-seed-${i}`, seedMb);
      tasks.push(await publishDcp(sender, `mem-seed-${i}`, '1:0:0', 600_000 + seedMb * 100));
    }
    const torrents = await Promise.all(tasks.map((t) => fetchTorrent(t, path.join(root, `${t.name}.torrent`))));
    await waitIdle(pid);
    const publishedHwm = await hwmKb(pid);
    await settleMemory();
    const idleKb = await rssKb(pid);
    const reset = await resetPeakRss(pid);
    const rss = sampleRss(pid);
    const cpu0 = await cpuSeconds(pid);
    const t0 = performance.now();
    const codes = await Promise.all(
      Array.from({ length: peers }, async (_, j) => {
        const dir = cleanup.dir(path.join(base, `peer-${senders}-${j}`));
        peerDirs.push(dir);
        await mkdir(dir, { recursive: true });
        // A peer that gets nothing for 2 minutes gives up instead of hanging the bench; its
        // log (beside its directory) says why a peer failed.
        return runCommand('aria2c', await aria2cArgs(dir, torrents[j % dcpCount], ['--bt-stop-timeout=120', `--log=${dir}.log`, '--log-level=warn']));
      }),
    );
    const ms = performance.now() - t0;
    const cpuS = (await cpuSeconds(pid)) - cpu0;
    await new Promise((r) => setTimeout(r, TAIL_MS));
    const r = await rss.stop();
    const peakKb = Math.max(r.peakKb, reset ? (r.hwmKb ?? 0) : 0);
    const bad = codes.filter((c) => c !== 0).length;
    for (let j = 0; j < peers && bad === 0; j++) {
      const t = tasks[j % dcpCount];
      for (const f of t.filelist) {
        const got = (await stat(path.join(peerDirs[j], t.name, f.file))).size;
        if (got !== f.size) throw new Error(`peer ${j} got ${got} bytes of ${t.name}/${f.file}, expected ${f.size}`);
      }
    }
    if (bad) {
      const logs = await Promise.all(codes.map(async (c, j) => (c === 0 ? '' : `peer ${j} (exit ${c}):\n${(await readFile(`${peerDirs[j]}.log`, 'utf8').catch(() => '(no log)')).split('\n').slice(-8).join('\n')}`)));
      throw new Error(`${bad} of ${peers} aria2c failed (exit codes ${codes.join(',')})\n${logs.filter(Boolean).join('\n')}`);
    }
    const bytes = peers * totalBytes(tasks.slice(0, 1));
    into.kb.push(peakKb);
    into.ms.push(ms);
    into.cpuS.push(cpuS);
    console.log(
      `  ${label.padEnd(26)}: ${sec(ms)} (${mibps(bytes, ms)} served), sender peak RSS ${mb(peakKb)}${reset ? '' : ' (VmHWM could not be reset: samples only)'} (idle before ${mb(idleKb)}; by fifth of the run ${fifthsText(r.fifthsKb)}), CPU ${cpuS.toFixed(2)} s; VmHWM while publishing ${publishedHwm ? mb(publishedHwm) : 'n/a'}`,
    );
  } catch (err) {
    into.failed.push((err as Error).message);
    console.log(`  ${label.padEnd(26)}: FAILED: ${(err as Error).message}\n--- last sender output ---\n${sender.output().split('\n').slice(-20).join('\n')}`);
  } finally {
    await sender.stop();
    await cleanup.forgetDir(root);
    for (const d of peerDirs) {
      await cleanup.forgetDir(d);
      await rm(`${d}.log`, { force: true });
    }
  }
}

const seedLabel = (dcps: number, peers: number): string => `${dcps} DCP${dcps > 1 ? 's' : ''} to ${peers} peer${peers > 1 ? 's' : ''}`;

async function seeding(base: string, s3: S3): Promise<string[]> {
  console.log(`\n== seed: a sender seeding ${seedDcps} DCPs of ${seedMb} MiB to ${peerCount} aria2c against 1 to 1, ${runs} runs alternated`);
  const side = (dcps: number, peers: number): Side => ({ name: seedLabel(dcps, peers), run: (v, into) => seedRun(base, s3, dcps, peers, v, into) });
  return pair('seed', TARGET_LOAD, side(1, 1), side(seedDcps, peerCount));
}

async function main(): Promise<void> {
  console.log(
    `bench-memory: scenarios ${[...scenarios].join(', ')}; receive ${largeMb} MiB against ${sizeMb} MiB; ${taskCount} tasks of ${sizeMb} MiB against 1; seed ${seedDcps} DCPs of ${seedMb} MiB to ${peerCount} peers against 1 to 1; ${runs} runs each`,
  );
  console.log(`machine: ${describeMachine()}`);
  if (process.env.BFT2_NODE_FLAGS) console.log(`daemons run with BFT2_NODE_FLAGS="${process.env.BFT2_NODE_FLAGS}"`);
  if (abFlags) console.log(`A/B: every run without node flags and with "${abFlags}", alternated`);
  ensureTool('curl');
  ensureTool('aria2c');
  const base = cleanup.dir(await makeTempRoot());
  const disk = await diskMb(base);
  console.log(`disk: ${disk.free.toFixed(0)} MiB free of ${disk.total.toFixed(0)} in ${path.dirname(base)}`);
  const load = machineLoad();
  await load.mark();
  const s3 = await startS3(cleanup);
  const lines: string[] = [];
  if (['cdn', 'obs', 'bt', 'tasks'].some((s) => scenarios.has(s))) lines.push(...(await receiving(base, s3)));
  if (scenarios.has('seed')) lines.push(...(await seeding(base, s3)));
  console.log('\n== summary');
  for (const l of lines) console.log(l);
  console.log(await load.report());
}

await runBench('bench-memory', main, cleanup);
