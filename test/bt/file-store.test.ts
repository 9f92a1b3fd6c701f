// file-store.ts: the store webtorrent reads and writes pieces through, on real files laid out
// as a torrent's. A seed's: every block a peer may ask for comes back byte for byte (inside
// one file, across two files, the short last piece), at most READS_AT_ONCE reads run at
// once, a reused read buffer never shows through, closing waits for the reads, destroying
// deletes nothing. A download's: pieces written in any order land byte for byte in the files
// its layout names (across file borders), a wrong length is refused, a seed refuses writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SeedStore, fileStore, blockReader, READS_AT_ONCE } from '../../src/transfer/bt/file-store.ts';

const BLOCK = 16 * 1024;
const PIECE = 4 * BLOCK;

async function layout() {
  const dir = await mkdtemp(path.join(tmpdir(), 'bft2-file-store-'));
  const { data, files } = await torrentFiles(path.join(dir, 't'), true);
  const store = new SeedStore(PIECE, { path: dir, files, length: data.length });
  const get = (index: number, opts: { offset: number; length: number } | null) =>
    new Promise<Uint8Array>((resolve, reject) => store.get(index, opts, (err, buf) => (err ? reject(err) : resolve(buf!))));
  return { dir: path.join(dir, 't'), data, store, get, pieces: Math.ceil(data.length / PIECE) };
}

/** Three files (under `dir`, the torrent `t`) whose borders fall inside pieces and inside blocks; written when `write`. */
async function torrentFiles(dir: string, write: boolean) {
  const sizes = [PIECE * 3 + 5000, 7 * BLOCK + 1, PIECE * 2 + 123];
  const data = randomBytes(sizes.reduce((a, b) => a + b, 0));
  await mkdir(dir, { recursive: true });
  let at = 0;
  const files = [];
  for (const [i, size] of sizes.entries()) {
    if (write) await writeFile(path.join(dir, `f${i}`), data.subarray(at, at + size));
    files.push({ path: path.join('t', `f${i}`), length: size, offset: at });
    at += size;
  }
  return { data, files };
}

test('every block of every piece, and every whole piece, comes back byte for byte, many at once', async (t) => {
  const { dir, data, store, get, pieces } = await layout();
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Each file opened first: the files' first opens would otherwise spread the burst out.
  for (const p of [0, 4, 5]) await get(p, { offset: 0, length: 100 });
  const asks: Promise<void>[] = [];
  for (let round = 0; round < 8; round++) {
    for (let p = 0; p < pieces; p++) {
      const plen = Math.min(PIECE, data.length - p * PIECE);
      for (let off = 0; off < plen; off += BLOCK) {
        const len = Math.min(BLOCK, plen - off);
        const want = data.subarray(p * PIECE + off, p * PIECE + off + len);
        asks.push(get(p, { offset: off, length: len }).then((got) => assert.ok(Buffer.from(got).equals(want), `piece ${p} block at ${off}`)));
      }
      asks.push(get(p, null).then((got) => assert.ok(Buffer.from(got).equals(data.subarray(p * PIECE, p * PIECE + plen)), `whole piece ${p}`)));
    }
  }
  assert.ok(asks.length > READS_AT_ONCE, 'more blocks asked at once than may be read at once');
  await Promise.all(asks);
  assert.ok(blockReader.mostWaiting > 0, 'blocks beyond READS_AT_ONCE waited their turn');
  await new Promise<void>((resolve, reject) => store.close((err) => (err ? reject(err) : resolve())));
});

test('a block handed out is the caller\'s: later reads (into the reused buffers) do not change it', async (t) => {
  const { dir, data, store, get } = await layout();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await get(0, { offset: 0, length: BLOCK });
  await Promise.all(Array.from({ length: 40 }, (_, i) => get(1 + (i % 4), { offset: BLOCK, length: BLOCK })));
  assert.ok(Buffer.from(first).equals(data.subarray(0, BLOCK)));
  store.close();
});

test('close waits for the reads under way; then gets fail with a clear error; destroy deletes no file', async (t) => {
  const { dir, data, store, get } = await layout();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const reads = Array.from({ length: 20 }, (_, i) => get(i % 5, { offset: 0, length: BLOCK }));
  const closed = new Promise<void>((resolve, reject) => store.destroy((err) => (err ? reject(err) : resolve())));
  const got = await Promise.all(reads);
  got.forEach((b, i) => assert.ok(Buffer.from(b).equals(data.subarray((i % 5) * PIECE, (i % 5) * PIECE + BLOCK))));
  await closed;
  await assert.rejects(get(0, { offset: 0, length: BLOCK }), /closed/);
  assert.deepEqual((await readdir(dir)).sort(), ['f0', 'f1', 'f2']);
});

test('a file shorter than the torrent says: the block is an error, not short bytes', async (t) => {
  const { dir, store, get } = await layout();
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'f2'), Buffer.alloc(10));
  const last = Math.ceil((PIECE * 3 + 5000 + 7 * BLOCK + 1) / PIECE) + 1;
  await assert.rejects(get(last, { offset: BLOCK, length: BLOCK }), /shorter than the torrent/);
  store.close();
});

test('a download\'s store: pieces put in any order land in the files its layout names; wrong lengths and seeds refuse', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bft2-file-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { data, files } = await torrentFiles(path.join(dir, 'unused'), false);
  // The layout puts every torrent file elsewhere under another name (as a receiver's part files).
  const Store = fileStore({ writable: true, pathOf: (rel, base, name) => path.join(base, 'parts', `${name}.${rel}.part`) });
  const store = new Store(PIECE, { path: dir, files });
  const put = (index: number, buf: Uint8Array) => new Promise<void>((resolve, reject) => store.put(index, buf, (err) => (err ? reject(err) : resolve())));
  const pieces = Math.ceil(data.length / PIECE);
  const order = Array.from({ length: pieces }, (_, i) => i).sort(() => Math.random() - 0.5);
  await Promise.all(order.map((p) => put(p, Buffer.from(data.subarray(p * PIECE, Math.min(data.length, (p + 1) * PIECE))))));
  let at = 0;
  for (const [i, f] of files.entries()) {
    const got = await readFile(path.join(dir, 'parts', `t.f${i}.part`));
    assert.ok(got.equals(data.subarray(at, at + f.length)), `file ${i} byte for byte`);
    at += f.length;
  }
  await assert.rejects(put(0, Buffer.alloc(PIECE - 1)), /piece 0 must be 65536 bytes, not 65535/);
  await assert.rejects(put(pieces, Buffer.alloc(10)), /there is no piece 7/);
  await new Promise<void>((resolve, reject) => store.destroy((err) => (err ? reject(err) : resolve())));
  assert.deepEqual((await readdir(path.join(dir, 'parts'))).sort(), ['t.f0.part', 't.f1.part', 't.f2.part'], 'destroy deleted nothing');
  const seed = new SeedStore(PIECE, { path: dir, files });
  await assert.rejects(new Promise<void>((resolve, reject) => seed.put(0, Buffer.alloc(PIECE), (err) => (err ? reject(err) : resolve()))), /a seed does not write pieces/);
  seed.close();
});
