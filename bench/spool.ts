// Benchmark and soak of spool pickup (issue 10): how soon a task dropped into a receiver's
// `queues` leaves it, with the default settle time (tuning.settle) unless BENCH_SETTLE
// sets one, and what happens when 1,000 tasks are dropped at once.
// - pickup: BENCH_RUNS tasks (default 60), one at a time into an idle daemon, half renamed
//   into place (rsync, a TMS writing a temp name) and half written in place (cp); the time
//   from the drop to the file leaving `queues` (fs.watch on the directory, checked by
//   stat). Prints p50 / p95 / max per way and together (targets: p50 <= 100 ms, p95 <= 300 ms).
// - soak: BENCH_SOAK tasks (default 1000) renamed into `queues` as fast as the disk allows;
//   the time until every one left `queues` and until every one is downloaded; then checks
//   that each is in `downloaded` once, none in `queues`, `downloading`, `history` or with
//   `.err`, and that the log has each task queued and downloaded exactly once.
// Each task fetches one 4 KiB file from a local origin, so the spool, not the transfer, is
// what is measured. A report, not a gate: it always exits 0.
import { watch } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { startOrigin } from '../src/origin/http-origin.ts';
import { makeCdnTask, makeDcp } from '../tools/harness/dcp-fixture.ts';
import { makeTempRoot, startDaemon, waitFor, type Daemon } from '../tools/harness/daemon.ts';
import { Cleanup, describeMachine, exists, machineLoad, msText, percentile, positiveInt, sec, runBench } from './lib/common.ts';

const runs = positiveInt(process.env.BENCH_RUNS, 60);
const soak = positiveInt(process.env.BENCH_SOAK, 1000);
const BASESUBDIR = 'cfec-001';
const cleanup = new Cleanup();
cleanup.trapSignals();

/** Resolves with the time `file` was seen gone (fs.watch wakes us; a 5 ms stat poll backs it up). */
function whenGone(dir: string, file: string): Promise<number> {
  return new Promise((resolve) => {
    let done = false;
    const check = async () => {
      if (done) return;
      if (!(await exists(path.join(dir, file)))) {
        const t = performance.now();
        if (done) return;
        done = true;
        w.close();
        clearInterval(poll);
        resolve(t);
      }
    };
    const w = watch(dir, () => void check());
    const poll = setInterval(() => void check(), 5);
  });
}

async function pickupRuns(d: Daemon, cdnBase: string, filelist: { file: string; hash: string; size: number }[]): Promise<void> {
  const byWay: Record<'rename' | 'write', number[]> = { rename: [], write: [] };
  for (let i = 1; i <= runs; i++) {
    const way = i % 2 ? 'rename' : 'write';
    const name = `pickup-${String(i).padStart(4, '0')}`;
    const taskName = `${BASESUBDIR}-${name}.task.json`;
    const text = JSON.stringify(makeCdnTask({ name, basesubdir: BASESUBDIR, cdnUrl: cdnBase, filelist }), null, 2);
    let t0: number;
    let gone: Promise<number>;
    if (way === 'rename') {
      const tmp = path.join(d.paths.queues, `.${taskName}.tmp`);
      await writeFile(tmp, text);
      gone = whenGone(d.paths.queues, taskName);
      t0 = performance.now();
      await rename(tmp, path.join(d.paths.queues, taskName));
    } else {
      gone = whenGone(d.paths.queues, taskName);
      t0 = performance.now();
      await writeFile(path.join(d.paths.queues, taskName), text);
    }
    const ms = (await gone) - t0;
    byWay[way].push(ms);
    await waitFor(() => exists(path.join(d.paths.downloaded, taskName)), { timeoutMs: 60_000, intervalMs: 10, what: `${name} downloaded` });
    // An idle daemon between drops, as a task arriving alone would find it.
    await new Promise((r) => setTimeout(r, 100));
  }
  const all = [...byWay.rename, ...byWay.write];
  const line = (label: string, xs: number[]) =>
    `pickup ${label.padEnd(22)} n=${String(xs.length).padStart(3)}  p50 ${msText(percentile(xs, 50)).padStart(6)}  p95 ${msText(percentile(xs, 95)).padStart(6)}  max ${msText(Math.max(...xs)).padStart(6)}`;
  console.log(line('renamed into place', byWay.rename));
  console.log(line('written in place', byWay.write));
  console.log(line('all', all));
  const p50 = percentile(all, 50)!;
  const p95 = percentile(all, 95)!;
  console.log(`pickup targets: p50 ${Math.round(p50)} ms <= 100: ${p50 <= 100 ? 'ok' : 'MISSED'}; p95 ${Math.round(p95)} ms <= 300: ${p95 <= 300 ? 'ok' : 'MISSED'}`);
}

