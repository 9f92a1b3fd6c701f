// The disk backlog (src/transfer/bt/write-backlog.ts) and its patch of webtorrent's
// Torrent#_updateWireWrapper (patches/wait-for-disk.ts): pieces waiting for their write are bounded
// whatever the disk's pace, on a real transfer between two clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Wire } from 'webtorrent';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import type { BtClient } from '../../src/transfer/bt/bt-client.ts';
import { startBtPair, type BtPair } from '../helpers/bt-pair.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { readTorrent } from '../../src/transfer/bt/torrent-file.ts';
import { fileStore } from '../../src/transfer/bt/file-store.ts';
import { capPipeline } from '../../src/transfer/bt/patches/pipeline-cap.ts';
import { pieceWrites, WriteBacklog } from '../../src/transfer/bt/write-backlog.ts';
import { patchWaitForDisk } from '../../src/transfer/bt/patches/wait-for-disk.ts';

const KiB = 1024;
const PIECE = 64 * KiB;
/** How long the test's disk takes to begin each piece's write. */
const SLOW_MS = 40;
let tmp: string;
let dcp: MadeDcp;
let torrentFile: string;
let pair: BtPair | undefined;
let seeder: BtClient;
let leecher: BtClient;

before(async () => {
  tmp = await makeTempRoot();
  dcp = await makeDcp(path.join(tmp, 'seed'), 'backlog', [{ file: 'reel.mxf', size: 64 * PIECE }]);
  torrentFile = path.join(tmp, 'backlog.torrent');
  await makeTorrent({ dir: dcp.dir, tracker: 'http://127.0.0.1:9/announce', outFile: torrentFile, pieceLength: PIECE });
  pair = await startBtPair(torrentFile, dcp.dir);
  ({ seeder, leecher } = pair);
});

after(async () => {
  await pair?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('WriteBacklog: full at its limit; a held torrent is woken once, when the count falls below it', () => {
  const b = new WriteBacklog(100);
  const woken: string[] = [];
  const a = { name: 'a' };
  const bb = { name: 'b' };
  b.begin(60);
  assert.equal(b.full, false);
  b.begin(60);
  assert.equal(b.full, true);
  b.hold(a, () => woken.push('a'));
  b.hold(a, () => woken.push('a again'));
  b.hold(bb, () => woken.push('b'));
  b.begin(10);
  b.end(10);
  assert.deepEqual(woken, [], 'still at 120 of 100: nobody woken');
  b.end(60);
  assert.deepEqual(woken, ['a', 'b'], 'each waiting torrent once');
  b.end(60);
  assert.deepEqual(woken, ['a', 'b'], 'a wake is not repeated');
  assert.equal(b.most, 130);
  assert.equal(b.held, 3);
  assert.equal(b.waitingBytes, 0);
});

/**
 * The leecher downloads the DCP through a store whose disk takes SLOW_MS before each piece's
 * write (counted in the backlog from the hand-over, as the real store counts it); the most
 * pieces that waited at once.
 */
async function download(dir: string): Promise<number> {
  const Base = fileStore({ writable: true, pathOf: (rel, d, name) => path.join(d, name, rel) });
  let waiting = 0;
  let most = 0;
  class SlowDisk extends Base {
    put(index: number, buf: Uint8Array, cb: (err?: Error | null) => void = () => {}): void {
      waiting++;
      most = Math.max(most, waiting);
      pieceWrites.begin(buf.length);
      setTimeout(() => {
        pieceWrites.end(buf.length);
        super.put(index, buf, (err) => {
          waiting--;
          cb(err);
        });
      }, SLOW_MS);
    }
  }
  const read = readTorrent(await readFile(torrentFile));
  const t = leecher.add(read, { path: dir, bitfield: new Uint8Array(Math.ceil(read.info.pieceCount / 8)), storeCacheSlots: 0, store: SlowDisk });
  // 16 blocks in flight: 4 pieces at most under way at once.
  t.on('wire', (w: Wire) => capPipeline(w, 16, (err) => assert.fail(String(err))));
  await new Promise<void>((resolve) => t.once('ready', () => resolve()));
  t.addPeer(`127.0.0.1:${seeder.port}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the download did not end within 60 s')), 60_000);
    t.once('done', () => (clearTimeout(timer), resolve()));
  });
  assert.ok((await readFile(path.join(dir, 'backlog', 'reel.mxf'))).equals(await readFile(path.join(dcp.dir, 'reel.mxf'))), 'byte for byte');
  await new Promise<void>((resolve) => t.destroy({ destroyStore: false }, () => resolve()));
  return most;
}

test('a slow disk: nothing is requested while 2 pieces wait for it; the download completes byte for byte', async () => {
  const limit = pieceWrites.limit;
  try {
    pieceWrites.limit = 2 * PIECE;
    const heldBefore = pieceWrites.held;
    const held = await download(path.join(tmp, 'held'));
    assert.ok(pieceWrites.held > heldBefore, 'requests were held back');
    // The limit, plus the pieces the blocks already asked for complete: 16 blocks in flight span 5
    // pieces of 4 blocks (the last blocks of some, the first of another), 6 with a block late.
    assert.ok(held <= 2 + 6, `at most 8 pieces waited at once, not ${held}`);

    // The same without a limit: the network outruns the disk and the pieces pile up.
    pieceWrites.limit = Number.POSITIVE_INFINITY;
    const unbounded = await download(path.join(tmp, 'unbounded'));
    console.log(`pieces waiting at once: ${held} held back, ${unbounded} without`);
    assert.ok(unbounded >= 2 * held, `without the backlog more pieces wait at once (${unbounded} against ${held})`);
  } finally {
    pieceWrites.limit = limit;
  }
});

test('wait-for-disk fails loudly on a Torrent without the internals it wraps', () => {
  assert.throws(() => patchWaitForDisk({}, new WriteBacklog()), /Torrent#_updateWireWrapper is missing/);
  assert.throws(() => patchWaitForDisk({ _updateWireWrapper: () => undefined }, new WriteBacklog()), /Torrent#_update is missing/);
});
