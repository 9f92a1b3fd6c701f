// Benchmark of a receiver's OBS, hybrid and BitTorrent downloads on loopback (issue 10),
// each against a standard tool run side by side, and of a sender's RSS while it seeds.
// A sender daemon (HTTP origin, embedded tracker, OBS upload to s3rver in a process of its
// own) publishes generated DCPs of 4 reels with gentask + autosend:
// - obs: a DCP sent 0:1:0, fetched by a bft2 receiver (task renamed into `queues` →
//   `.finished`) and by `curl` (+ `sync`) straight from the store's object URLs;
// - hybrid: a DCP sent 1:1:1 (BitTorrent from the sender, OBS, the sender's origin as CDN),
//   against `curl + sync` of the whole DCP from the origin (the same bytes, on disk);
// - bt: a DCP sent 1:0:0, fetched by a bft2 receiver and by `aria2c` (+ `sync`) from the
//   sender's seed (peers found through the tracker, as the receiver finds them);
// - seed: three DCPs sent 1:0:0 (the bt one among them), fetched at once by three aria2c,
//   while the sender's RSS is sampled.
// Every bft2 run is a fresh receiver daemon; runs alternate with the tool's. Prints every
// run, medians, ratios (OBS target: <= 1.15 x curl + sync) and the peak RSS of each
// receiver and of the sender (target <= 150 MB). A report, not a gate: it always exits 0.
//
// Env: BENCH_SIZE_MB (1024: each of the obs, hybrid and bt DCPs), BENCH_SEED_MB (940: each
// of the other two seeded DCPs, so the sender seeds about 2.8 GB), BENCH_RUNS (3),
// BENCH_SCENARIOS (obs,hybrid,bt,seed), BENCH_HYBRID_MIX (1:1:1: the hybrid's bt:obs:cdn),
// BENCH_TIMEOUT_S (per run).
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { makeDcp, type FileEntry } from '../tools/harness/dcp-fixture.ts';
import { makeTempRoot, type Daemon } from '../tools/harness/daemon.ts';
import { startLoopbackSender } from '../tools/harness/sender-config.ts';
import { objectKey, parseObsUrl } from '../src/transfer/obs/obs-url.ts';
import {
  Cleanup,
  dataSet,
  describeMachine,
  ensureTool,
  Figures,
  machineLoad,
  mb,
  mibps,
  MiB,
  positiveInt,
  ratioText,
  rssKb,
  runCommand,
  sampleRss,
  sec,
  timeTask,
  timeTool,
  runBench,
} from './lib/common.ts';
import { aria2cArgs, BASESUBDIR, fetchTorrent, publishDcp, startReceiver, startS3, type S3, type Task } from './lib/loopback.ts';

const TARGET_RATIO = 1.15;
const TARGET_RSS_MB = 150;
const sizeMb = positiveInt(process.env.BENCH_SIZE_MB, 1024);
const seedMb = positiveInt(process.env.BENCH_SEED_MB, 940);
const runs = positiveInt(process.env.BENCH_RUNS, 3);
const scenarios = new Set((process.env.BENCH_SCENARIOS ?? 'obs,hybrid,bt,seed').split(','));
const hybridMix = process.env.BENCH_HYBRID_MIX ?? '1:1:1';
const timeoutS = positiveInt(process.env.BENCH_TIMEOUT_S, 120 + Math.ceil(sizeMb / 5));
const cleanup = new Cleanup();
cleanup.trapSignals();

/** A DCP generated in the sender's store and published with gentask; its uploaded task. */
async function publish(sender: Daemon, name: string, totalMb: number, split: string): Promise<Task> {
  const dcps = path.join(sender.root, 'data/dcp', BASESUBDIR, 'dcps');
  const t0 = performance.now();
  const made = await makeDcp(dcps, name, dataSet('dcp', totalMb).files);
  const task = await publishDcp(sender, name, split);
  console.log(`published ${name} (${(made.size / MiB).toFixed(0)} MiB, ${made.filelist.length} files, ${split}) in ${sec(performance.now() - t0)}; sender RSS now ${mb(await rssKb(sender.proc.pid!))}`);
  return task;
}

