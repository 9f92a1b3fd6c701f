// makeTorrent / readTorrentFiles / torrentFileOrder (src/transfer/bt/make-torrent.ts) on a
// generated DCP: the files, their order and sizes, the piece length, the one tracker, and
// byte-for-byte equality with create-torrent's own output for the same directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import createTorrent from 'create-torrent';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import {
  makeTorrent,
  readTorrentFiles,
  torrentFileOrder,
  pieceLengthFor,
  isTorrentSkipped,
  MAX_PIECES,
  MIN_PIECE_LENGTH,
} from '../../src/transfer/bt/make-torrent.ts';
import { bencode } from '../../src/transfer/bt/bencode.ts';

const MB = 1024 * 1024;
const GB = 1024 * MB;
const TRACKER = 'http://127.0.0.1:6969/announce';
let tmp: string;
let dcp: MadeDcp;

before(async () => {
  tmp = await makeTempRoot();
  dcp = await makeDcp(path.join(tmp, 'dcps'), 'DCP_Test_FTR', [
    { file: 'video.mxf', size: 64 * MB + 5 },
    { file: 'audio.mxf', size: 3 * MB + 17 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'empty.txt', size: 0 },
    // Order traps: the directory "a" sorts before "a-b.xml" and "a.txt" although "/" > "-"
    // and "/" > "."; upper case
    // before lower; UTF-8 after ASCII.
    { file: 'a/x.xml', size: 55 },
    { file: 'a.txt', size: 10 },
    { file: 'a-b.xml', size: 4 },
    { file: 'B.xml', size: 7 },
    { file: 'é.xml', size: 3 },
  ]);
  // Left out of every directory torrent by create-torrent.
  await writeFile(path.join(dcp.dir, '.hidden'), 'x');
  await writeFile(path.join(dcp.dir, 'Thumbs.db'), 'x');
  await mkdir(path.join(dcp.dir, '.git'));
  await writeFile(path.join(dcp.dir, '.git', 'HEAD'), 'x');
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function createTorrentRef(dir: string, opts: Record<string, unknown>): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    createTorrent(dir, opts, (err: Error | null, buf: Uint8Array) => (err ? reject(err) : resolve(Buffer.from(buf)))),
  );
}

test('makeTorrent: the DCP files in torrent order, 4 MiB pieces, only our tracker, not private; same bytes as create-torrent', async () => {
  const outFile = path.join(tmp, 'dcps', 'DCP_Test_FTR.torrent');
  const creationDate = new Date('2026-11-01T10:00:00Z');
  const made = await makeTorrent({ dir: dcp.dir, tracker: TRACKER, outFile, creationDate, fileSha1: true });
  const buf = await readFile(outFile);
  const info = await readTorrentFiles(buf);

  const expectedOrder = ['B.xml', 'PKL.xml', 'a/x.xml', 'a-b.xml', 'a.txt', 'audio.mxf', 'empty.txt', 'sub/ASSETMAP.xml', 'video.mxf', 'é.xml'];
  assert.deepEqual(info.files.map((f) => f.path), expectedOrder);
  assert.deepEqual(torrentFileOrder(dcp.filelist.map((f) => f.file)), expectedOrder);
  const sizeOf = new Map(dcp.filelist.map((f) => [f.file, f.size]));
  for (const f of info.files) assert.equal(f.length, sizeOf.get(f.path), f.path);
  assert.deepEqual(made.files.map((f) => ({ path: f.path, length: f.length })), info.files.map((f) => ({ path: f.path, length: f.length })));
  // The sha1s hashed in the same pass are the files' sha1s.
  const hashOf = new Map(dcp.filelist.map((f) => [f.file, f.hash]));
  for (const f of made.files) assert.equal(f.sha1, hashOf.get(f.path), f.path);
  assert.deepEqual(made.skipped, ['.git', '.hidden', 'Thumbs.db']);

  assert.equal(info.name, 'DCP_Test_FTR');
  assert.equal(info.isDirectory, true);
  assert.equal(info.pieceLength, 4 * MB);
  assert.equal(made.pieceLength, 4 * MB);
  assert.equal(info.pieceCount, Math.ceil(dcp.size / (4 * MB)));
  assert.equal(info.totalLength, dcp.size);
  assert.deepEqual(info.announce, [TRACKER]);
  assert.equal(info.private, false);
  assert.equal(info.infoHash, made.infoHash);
  assert.ok(info.files.every((f) => !f.unsafe));

  // create-torrent, told the same tracker and piece length, writes the same bytes.
  const ref = await createTorrentRef(dcp.dir, { announce: [TRACKER], pieceLength: 4 * MB, creationDate });
  assert.equal(Buffer.compare(ref, buf), 0, 'identical to create-torrent');
  // Without `announce` create-torrent adds public trackers; ours never does.
  const withDefaults = await readTorrentFiles(await createTorrentRef(path.join(dcp.dir, 'sub'), {}));
  assert.ok(withDefaults.announce.length > 1, 'create-torrent default trackers exist (so the check above means something)');

  // Atomic write: nothing but the torrent beside it, and a second run replaces it.
  // Without file sha1s the pieces hash in runs side by side (68 pieces here): still the same bytes.
  await makeTorrent({ dir: dcp.dir, tracker: TRACKER, outFile, creationDate, pieceLength: 1 * MB });
  assert.equal((await readTorrentFiles(await readFile(outFile))).pieceLength, 1 * MB);
  const ref1 = await createTorrentRef(dcp.dir, { announce: [TRACKER], pieceLength: 1 * MB, creationDate });
  assert.equal(Buffer.compare(ref1, await readFile(outFile)), 0, 'identical to create-torrent at 1 MiB pieces');
  assert.deepEqual((await readdir(path.dirname(outFile))).sort(), ['DCP_Test_FTR', 'DCP_Test_FTR.torrent']);
});