async function soakRun(d: Daemon, cdnBase: string, filelist: { file: string; hash: string; size: number }[]): Promise<void> {
  const names = Array.from({ length: soak }, (_, i) => `soak-${String(i + 1).padStart(5, '0')}`);
  const staging = path.join(d.paths.queues, '.staging');
  await mkdir(staging, { recursive: true });
  for (const name of names) await writeFile(path.join(staging, `${BASESUBDIR}-${name}.task.json`), JSON.stringify(makeCdnTask({ name, basesubdir: BASESUBDIR, cdnUrl: cdnBase, filelist })));
  const leftQueues = new Map<string, number>();
  const t0 = performance.now();
  for (const name of names) await rename(path.join(staging, `${BASESUBDIR}-${name}.task.json`), path.join(d.paths.queues, `${BASESUBDIR}-${name}.task.json`));
  const dropMs = performance.now() - t0;
  // When each one left `queues`: the directory listed every 20 ms.
  let allTaken: number | undefined;
  let allLeft: number | undefined;
  let allDownloaded: number | undefined;
  const deadline = t0 + Math.max(120_000, soak * 500);
  while (allDownloaded === undefined && performance.now() < deadline) {
    const now = performance.now();
    const inQueues = new Set(await readdir(d.paths.queues));
    for (const name of names) if (!leftQueues.has(name) && !inQueues.has(`${BASESUBDIR}-${name}.task.json`)) leftQueues.set(name, now - t0);
    if (allLeft === undefined && leftQueues.size === names.length) allLeft = now - t0;
    // Taken: the watcher read it and the receiver queued it (or started it at once).
    if (allTaken === undefined) {
      const log = await readFile(d.paths.log, 'utf8');
      if ((log.match(/task cfec-001-soak-\d+ queued/g)?.length ?? 0) >= names.length) allTaken = performance.now() - t0;
    }
    if (allLeft !== undefined) {
      const done = (await readdir(d.paths.downloaded)).filter((n) => n.startsWith(`${BASESUBDIR}-soak-`) && n.endsWith('.task.json')).length;
      if (done >= names.length) allDownloaded = performance.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await rm(staging, { recursive: true, force: true });
  console.log(`soak: ${soak} tasks renamed into queues in ${sec(dropMs)}`);
  console.log(`soak: all taken (validated and queued) after ${sec(allTaken)}; all left queues after ${sec(allLeft)}; all downloaded after ${sec(allDownloaded)} (downloadingnum ${String(d.config.downloadingnum)})`);
  // None lost, none doubled.
  const list = async (dir: string, suffix: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${BASESUBDIR}-soak-`) && n.endsWith(suffix));
  const downloaded = await list(d.paths.downloaded, '.task.json');
  const left = [...(await list(d.paths.queues, '.task.json')), ...(await list(d.paths.downloading, '.task.json')), ...(await list(d.paths.history, '.task.json'))];
  const errs = [...(await list(d.paths.queues, '.err')), ...(await list(d.paths.downloading, '.err'))];
  const log = await readFile(d.paths.log, 'utf8');
  const count = (re: RegExp) => {
    const m = new Map<string, number>();
    for (const x of log.matchAll(re)) m.set(x[1], (m.get(x[1]) ?? 0) + 1);
    return m;
  };
  const queued = count(/task (cfec-001-soak-\d+) queued/g);
  const stored = count(/downloaded (cfec-001-soak-\d+):/g);
  const lost = names.filter((n) => !downloaded.includes(`${BASESUBDIR}-${n}.task.json`));
  const doubled = names.filter((n) => (queued.get(`${BASESUBDIR}-${n}`) ?? 0) > 1 || (stored.get(`${BASESUBDIR}-${n}`) ?? 0) > 1);
  const ok = lost.length === 0 && doubled.length === 0 && left.length === 0 && errs.length === 0;
  console.log(
    `soak: ${downloaded.length}/${soak} downloaded; lost ${lost.length}, doubled ${doubled.length}, left elsewhere ${left.length}, .err ${errs.length}: ${ok ? 'ok' : 'FAILED'}` +
      (ok ? '' : ` (${[...lost, ...doubled, ...left, ...errs].slice(0, 5).join(', ')})`),
  );
}

async function main(): Promise<void> {
  const settle = process.env.BENCH_SETTLE ?? '';
  console.log(`bench-spool: ${runs} single drops, then ${soak} at once; tuning.settle ${settle || 'default'}`);
  console.log(`machine: ${describeMachine()}`);
  const base = cleanup.dir(await makeTempRoot());
  const dcp = await makeDcp(path.join(base, 'origin', BASESUBDIR, 'dcps'), 'tiny', [{ file: 'tiny.mxf', size: 4096 }]);
  const origin = await startOrigin({ rootDir: path.join(base, 'origin'), host: '127.0.0.1', port: 0 });
  cleanup.onStop(() => origin.close());
  const cdnBase = `${origin.url}/dcp/${BASESUBDIR}/dcps/tiny`;
  // The production default of downloadingnum (5), not the tests' 2.
  const d = await startDaemon({ root: path.join(base, 'root'), config: { downloadingnum: 5 }, tuning: settle ? { settle } : {} });
  cleanup.onStop(() => d.stop());
  await mkdir(d.paths.queues, { recursive: true });
  const load = machineLoad();
  await load.mark();
  await pickupRuns(d, cdnBase, dcp.filelist);
  await soakRun(d, cdnBase, dcp.filelist);
  console.log(await load.report());
}

await runBench('bench-spool', main, cleanup);
