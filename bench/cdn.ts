// Benchmark of the CDN download path (issue 10): the same data from the production origin
// (src/origin) fetched alternately by `curl`, by `curl` followed by `sync` of its files,
// and by a bft2 receiver daemon driven through its spool (task renamed into `queues` →
// `<name>.finished`, every file fsynced and checked against its sha1). Two data sets:
// - file: one file of BENCH_SIZE_MB (default 1024 MiB);
// - dcp: a DCP of 4 reels of about the same total (picture and sound per reel, CPL, PKL,
//   ASSETMAP, VOLINDEX), which curl fetches in one run over one connection.
// Prints every run, the medians, bft2's ratio to `curl + sync` (the like-for-like figure:
// both end with the data on disk; target <= 1.15) and to `curl` alone, and the daemon's
// peak RSS (sampled every 50 ms; target <= 150 MB) and CPU time. A report, not a gate:
// it always exits 0.
//
// Env: BENCH_SIZE_MB (1024), BENCH_RUNS (5), BENCH_SETS (file,dcp), BENCH_TIMEOUT_S (per
// bft2 run), BENCH_CACHE_DIR (where the generated data is kept between invocations),
// BENCH_DAEMON_ENTRY (a stand-in for src/cli/main.ts, to check the bench itself).
// Flag: --dry-run (generate data, start/stop the origin, one curl run per set; no daemon).
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startOrigin } from '../src/origin/http-origin.ts';
import { makeCdnTask, makeDcp, type FileEntry } from '../tools/harness/dcp-fixture.ts';
import { makeTempRoot, startDaemon } from '../tools/harness/daemon.ts';
import { Cleanup, dataSet, describeMachine, ensureTool, Figures, machineLoad, mb, mibps, MiB, positiveInt, ratioText, sec, timeTask, timeTool, runBench } from './lib/common.ts';

const TARGET_RATIO = 1.15;
const TARGET_RSS_MB = 150;
const BASESUBDIR = 'cfec-001';

const dryRun = process.argv.includes('--dry-run');
const sizeMb = positiveInt(process.env.BENCH_SIZE_MB, 1024);
const runs = positiveInt(process.env.BENCH_RUNS, 5);
const sets = (process.env.BENCH_SETS ?? 'file,dcp').split(',').filter((s) => s === 'file' || s === 'dcp');
// Generous: a working daemon on loopback moves >100 MB/s; this only bounds a hung run.
const timeoutS = positiveInt(process.env.BENCH_TIMEOUT_S, 60 + Math.ceil(sizeMb / 10));
const cacheDir = process.env.BENCH_CACHE_DIR ?? path.join(os.tmpdir(), 'bft2-bench-cdn-cache');
const cleanup = new Cleanup();
cleanup.trapSignals();

/** The cached data lives at <cache>/store/<basesubdir>/dcps/<name>, as on a sender. */
async function ensureData(set: 'file' | 'dcp'): Promise<{ name: string; store: string; filelist: FileEntry[] }> {
  const { name, files } = dataSet(set, sizeMb);
  const store = path.join(cacheDir, 'store');
  const dcps = path.join(store, BASESUBDIR, 'dcps');
  const manifestPath = path.join(cacheDir, `${name}.manifest.json`);
  try {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as { name: string; filelist: FileEntry[] };
    let ok = m.name === name && m.filelist.length === files.length;
    for (const f of ok ? m.filelist : []) ok &&= (await stat(path.join(dcps, name, f.file))).size === f.size;
    if (ok) {
      console.log(`data: cached ${path.join(dcps, name)}`);
      return { name, store, filelist: m.filelist };
    }
  } catch {
    // no usable cache: generate below
  }
  console.log(`data: generating ${files.length} file(s), ${sizeMb} MiB in ${path.join(dcps, name)} ...`);
  const t0 = performance.now();
  await rm(path.join(dcps, name), { recursive: true, force: true });
  const made = await makeDcp(dcps, name, files);
  // Written last, so an interrupted generation is never taken for a complete one.
  await writeFile(manifestPath, JSON.stringify({ name, filelist: made.filelist }));
  console.log(`data: generated in ${sec(performance.now() - t0)}`);
  return { name, store, filelist: made.filelist };
}