test('pieceLengthFor: 4 MiB up to ~156 GiB, then doubling so a torrent has at most 40 000 pieces', () => {
  assert.equal(pieceLengthFor(1), MIN_PIECE_LENGTH);
  assert.equal(pieceLengthFor(1 * GB), 4 * MB);
  assert.equal(pieceLengthFor(100 * 1e9), 4 * MB);
  assert.equal(pieceLengthFor(200 * 1e9), 8 * MB);
  assert.equal(pieceLengthFor(500 * 1e9), 16 * MB);
  assert.equal(pieceLengthFor(1000 * 1e9), 32 * MB);
  for (const size of [1e6, 1e9, 50e9, 156 * GB, 157 * GB, 300e9, 500e9, 1e12, 2e12]) {
    const pl = pieceLengthFor(size);
    assert.ok(Math.ceil(size / pl) <= MAX_PIECES, `${size}: ${Math.ceil(size / pl)} pieces`);
    assert.ok(pl === MIN_PIECE_LENGTH || Math.ceil(size / (pl / 2)) > MAX_PIECES, `${size}: ${pl} is the smallest that fits`);
  }
});

test('torrentFileOrder sorts segment by segment on UTF-8 bytes; isTorrentSkipped follows create-torrent', () => {
  assert.deepEqual(torrentFileOrder(['a.txt', 'a/b', 'A', 'a-b', 'ä', 'z']), ['A', 'a/b', 'a-b', 'a.txt', 'z', 'ä']);
  assert.deepEqual(torrentFileOrder(['r2/x', 'r1/z', 'r1/a/b', 'r10']), ['r1/a/b', 'r1/z', 'r10', 'r2/x']);
  for (const p of ['.x', 'a/.x', '.d/f', 'Thumbs.db', 'd/desktop.ini', 'x~', '__MACOSX/a', 'npm-debug.log']) assert.equal(isTorrentSkipped(p), true, p);
  for (const p of ['CPL.xml', 'sub/ASSETMAP', 'a.b.c', 'x~y']) assert.equal(isTorrentSkipped(p), false, p);
});

test('readTorrentFiles flags unsafe paths that parse-torrent would normalise away', async () => {
  const torrent = bencode({
    announce: TRACKER,
    info: {
      name: 'evil',
      'piece length': 16384,
      pieces: Buffer.alloc(20),
      files: [
        { length: 3, path: ['ok.xml'] },
        { length: 4, path: ['..', 'escape.xml'] },
      ],
    },
  });
  const info = await readTorrentFiles(torrent);
  assert.deepEqual(info.files.map((f) => [f.path, f.offset, f.unsafe]), [
    ['ok.xml', 0, false],
    ['../escape.xml', 3, true],
  ]);
});

test('makeTorrent refuses a directory without data', async () => {
  const empty = path.join(tmp, 'empty-dcp');
  await mkdir(empty);
  await writeFile(path.join(empty, 'zero'), '');
  await assert.rejects(makeTorrent({ dir: empty, tracker: TRACKER, outFile: path.join(tmp, 'e.torrent') }), /no data/);
});
