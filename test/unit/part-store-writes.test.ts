import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PartStore, WRITE_MAX, WritePlace, writeBatches, writePlace } from '../../src/transfer/segments/part-store.ts';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const sizes = (batches: Uint8Array[][]) => batches.map((b) => b.reduce((s, x) => s + x.length, 0));

test('writeBatches gathers small buffers and cuts large ones, never past the limit, bytes in order', () => {
  const bufs = [bytes(3, 1), bytes(4, 2), bytes(10, 3), bytes(1, 4), bytes(2, 5)];
  const batches = writeBatches(bufs, 8);
  assert.deepEqual(sizes(batches), [8, 8, 4]);
  assert.deepEqual(Buffer.concat(batches.flat()), Buffer.concat(bufs));
  // A buffer that fits whole is passed as it is (no view), a cut one as views of it (no copy).
  assert.equal(batches[0][0], bufs[0]);
  assert.equal(batches[0][2].buffer, bufs[2].buffer);
  assert.deepEqual(writeBatches([], 8), []);
  assert.deepEqual(sizes(writeBatches([bytes(16, 0)], 8)), [8, 8]);
});

test('a part store writes a piece larger than WRITE_MAX and a block of small chunks, byte for byte', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bft2-writes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const size = 4 * WRITE_MAX + 123;
  const store = new PartStore(dir, [{ file: 'reel/a.mxf', size, hash: '0'.repeat(40) }]);
  const piece = bytes(2 * WRITE_MAX + 100, 9);
  const chunks = [bytes(1000, 1), bytes(WRITE_MAX, 2), bytes(size - piece.length - 1000 - WRITE_MAX, 3)];
  await store.write('reel/a.mxf', 0, piece);
  await store.writev('reel/a.mxf', piece.length, chunks);
  await store.close();
  const onDisk = await readFile(store.partPath('reel/a.mxf'));
  assert.deepEqual(onDisk, Buffer.concat([piece, ...chunks]));
  await assert.rejects(store.writev('reel/a.mxf', size - 1, [bytes(2, 0)]), /past the file/);
});

test('writes stay on the event loop until one stalls it, then go to the pool for a while', () => {
  const place = new WritePlace(100, 10_000);
  assert.equal(place.onLoop(0), true);
  place.took(35, 1_000); // a journal commit or the VM: not a stall
  assert.equal(place.onLoop(1_000), true);
  place.took(180, 2_000); // the kernel throttling a writer
  assert.equal(place.onLoop(2_001), false);
  assert.equal(place.onLoop(11_999), false);
  assert.equal(place.onLoop(12_000), true);
});

test('after a stall a part store writes through the pool, byte for byte', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bft2-writes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  writePlace.took(1_000);
  assert.equal(writePlace.onLoop(), false);
  const size = 3 * WRITE_MAX;
  const store = new PartStore(dir, [{ file: 'a.mxf', size, hash: '0'.repeat(40) }]);
  const chunks = [bytes(WRITE_MAX + 5, 1), bytes(size - WRITE_MAX - 5, 2)];
  await store.writev('a.mxf', 0, chunks);
  await store.close();
  assert.deepEqual(await readFile(store.partPath('a.mxf')), Buffer.concat(chunks));
});