async function benchSet(set: 'file' | 'dcp', originUrl: string, curlDir: string): Promise<string[]> {
  const { name, filelist } = await ensureData(set);
  const size = filelist.reduce((s, f) => s + f.size, 0);
  const base = `${originUrl}/dcp/${BASESUBDIR}/dcps/${name}`;
  const outs = filelist.map((f) => path.join(curlDir, f.file));
  for (const o of outs) await mkdir(path.dirname(o), { recursive: true });
  // One curl for every file of the set: one process, one connection (as a script would).
  const curlArgs = ['-s', '--fail', ...filelist.flatMap((f, i) => ['-o', outs[i], `${base}/${f.file.split('/').map(encodeURIComponent).join('/')}`])];
  const sizes = filelist.map((f) => f.size);
  const label = `${set} (${filelist.length} file${filelist.length > 1 ? 's' : ''}, ${(size / MiB).toFixed(0)} MiB)`;
  console.log(`\n== ${label}`);
  const fig = new Figures();
  let peakKb = 0;
  const cpu: number[] = [];
  const n = dryRun ? 1 : runs;
  for (let i = 1; i <= n; i++) {
    for (const [who, sync] of [
      ['curl', false],
      ['curl+sync', true],
    ] as const) {
      if (dryRun && sync) continue;
      try {
        const ms = await timeTool('curl', curlArgs, outs, sizes, { sync });
        fig.add(who, ms);
        console.log(`run ${i}  ${who.padEnd(9)} : ${sec(ms)}  (${mibps(size, ms)})`);
      } catch (err) {
        console.log(`run ${i}  ${who.padEnd(9)} : FAILED: ${(err as Error).message}`);
      }
    }
    if (dryRun) break;
    const root = cleanup.dir(await makeTempRoot());
    // startDaemon returns after the heartbeat answers: start-up is not timed.
    const daemon = await startDaemon({ root, config: {}, entry: process.env.BENCH_DAEMON_ENTRY || undefined });
    try {
      const task = makeCdnTask({ name, basesubdir: BASESUBDIR, cdnUrl: base, filelist }) as Record<string, unknown> & { name: string; basesubdir: string };
      const r = await timeTask(daemon, task, filelist, timeoutS);
      fig.add('bft2', r.ms);
      cpu.push(r.cpuS);
      peakKb = Math.max(peakKb, r.peakKb);
      console.log(`run ${i}  bft2      : ${sec(r.ms)}  (${mibps(size, r.ms)}), peak RSS ${mb(r.peakKb)}, CPU ${r.cpuS.toFixed(2)} s`);
    } catch (err) {
      const out = daemon.output().split('\n').slice(-20).join('\n');
      console.log(`run ${i}  bft2      : FAILED: ${(err as Error).message}\n--- last daemon output ---\n${out}`);
    } finally {
      await daemon.stop();
      await cleanup.forgetDir(root);
    }
  }
  const summary = [
    `${label}: median curl ${sec(fig.median('curl'))}, curl+sync ${sec(fig.median('curl+sync'))}, bft2 ${sec(fig.median('bft2'))}`,
    `${label}: ratio bft2/(curl+sync) ${ratioText(fig.ratio('bft2', 'curl+sync'), TARGET_RATIO)}; bft2/curl ${ratioText(fig.ratio('bft2', 'curl'))}`,
    `${label}: peak RSS bft2 ${fig.ms.has('bft2') ? mb(peakKb) : 'n/a'}  (target <= ${TARGET_RSS_MB} MB: ${fig.ms.has('bft2') ? (peakKb / 1024 <= TARGET_RSS_MB ? 'ok' : 'MISSED') : 'n/a'}); daemon CPU median ${cpu.length ? `${[...cpu].sort((a, b) => a - b)[cpu.length >> 1].toFixed(2)} s` : 'n/a'}`,
  ];
  for (const l of summary) console.log(l);
  return summary;
}

async function main(): Promise<void> {
  console.log(`bench-cdn: ${sizeMb} MiB per set, sets ${sets.join(', ')}, ${dryRun ? 'dry run (curl once, no daemon)' : `${runs} runs alternated`}`);
  console.log(`machine: ${describeMachine()}`);
  ensureTool('curl');
  const store = path.join(cacheDir, 'store');
  await mkdir(store, { recursive: true });
  const origin = await startOrigin({ rootDir: store, host: '127.0.0.1', port: 0 });
  cleanup.onStop(() => origin.close());
  console.log(`origin: ${origin.url}`);
  const curlDir = cleanup.dir(await makeTempRoot());
  const load = machineLoad();
  await load.mark();
  const lines: string[] = [];
  for (const set of sets) lines.push(...(await benchSet(set, origin.url, curlDir)));
  console.log('\n== summary');
  for (const l of lines) console.log(l);
  console.log(await load.report());
}

await runBench('bench-cdn', main, cleanup);