async function receiver(base: string, s3: S3, tag: string): Promise<Daemon> {
  return startReceiver(cleanup.dir(path.join(base, `receiver-${tag}`)), s3);
}

interface Outcome {
  lines: string[];
}

/** bft2 against a tool, alternated `runs` times; the receiver's RSS peak and CPU too. */
async function compare(
  label: string,
  base: string,
  s3: S3,
  task: Task,
  tool: { name: string; run: (sync: boolean) => Promise<number> },
  target?: number,
): Promise<Outcome> {
  const size = task.filelist.reduce((s, f) => s + f.size, 0);
  console.log(`\n== ${label} (${task.filelist.length} files, ${(size / MiB).toFixed(0)} MiB)`);
  const fig = new Figures();
  let peakKb = 0;
  const cpu: number[] = [];
  for (let i = 1; i <= runs; i++) {
    for (const sync of [false, true]) {
      const who = sync ? `${tool.name}+sync` : tool.name;
      try {
        const ms = await tool.run(sync);
        fig.add(who, ms);
        console.log(`run ${i}  ${who.padEnd(12)}: ${sec(ms)}  (${mibps(size, ms)})`);
      } catch (err) {
        console.log(`run ${i}  ${who.padEnd(12)}: FAILED: ${(err as Error).message}`);
      }
    }
    const d = await receiver(base, s3, `${label}-${i}`);
    try {
      const r = await timeTask(d, task, task.filelist, timeoutS);
      fig.add('bft2', r.ms);
      cpu.push(r.cpuS);
      peakKb = Math.max(peakKb, r.peakKb);
      console.log(`run ${i}  ${'bft2'.padEnd(12)}: ${sec(r.ms)}  (${mibps(size, r.ms)}), peak RSS ${mb(r.peakKb)}, CPU ${r.cpuS.toFixed(2)} s`);
    } catch (err) {
      console.log(`run ${i}  bft2        : FAILED: ${(err as Error).message}\n--- last daemon output ---\n${d.output().split('\n').slice(-20).join('\n')}`);
    } finally {
      await d.stop();
      await cleanup.forgetDir(d.root);
    }
  }
  const lines = [
    `${label}: median ${tool.name} ${sec(fig.median(tool.name))}, ${tool.name}+sync ${sec(fig.median(`${tool.name}+sync`))}, bft2 ${sec(fig.median('bft2'))}`,
    `${label}: ratio bft2/(${tool.name}+sync) ${ratioText(fig.ratio('bft2', `${tool.name}+sync`), target)}; bft2/${tool.name} ${ratioText(fig.ratio('bft2', tool.name))}`,
    `${label}: receiver peak RSS ${fig.ms.has('bft2') ? mb(peakKb) : 'n/a'}  (target <= ${TARGET_RSS_MB} MB: ${fig.ms.has('bft2') ? (peakKb / 1024 <= TARGET_RSS_MB ? 'ok' : 'MISSED') : 'n/a'}); CPU median ${cpu.length ? `${[...cpu].sort((a, b) => a - b)[cpu.length >> 1].toFixed(2)} s` : 'n/a'}`,
  ];
  for (const l of lines) console.log(l);
  return { lines };
}

