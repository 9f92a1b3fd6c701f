// patches/wire-framer.ts and patches/piece-buffer.ts: the message framer and piece assembly
// that replace bittorrent-protocol's and torrent-piece's, tested on the real classes: two
// real Wires talking through a stream that cuts their bytes at random places, and real Pieces.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { Transform } from 'node:stream';
import { installBtPatches } from '../../src/transfer/bt/patches/index.ts';
import { takeBytes } from '../../src/transfer/bt/patches/wire-framer.ts';
import { BufferPool, pieceBuffers } from '../../src/transfer/bt/buffer-pool.ts';

const BLOCK = 16 * 1024;

before(() => installBtPatches());

/** Cuts `bytes` into chunks of random sizes between 1 and `max`. */
function cut(bytes: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(randomInt(1, max + 1), bytes.length - at);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

test('takeBytes returns the stream cut into the asked sizes, a view inside one chunk and a copy across chunks', () => {
  for (let round = 0; round < 50; round++) {
    const stream = randomBytes(200_000);
    const queue: Uint8Array[] = cut(stream, 70_000);
    let at = 0;
    while (at < stream.length) {
      const size = Math.min(randomInt(1, 40_000), stream.length - at);
      const head = queue[0];
      const msg = takeBytes(queue, size);
      assert.ok(Buffer.from(msg).equals(stream.subarray(at, at + size)), `round ${round} at ${at}`);
      assert.equal(msg.buffer === head.buffer, head.length >= size, 'a view only when the first chunk holds the whole message');
      at += size;
    }
    assert.equal(queue.length, 0);
  }
});

test('BufferPool: a given-back buffer is reused; foreign or twice-given buffers are ignored; at most `keep` kept; none after idling', async () => {
  const pool = new BufferPool(2, 50);
  const a = pool.take(1000);
  const b = pool.take(1000);
  const c = pool.take(1000);
  assert.equal(a.length, 1000);
  pool.give(a);
  pool.give(a);
  pool.give(Buffer.alloc(1000));
  assert.equal(pool.freeCount, 1);
  assert.equal(pool.take(1000), a);
  assert.notEqual(pool.take(500), a, 'another length is another list');
  pool.give(a);
  pool.give(b);
  pool.give(c);
  assert.equal(pool.freeCount, 2);
  assert.deepEqual([pool.taken, pool.allocated, pool.returned], [5, 4, 4]);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(pool.freeCount, 0);
});

test('the piece pool keeps every buffer given back while pieces flow: no piece buffer is left to the collector for want of room', () => {
  const length = 3 * BLOCK + 7; // a length no other test takes
  const before = pieceBuffers.allocated;
  const burst = Array.from({ length: 9 }, () => pieceBuffers.take(length));
  for (const b of burst) pieceBuffers.give(b);
  const again = Array.from({ length: 9 }, () => pieceBuffers.take(length));
  assert.equal(pieceBuffers.allocated - before, 9, 'the second burst reused the first one\'s buffers');
  assert.deepEqual(new Set(again), new Set(burst));
  for (const b of again) pieceBuffers.give(b);
});

test('a Piece copies each block as it is set: the caller may reuse its buffer; flush gives the whole piece, whatever the order', async () => {
  const { default: Piece } = await import('torrent-piece');
  const length = 5 * BLOCK + 123;
  const data = randomBytes(length);
  const piece = new (Piece as unknown as new (n: number) => {
    reserve(): number;
    set(i: number, d: Uint8Array, src: unknown): boolean;
    get(i: number): Uint8Array | null | undefined;
    flush(): Buffer | null;
    missing: number;
  })(length);
  const order = [3, 0, 5, 1, 4, 2];
  const taken = pieceBuffers.taken;
  for (const _ of order) assert.ok(piece.reserve() >= 0);
  const scratch = Buffer.alloc(BLOCK);
  order.forEach((i, n) => {
    const block = data.subarray(i * BLOCK, (i + 1) * BLOCK);
    block.copy(scratch);
    const done = piece.set(i, scratch.subarray(0, block.length), 'peer');
    scratch.fill(0xee); // the wire's buffer is someone else's once set returns
    assert.equal(done, n === order.length - 1);
    assert.ok(Buffer.from(piece.get(i)!).equals(block), `get(${i}) gives the block set`);
    if (n < order.length - 1) assert.equal(piece.get(order[order.length - 1]), undefined, 'a block not yet set');
  });
  assert.equal(piece.missing, 0);
  const out = piece.flush()!;
  assert.ok(out.equals(data));
  assert.equal(pieceBuffers.taken, taken + 1, 'the piece buffer came from the pool');
  assert.equal(piece.flush(), null, 'flushed once');
});

test('two real Wires with their bytes cut at random: every block arrives byte for byte', async () => {
  const { default: Wire } = await import('bittorrent-protocol');
  type W = {
    pipe<T>(dest: T): T;
    handshake(infoHash: string, peerId: string, ext?: object): void;
    on(ev: string, fn: (...a: any[]) => void): void;
    once(ev: string, fn: (...a: any[]) => void): void;
    interested(): void;
    unchoke(): void;
    request(index: number, offset: number, length: number, cb: (err: Error | null, buf: Uint8Array) => void): void;
    destroy(): void;
  };
  assert.equal((Wire.prototype as unknown as { _write: { name: string } })._write.name, 'framedWrite', 'the replacement framer is installed');
  const seeder = new (Wire as unknown as new () => W)();
  const leecher = new (Wire as unknown as new () => W)();
  const cutter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      for (const part of cut(chunk, 3 * BLOCK)) this.push(Buffer.from(part));
      cb();
    },
  });
  leecher.pipe(seeder);
  seeder.pipe(cutter).pipe(leecher as unknown as NodeJS.WritableStream);
  const data = randomBytes(64 * BLOCK);
  seeder.on('request', (index: number, offset: number, length: number, respond: (err: Error | null, buf?: Uint8Array) => void) => {
    respond(null, data.subarray(index * 16 * BLOCK + offset, index * 16 * BLOCK + offset + length));
  });
  seeder.on('handshake', (infoHash: string) => seeder.handshake(infoHash, 'b'.repeat(40)));
  const ready = new Promise<void>((resolve) => leecher.once('unchoke', () => resolve()));
  leecher.handshake('a'.repeat(40), 'c'.repeat(40));
  seeder.on('interested', () => seeder.unchoke());
  leecher.interested();
  await ready;
  const got = await Promise.all(
    Array.from({ length: 64 }, (_, b) => {
      const index = Math.floor(b / 16);
      const offset = (b % 16) * BLOCK;
      return new Promise<Buffer>((resolve, reject) =>
        leecher.request(index, offset, BLOCK, (err, buf) => (err ? reject(err) : resolve(Buffer.from(buf)))),
      );
    }),
  );
  assert.ok(Buffer.concat(got).equals(data));
  leecher.destroy();
  seeder.destroy();
});
