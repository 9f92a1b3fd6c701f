// Benchmark of the CDN download path: the same file from the production origin
// (src/origin) fetched alternately by curl and by a bft2 receiver daemon driven
// through its spool; reports both medians, their ratio and the daemon's peak RSS
// against the targets. A report, not a gate: it always exits 0.
//
// Env: BENCH_SIZE_MB (default 1024), BENCH_RUNS (3), BENCH_TIMEOUT_S (per bft2 run),
// BENCH_CACHE_DIR (where the generated DCP is kept between invocations),
// BENCH_DAEMON_ENTRY (a stand-in for src/cli/main.ts, to check the bench itself).
// Flag: --dry-run (generate data, start/stop the origin, one curl run; no daemon).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startOrigin, type StartedOrigin } from '../src/origin/http-origin.ts';
import { makeCdnTask, makeDcp, type FileEntry } from '../test/helpers/dcp-fixture.ts';
import { makeTempRoot, startDaemon, type Daemon } from '../test/helpers/daemon.ts';

const TARGET_RATIO = 1.15;
const TARGET_RSS_MB = 150;
const BASESUBDIR = 'cfec-001';

const dryRun = process.argv.includes('--dry-run');
const sizeMb = positiveInt(process.env.BENCH_SIZE_MB, 1024);
const runs = positiveInt(process.env.BENCH_RUNS, 3);
// Generous: a working daemon on loopback moves >100 MB/s; this only bounds a hung run.
const timeoutS = positiveInt(process.env.BENCH_TIMEOUT_S, 60 + Math.ceil(sizeMb / 10));
const cacheDir = process.env.BENCH_CACHE_DIR ?? path.join(os.tmpdir(), 'bft2-bench-cdn-cache');
const name = `bench-${sizeMb}mb`;

function positiveInt(v: string | undefined, dflt: number): number {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n > 0 ? n : dflt;
}

const roots = new Set<string>(); // removed at the end, whatever happens
const daemons = new Set<Daemon>();
let origin: StartedOrigin | undefined;

interface Manifest {
  name: string;
  filelist: FileEntry[];
}

/** The cached DCP lives at <cache>/store/<basesubdir>/dcps/<name>, as on a sender. */
async function ensureData(): Promise<{ store: string; filelist: FileEntry[] }> {
  const store = path.join(cacheDir, 'store');
  const dcps = path.join(store, BASESUBDIR, 'dcps');
  const manifestPath = path.join(cacheDir, `${name}.manifest.json`);
  const size = sizeMb * 1024 * 1024;
  try {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const st = await stat(path.join(dcps, name, m.filelist[0].file));
    if (m.name === name && m.filelist.length === 1 && m.filelist[0].size === size && st.size === size) {
      console.log(`data: cached ${path.join(dcps, name)}`);
      return { store, filelist: m.filelist };
    }
  } catch {
    // no usable cache: generate below
  }
  console.log(`data: generating ${sizeMb} MiB in ${path.join(dcps, name)} ...`);
  const t0 = performance.now();
  await rm(path.join(dcps, name), { recursive: true, force: true });
  const made = await makeDcp(dcps, name, [{ file: 'video.mxf', size }]);
  // Written last, so an interrupted generation is never taken for a complete one.
  await writeFile(manifestPath, JSON.stringify({ name, filelist: made.filelist } satisfies Manifest));
  console.log(`data: generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { store, filelist: made.filelist };
}

function runCommand(cmd: string, args: string[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (c) => resolve(c ?? -1));
  });
}

/**
 * curl alone leaves the file in dirty pages; bft2 makes every file durable (fsync) before
 * it says `.finished`. With `durable`, curl is followed by `sync FILE` (coreutils fsyncs
 * that one file), the like-for-like comparison on a disk slower than the network.
 */
async function runCurl(url: string, outFile: string, expectedSize: number, durable = false): Promise<number> {
  await rm(outFile, { force: true });
  const t0 = performance.now();
  const code = await runCommand('curl', ['-s', '-o', outFile, url]);
  if (durable && code === 0) await runCommand('sync', [outFile]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`curl exited with ${code}`);
  const got = (await stat(outFile)).size;
  if (got !== expectedSize) throw new Error(`curl wrote ${got} bytes, expected ${expectedSize}`);
  await rm(outFile, { force: true });
  return ms;
}

async function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

interface Bft2Run {
  ms: number;
  peakRssKb: number;
  hwmKb?: number;
}

async function runBft2(originUrl: string, filelist: FileEntry[], expectedSize: number): Promise<Bft2Run> {
  const root = await makeTempRoot();
  roots.add(root);
  // startDaemon returns after the heartbeat answers: start-up is not timed.
  const daemon = await startDaemon({ root, config: {}, entry: process.env.BENCH_DAEMON_ENTRY || undefined });
  daemons.add(daemon);
  try {
    const pid = daemon.proc.pid!;
    const task = makeCdnTask({
      name,
      basesubdir: BASESUBDIR,
      cdnUrl: `${originUrl}/dcp/${BASESUBDIR}/dcps/${name}`,
      filelist,
    });
    await mkdir(daemon.paths.queues, { recursive: true });
    const taskName = `${BASESUBDIR}-${name}.task.json`;
    // A dotfile that does not end in .task.json: the spool must ignore it until renamed.
    const tmpPath = path.join(daemon.paths.queues, `.bench-${taskName}.tmp`);
    await writeFile(tmpPath, JSON.stringify(task, null, 2));
    const finished = path.join(daemon.paths.dcp, `${name}.finished`);

    let peakRssKb = (await readStatusKb(pid, 'VmRSS')) ?? 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const kb = await readStatusKb(pid, 'VmRSS');
        if (kb !== undefined && kb > peakRssKb) peakRssKb = kb;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const t0 = performance.now();
    await rename(tmpPath, path.join(daemon.paths.queues, taskName));
    const deadline = t0 + timeoutS * 1000;
    try {
      while (!(await exists(finished))) {
        if (daemon.exited()) throw new Error('daemon exited during the run');
        if (performance.now() > deadline) throw new Error(`no ${finished} after ${timeoutS} s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      sampling = false;
      await sampler;
    }
    const ms = performance.now() - t0;
    const hwmKb = await readStatusKb(pid, 'VmHWM');
    const got = (await stat(path.join(daemon.paths.dcp, name, filelist[0].file))).size;
    if (got !== expectedSize) throw new Error(`bft2 stored ${got} bytes, expected ${expectedSize}`);
    return { ms, peakRssKb, hwmKb };
  } catch (err) {
    const out = daemon.output().split('\n').slice(-30).join('\n');
    throw new Error(`${(err as Error).message}\n--- last daemon output ---\n${out}`);
  } finally {
    await daemon.stop();
    daemons.delete(daemon);
    await rm(root, { recursive: true, force: true });
    roots.delete(root);
  }
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const sec = (ms: number | undefined): string => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
const mbps = (bytes: number, ms: number): string => `${(bytes / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s`;