/** `curl` of every file of a task from `urlOf(file)` in one run (one connection). */
function curlTool(out: string, task: Task, urlOf: (f: FileEntry) => string) {
  const outs = task.filelist.map((f) => path.join(out, f.file));
  return {
    name: 'curl',
    run: async (sync: boolean) => {
      for (const o of outs) await mkdir(path.dirname(o), { recursive: true });
      return timeTool('curl', ['-s', '--fail', ...task.filelist.flatMap((f, i) => ['-o', outs[i], urlOf(f)])], outs, task.filelist.map((f) => f.size), { sync });
    },
  };
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

function aria2cTool(out: string, task: Task, torrent: string) {
  // The torrent's name is the DCP's directory name.
  const outs = task.filelist.map((f) => path.join(out, task.name, f.file));
  return {
    name: 'aria2c',
    run: async (sync: boolean) => timeTool('aria2c', await aria2cArgs(out, torrent), outs, task.filelist.map((f) => f.size), { sync }),
  };
}

async function main(): Promise<void> {
  console.log(`bench-receive: scenarios ${[...scenarios].join(', ')}; ${sizeMb} MiB per DCP, ${runs} runs alternated`);
  console.log(`machine: ${describeMachine()}`);
  ensureTool('curl');
  ensureTool('aria2c');
  const base = cleanup.dir(await makeTempRoot());
  const s3 = await startS3(cleanup);
  const { sender, origin } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: { hashstable: '300ms' } });
  cleanup.onStop(() => sender.stop());
  const senderRss = sampleRss(sender.proc.pid!);
  const out = cleanup.dir(path.join(base, 'tool-out'));
  await mkdir(out, { recursive: true });
  const summary: string[] = [];
  const load = machineLoad();

  const wantBt = scenarios.has('bt') || scenarios.has('seed');
  const obsTask = scenarios.has('obs') ? await publish(sender, 'recv-obs', sizeMb, '0:1:0') : undefined;
  const hybridTask = scenarios.has('hybrid') ? await publish(sender, 'recv-hybrid', sizeMb, hybridMix) : undefined;
  const btTask = wantBt ? await publish(sender, 'recv-bt', sizeMb, '1:0:0') : undefined;
  const seedTasks = scenarios.has('seed') ? [btTask!, await publish(sender, 'seed-2', seedMb, '1:0:0'), await publish(sender, 'seed-3', seedMb, '1:0:0')] : [];
  await load.mark();

  if (obsTask) {
    const { bucket, prefix } = parseObsUrl(obsTask.obs.url);
    const tool = curlTool(out, obsTask, (f) => `${s3.endpoint}/${bucket}/${encodePath(objectKey(prefix, f.file))}`);
    summary.push(...(await compare('obs 0:1:0', base, s3, obsTask, tool, TARGET_RATIO)).lines);
  }
  if (hybridTask) {
    const tool = curlTool(out, hybridTask, (f) => `${origin}/dcp/${BASESUBDIR}/dcps/${hybridTask.name}/${encodePath(f.file)}`);
    summary.push(...(await compare(`hybrid ${hybridMix}`, base, s3, hybridTask, tool)).lines);
  }
  const torrents = new Map<string, string>();
  for (const t of seedTasks.length ? seedTasks : btTask ? [btTask] : []) {
    torrents.set(t.name, await fetchTorrent(t, path.join(base, `${t.name}.torrent`)));
  }
  if (btTask && scenarios.has('bt')) summary.push(...(await compare('bt 1:0:0', base, s3, btTask, aria2cTool(out, btTask, torrents.get(btTask.name)!))).lines);

  if (seedTasks.length) {
    console.log(`\n== seed: the sender seeds ${seedTasks.length} DCPs to ${seedTasks.length} aria2c at once`);
    const during = sampleRss(sender.proc.pid!);
    const t0 = performance.now();
    const codes = await Promise.all(
      seedTasks.map(async (t) => {
        const dir = path.join(out, `seed-${t.name}`);
        await mkdir(dir, { recursive: true });
        return runCommand('aria2c', await aria2cArgs(dir, torrents.get(t.name)!));
      }),
    );
    const ms = performance.now() - t0;
    const r = await during.stop();
    const bytes = seedTasks.reduce((s, t) => s + t.filelist.reduce((x, f) => x + f.size, 0), 0);
    const line = `seed: ${seedTasks.length} DCPs, ${(bytes / MiB).toFixed(0)} MiB served in ${sec(ms)} (${mibps(bytes, ms)}; aria2c exit codes ${codes.join(',')}); sender peak RSS meanwhile ${mb(r.peakKb)}  (target <= ${TARGET_RSS_MB} MB: ${r.peakKb / 1024 <= TARGET_RSS_MB ? 'ok' : 'MISSED'})`;
    console.log(line);
    summary.push(line);
  }
  const s = await senderRss.stop();
  summary.push(`sender peak RSS over the whole bench (publishing included) ${mb(s.peakKb)}; VmHWM ${s.hwmKb ? mb(s.hwmKb) : 'n/a'}`);
  console.log('\n== summary');
  for (const l of summary) console.log(l);
  console.log(await load.report());
}

await runBench('bench-receive', main, cleanup);
