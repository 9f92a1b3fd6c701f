// The process's hashing threads (src/hashing/hash-workers.ts) on real files: files' and
// pieces' sha1s are right; file jobs and piece runs together never run more threads than
// the pool's size (issue 10: four isolates at once took a publishing sender to 178 MB);
// the threads end soon after the last job; an abort or close fails only what it names.
// Threads are counted in /proc, as an operator would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HashWorkers } from '../../src/hashing/hash-workers.ts';
import { hashPieces } from '../../src/transfer/bt/piece-hasher.ts';
import { waitFor } from '../../tools/harness/daemon.ts';

const MiB = 1024 * 1024;
const threads = () => Number(/^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

let dir: string;
/** Three reels of distinct bytes whose lengths are not multiples of the piece length. */
const reels: { abs: string; data: Buffer }[] = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-hashworkers-'));
  for (const [i, size] of [24 * MiB + 7, 3 * MiB + 1, 17 * MiB + 4095].entries()) {
    const data = Buffer.alloc(size);
    for (let o = 0; o + 4 <= size; o += 4096) data.writeUInt32LE((o * 2654435761 + i) >>> 0, o);
    const abs = path.join(dir, `reel${i}.mxf`);
    await writeFile(abs, data);
    reels.push({ abs, data });
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The torrent's piece hashes, computed here in one buffer. */
function expectedPieces(pieceLength: number): Buffer {
  const all = Buffer.concat(reels.map((r) => r.data));
  const out: Buffer[] = [];
  for (let o = 0; o < all.length; o += pieceLength) out.push(createHash('sha1').update(all.subarray(o, o + pieceLength)).digest());
  return Buffer.concat(out);
}

test('a file is hashed by one thread, which ends within about a second of the job', async () => {
  const pool = new HashWorkers(2);
  try {
    const before = threads();
    const r = await pool.hashFile(reels[0].abs);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.sha1, sha1(reels[0].data));
    assert.equal(r.stat.size, reels[0].data.length);
    assert.equal(threads(), before + 1, 'one job starts one thread');
    const t0 = performance.now();
    await waitFor(() => threads() <= before || undefined, { timeoutMs: 5_000, intervalMs: 50, what: 'the hashing thread to end' });
    assert.ok(performance.now() - t0 < 1_500, `the thread ended ${Math.round(performance.now() - t0)} ms after the job`);
    const missing = await pool.hashFile(path.join(dir, 'nope.mxf'));
    assert.ok(!missing.ok && !missing.changed && /ENOENT/.test(missing.reason), JSON.stringify(missing));
  } finally {
    await pool.close();
  }
});

test('piece runs and file jobs at once share the pool: right hashes, never more threads than its size', async () => {
  const pool = new HashWorkers(2);
  const before = threads();
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, threads() - before)), 2);
  try {
    const files = reels.map((r) => ({ abs: r.abs, length: r.data.length }));
    const total = files.reduce((s, f) => s + f.length, 0);
    const progress: number[] = [];
    const [split, whole, ...fileResults] = await Promise.all([
      hashPieces(files, MiB, total, { pool, onProgress: (n) => progress.push(n) }),
      hashPieces(files, 4 * MiB, total, { pool, fileSha1: true }),
      ...reels.map((r) => pool.hashFile(r.abs)),
      ...reels.map((r) => pool.hashFile(r.abs)),
    ]);
    assert.ok(split.pieces.equals(expectedPieces(MiB)), 'pieces of 1 MiB in runs side by side');
    assert.equal(split.fileSha1s, undefined);
    assert.ok(whole.pieces.equals(expectedPieces(4 * MiB)), 'pieces of 4 MiB with the files');
    assert.deepEqual(whole.fileSha1s, reels.map((r) => sha1(r.data)));
    for (const [i, r] of fileResults.entries()) assert.equal(r.ok && r.sha1, sha1(reels[i % reels.length].data));
    assert.equal(progress.at(-1), total, 'progress ends at the total');
    assert.ok(progress.every((n, i) => i === 0 || n > progress[i - 1]), 'progress only grows');
  } finally {
    clearInterval(sampler);
    await pool.close();
  }
  assert.equal(most, 2, `threads beyond the process's own: at most ${most}`);
});

test('an abort fails its own job only; a file that grows while hashed is "changed"; close fails what is left', async () => {
  const pool = new HashWorkers(1);
  try {
    const files = reels.map((r) => ({ abs: r.abs, length: r.data.length }));
    const total = files.reduce((s, f) => s + f.length, 0);
    const ac = new AbortController();
    const running = hashPieces(files, 16 * 1024, total, { pool, signal: ac.signal });
    const queued = pool.hashFile(reels[1].abs);
    setTimeout(() => ac.abort(new Error('gentask cancelled')), 5);
    await assert.rejects(running, /gentask cancelled/);
    const next = await queued;
    assert.equal(next.ok && next.sha1, sha1(reels[1].data), 'the job queued behind the aborted one is hashed by a new thread');

    const growing = path.join(dir, 'growing.mxf');
    await writeFile(growing, Buffer.alloc(128 * MiB));
    // A writer still appending (an scp in progress) for as long as the hash runs.
    let hashed = false;
    const hashing = pool.hashFile(growing).finally(() => (hashed = true));
    while (!hashed) {
      await appendFile(growing, 'more');
      await new Promise((r) => setTimeout(r, 5));
    }
    const r = await hashing;
    assert.ok(!r.ok && r.changed, JSON.stringify(r));
    await rm(growing);

    const a = pool.hashPieces({ files, pieceLength: 16 * 1024, total, first: 0, last: Math.ceil(total / (16 * 1024)) });
    const b = pool.hashFile(reels[0].abs);
    const aFails = assert.rejects(a, /hashing stopped/);
    await pool.close();
    await aFails;
    assert.deepEqual(await b, { ok: false, changed: false, reason: 'hashing stopped: the process is shutting down' });
    const again = await pool.hashFile(reels[2].abs);
    assert.equal(again.ok && again.sha1, sha1(reels[2].data), 'the pool starts again after close');
  } finally {
    await pool.close();
  }
});
