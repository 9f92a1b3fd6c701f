// Benchmark of `bft2 inithashtable` against sha1sum over the same store (SPEC §6, issue
// "hash table"): a generated store of a few large files and many small ones (default
// 2 GiB, BENCH_SIZE_MB), hashed alternately by `bft2 inithashtable --force`, by
// `sha1sum` alone and by `xargs -P2 sha1sum`; BENCH_RUNS runs each (default 3). Prints
// every run, the medians, the ratios and bft2's peak RSS. Targets: bft2 <= 1.1 x
// `xargs -P2 sha1sum`, peak RSS <= 150 MB. The store is cached in BENCH_CACHE_DIR
// (default /tmp/bft2-bench-hash-cache); the page cache is warmed once before timing, so
// every tool reads from memory alike. Always exits 0: it is a report.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile, stat, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp } from '../tools/harness/dcp-fixture.ts';
import { walkStore } from '../src/hashtable/store-walk.ts';

const MB = 1024 * 1024;
const sizeMb = Number(process.env.BENCH_SIZE_MB ?? 2048);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const cache = process.env.BENCH_CACHE_DIR ?? '/tmp/bft2-bench-hash-cache';
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

async function ensureStore(): Promise<string> {
  const root = path.join(cache, `root-${sizeMb}`);
  const done = path.join(root, 'generated');
  if (await stat(done).then(() => true, () => false)) return root;
  await rm(root, { recursive: true, force: true });
  const dcps = path.join(root, 'data/dcp/cfec-001/dcps');
  // Three DCPs: large picture/sound files (85 % of the bytes) and 400 small files.
  const large = Math.floor((sizeMb * MB * 0.85) / 6);
  const small = Math.floor((sizeMb * MB * 0.15) / 400);
  for (let d = 0; d < 3; d++) {
    const files = [
      { file: 'video.mxf', size: large },
      { file: 'audio.mxf', size: large },
      ...Array.from({ length: Math.round(400 / 3) }, (_, i) => ({ file: `reel${i % 7}/asset-${i}.mxf`, size: small })),
    ];
    console.log(`data: generating DCP ${d + 1}/3 ...`);
    await makeDcp(dcps, `dcp-${d}`, files);
  }
  await mkdir(path.join(root, 'etc/bft2'), { recursive: true });
  await writeFile(path.join(root, 'etc/bft2/config.json'), JSON.stringify({ servertype: 'sender', apilisten: '127.0.0.1:1' }));
  await writeFile(done, '');
  return root;
}

function timed(cmd: string, args: string[], opts: { sampleRss?: boolean } = {}): Promise<{ ms: number; peakKb: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    let peakKb = 0;
    const timer = opts.sampleRss
      ? setInterval(async () => {
          const s = await readFile(`/proc/${p.pid}/status`, 'utf8').catch(() => '');
          const m = /^VmRSS:\s+(\d+)/m.exec(s);
          if (m) peakKb = Math.max(peakKb, Number(m[1]));
        }, 50)
      : undefined;
    p.once('error', reject);
    p.once('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`${cmd} exited with ${code}`));
      resolve({ ms: performance.now() - t0, peakKb });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const root = await ensureStore();
const store = path.join(root, 'data/dcp');
const files = (await walkStore(store)).map((f) => f.path);
const total = (await walkStore(store)).reduce((s, f) => s + f.size, 0);
const list = path.join(cache, `files-${sizeMb}.txt`);
await writeFile(list, files.join('\0'));
console.log(`bench-hashtable: ${files.length} files, ${(total / MB).toFixed(0)} MiB, ${runs} runs`);
await timed('bash', ['-c', `xargs -0 cat < ${list} > /dev/null`]); // warm the page cache

const t: Record<'bft2' | 'sha1sum' | 'xargs', number[]> = { bft2: [], sha1sum: [], xargs: [] };
let peakKb = 0;
for (let i = 1; i <= runs; i++) {
  const b = await timed(path.join(repo, 'bin/bft2'), ['--root', root, 'inithashtable', '--force'], { sampleRss: true });
  t.bft2.push(b.ms);
  peakKb = Math.max(peakKb, b.peakKb);
  const s = await timed('bash', ['-c', `xargs -0 sha1sum < ${list} > /dev/null`]);
  t.sha1sum.push(s.ms);
  const x = await timed('bash', ['-c', `xargs -0 -P2 -n 8 sha1sum < ${list} > /dev/null`]);
  t.xargs.push(x.ms);
  console.log(`run ${i}  bft2 ${sec(b.ms)} (peak RSS ${(b.peakKb / 1024).toFixed(1)} MB)  sha1sum ${sec(s.ms)}  xargs -P2 sha1sum ${sec(x.ms)}`);
}
const mb = median(t.bft2);
const ms = median(t.sha1sum);
const mx = median(t.xargs);
console.log('');
console.log(`median bft2 inithashtable : ${sec(mb)}  (${((total / MB) / (mb / 1000)).toFixed(0)} MiB/s)`);
console.log(`median sha1sum            : ${sec(ms)}`);
console.log(`median xargs -P2 sha1sum  : ${sec(mx)}`);
console.log(`ratio bft2/sha1sum        : ${(mb / ms).toFixed(3)}`);
console.log(`ratio bft2/xargs -P2      : ${(mb / mx).toFixed(3)}  (target <= 1.1: ${mb / mx <= 1.1 ? 'ok' : 'MISSED'})`);
console.log(`peak RSS bft2             : ${(peakKb / 1024).toFixed(1)} MB  (target <= 150 MB: ${peakKb / 1024 <= 150 ? 'ok' : 'MISSED'})`);