async function cleanup(): Promise<void> {
  for (const d of daemons) await d.stop().catch(() => {});
  daemons.clear();
  await origin?.close().catch(() => {});
  origin = undefined;
  for (const r of roots) await rm(r, { recursive: true, force: true }).catch(() => {});
  roots.clear();
}

async function main(): Promise<void> {
  console.log(`bench-cdn: ${sizeMb} MiB, ${dryRun ? 'dry run (curl once, no daemon)' : `${runs} runs`}`);
  const { store, filelist } = await ensureData();
  const size = filelist[0].size;
  origin = await startOrigin({ rootDir: store, host: '127.0.0.1', port: 0 });
  const fileUrl = `${origin.url}/dcp/${BASESUBDIR}/dcps/${name}/${filelist[0].file}`;
  console.log(`origin: ${origin.url}`);

  const curlDir = await mkdtemp(path.join(os.tmpdir(), 'bft2-bench-curl-'));
  roots.add(curlDir);
  const curlOut = path.join(curlDir, 'out.bin');

  const curlMs: number[] = [];
  const curlSyncMs: number[] = [];
  const bftMs: number[] = [];
  let peakKb = 0;
  let hwmKb = 0;
  const n = dryRun ? 1 : runs;
  for (let i = 1; i <= n; i++) {
    try {
      const ms = await runCurl(fileUrl, curlOut, size);
      curlMs.push(ms);
      console.log(`run ${i}  curl : ${sec(ms)}  (${mbps(size, ms)})`);
    } catch (err) {
      console.log(`run ${i}  curl : FAILED: ${(err as Error).message}`);
    }
    if (dryRun) break;
    try {
      const ms = await runCurl(fileUrl, curlOut, size, true);
      curlSyncMs.push(ms);
      console.log(`run ${i}  curl+sync : ${sec(ms)}  (${mbps(size, ms)})`);
    } catch (err) {
      console.log(`run ${i}  curl+sync : FAILED: ${(err as Error).message}`);
    }
    try {
      const r = await runBft2(origin.url, filelist, size);
      bftMs.push(r.ms);
      peakKb = Math.max(peakKb, r.peakRssKb);
      hwmKb = Math.max(hwmKb, r.hwmKb ?? 0);
      console.log(
        `run ${i}  bft2 : ${sec(r.ms)}  (${mbps(size, r.ms)}), peak RSS ${(r.peakRssKb / 1024).toFixed(1)} MB` +
          (r.hwmKb !== undefined ? `, VmHWM ${(r.hwmKb / 1024).toFixed(1)} MB` : ''),
      );
    } catch (err) {
      console.log(`run ${i}  bft2 : FAILED: ${(err as Error).message}`);
    }
  }

  const mc = median(curlMs);
  const mb = median(bftMs);
  console.log('');
  console.log(`median curl : ${sec(mc)}`);
  if (dryRun) {
    console.log('dry run: bft2 side skipped');
    return;
  }
  const ms = median(curlSyncMs);
  console.log(`median curl+sync : ${sec(ms)}`);
  console.log(`median bft2 : ${sec(mb)}`);
  const ratio = mc !== undefined && mb !== undefined ? mb / mc : undefined;
  const durableRatio = ms !== undefined && mb !== undefined ? mb / ms : undefined;
  const peakMb = peakKb / 1024;
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'ok' : 'MISSED');
  console.log(
    `ratio bft2/curl: ${ratio === undefined ? 'n/a' : ratio.toFixed(3)}  (target <= ${TARGET_RATIO}: ${verdict(ratio === undefined ? undefined : ratio <= TARGET_RATIO)})`,
  );
  console.log(
    `ratio bft2/(curl+sync): ${durableRatio === undefined ? 'n/a' : durableRatio.toFixed(3)}  (like for like: both end with the data on disk)`,
  );
  console.log(
    `peak RSS bft2 : ${bftMs.length ? `${peakMb.toFixed(1)} MB` : 'n/a'}` +
      (hwmKb ? ` (VmHWM incl. start-up ${(hwmKb / 1024).toFixed(1)} MB)` : '') +
      `  (target <= ${TARGET_RSS_MB} MB: ${verdict(bftMs.length ? peakMb <= TARGET_RSS_MB : undefined)})`,
  );
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.log(`\n${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(0));
  });
}

try {
  await main();
} catch (err) {
  console.log(`bench-cdn: FAILED: ${(err as Error).stack ?? err}`);
} finally {
  await cleanup();
}
process.exit(0);
