// Benchmark of gentask against mktorrent (issue "sender"): a generated DCP (default 2 GiB,
// BENCH_SIZE_MB) already in the hash table, turned into a 1:0:0 task by a running bft2
// sender daemon (gentask answered → taskfilesquery says finished) and into the same
// torrent by `mktorrent` (same piece length, same tracker), alternated BENCH_RUNS times
// (default 3). Prints every run, the medians and the ratio (target: bft2 <= 1.2 x
// mktorrent). mktorrent is Debian's package: installed here if missing. Exits 0.
import { execFileSync, spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp } from '../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor } from '../tools/harness/daemon.ts';
import { pieceLengthFor } from '../src/transfer/bt/make-torrent.ts';

const MB = 1024 * 1024;
const sizeMb = Number(process.env.BENCH_SIZE_MB ?? 2048);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const tracker = 'http://127.0.0.1:16969/announce';

try {
  execFileSync('mktorrent', ['-h'], { stdio: 'ignore' });
} catch {
  console.log('installing mktorrent (Debian package) ...');
  execFileSync('bash', ['-c', 'apt-get install -y mktorrent >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y mktorrent >/dev/null)']);
}

const root = await makeTempRoot();
const dcps = path.join(root, 'data/dcp/cfec-001/dcps');
const size = sizeMb * MB;
console.log(`data: generating a ${sizeMb} MiB DCP ...`);
const dcp = await makeDcp(dcps, 'bench', [
  { file: 'picture.mxf', size: Math.floor(size * 0.8) },
  { file: 'sound.mxf', size: Math.floor(size * 0.2) - 20_000 },
  ...Array.from({ length: 8 }, (_, i) => ({ file: `xml/asset-${i}.xml`, size: 2500 })),
]);
const d = await startDaemon({ root, config: { servertype: 'sender', autosend: false, tracker, senderdomain: 'http://127.0.0.1:1', cdnurl: 'http://127.0.0.1:1' }, tuning: { hashstable: '200ms' } });
// "Already in the hash table": wait until the watcher has hashed every file.
await waitFor(async () => ((await d.get('/heartbeat')).status === 200 && (await import('node:fs/promises')).readFile(path.join(root, 'etc/bft2/hashtable.txt'), 'utf8').then((t) => t.split('\n').filter(Boolean).length === dcp.filelist.length)) || undefined, { timeoutMs: 120_000, what: 'hash table filled' });
await execFileSync('bash', ['-c', `cat ${dcp.dir}/*.mxf > /dev/null`]); // warm the page cache for both

const pieceLog2 = Math.log2(pieceLengthFor(dcp.size));
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const times = { bft2: [] as number[], mktorrent: [] as number[] };
// Run 0 warms both up (JIT, worker start, page cache) and is not counted.
for (let i = 0; i <= runs; i++) {
  const taskfile = path.join(root, `bench-${i}.task.json`);
  let t0 = performance.now();
  const a = await d.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime', tracker, deloldtorrent: 'true' });
  if (a.return_status !== 'true') throw new Error(JSON.stringify(a));
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 300_000, intervalMs: 10, what: 'gentask' });
  const bftMs = performance.now() - t0;

  const out = path.join(root, `mk-${i}.torrent`);
  await rm(out, { force: true });
  t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn('mktorrent', ['-a', tracker, '-l', String(pieceLog2), '-o', out, dcp.dir], { stdio: 'ignore' });
    p.once('exit', (c) => (c === 0 ? resolve() : reject(new Error(`mktorrent exited ${c}`))));
  });
  const mkMs = performance.now() - t0;
  await stat(out);
  if (i === 0) {
    console.log(`warm-up  bft2 gentask ${sec(bftMs)}  mktorrent ${sec(mkMs)}  (not counted)`);
    continue;
  }
  times.bft2.push(bftMs);
  times.mktorrent.push(mkMs);
  console.log(`run ${i}  bft2 gentask ${sec(bftMs)}  mktorrent ${sec(mkMs)}`);
}
const mb = median(times.bft2);
const mm = median(times.mktorrent);
console.log('');
console.log(`median bft2 gentask : ${sec(mb)}`);
console.log(`median mktorrent    : ${sec(mm)}  (piece length 2^${pieceLog2})`);
console.log(`ratio bft2/mktorrent: ${(mb / mm).toFixed(3)}  (target <= 1.2: ${mb / mm <= 1.2 ? 'ok' : 'MISSED'})`);
await d.stop();
await rm(root, { recursive: true, force: true });
