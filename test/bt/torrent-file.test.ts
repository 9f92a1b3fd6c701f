// torrent-file.ts and bencode.ts's decoder: every hostile torrent of the corpus is refused
// with BT_TORRENT_INVALID naming its problem; torrents at the limits are accepted (one of
// 2^20 pieces, pieces of 16 KiB and 64 MiB); bytes that are not a torrent are NotATorrent;
// a good torrent reads as parse-torrent 11 (webtorrent's own parser) reads it — same info
// hash, files, offsets, piece length and hashes — and the info hash is the sha1 of the info
// dictionary's bytes as they are in the file; the decoder refuses what a lax one lets by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import parseTorrent from 'parse-torrent';
import { bdecode, bencode } from '../../src/transfer/bt/bencode.ts';
import { clientTorrent, MOST_PIECES, NotATorrent, readTorrent } from '../../src/transfer/bt/torrent-file.ts';
import { isBft2Error } from '../../src/errors/catalogue.ts';
import { hostileTorrents } from './hostile-torrents.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

test('every torrent of the hostile corpus is refused with BT_TORRENT_INVALID naming its problem', () => {
  for (const c of hostileTorrents()) {
    assert.throws(
      () => readTorrent(c.torrent, `http://x/${c.name}.torrent`),
      (err: unknown) => {
        assert.ok(isBft2Error(err), `${c.name}: ${String(err)}`);
        assert.equal(err.code, 'BT_TORRENT_INVALID', c.name);
        assert.equal(err.unrecoverable, true);
        assert.ok(err.message.startsWith(`invalid torrent http://x/${c.name}.torrent: `), err.message);
        assert.match(err.message, c.problem, c.name);
        return true;
      },
    );
  }
});

function torrent(info: Record<string, unknown>): Buffer {
  return bencode({ announce: 'http://127.0.0.1:6969/announce', info: info as never });
}

test('torrents at the limits are whole: 2^20 pieces, 16 KiB and 64 MiB pieces, files of 0 bytes among others', () => {
  const most = readTorrent(torrent({ name: 'most', 'piece length': 16 * KiB, pieces: Buffer.alloc(MOST_PIECES * 20), files: [{ length: MOST_PIECES * 16 * KiB, path: ['a.mxf'] }] }));
  assert.equal(most.info.pieceCount, MOST_PIECES);
  const big = readTorrent(torrent({ name: 'big', 'piece length': 64 * MiB, pieces: Buffer.alloc(2 * 20), files: [{ length: 64 * MiB + 1, path: ['a.mxf'] }, { length: 0, path: ['empty'] }] }));
  assert.deepEqual(
    big.info.files.map((f) => [f.path, f.length, f.offset]),
    [
      ['a.mxf', 64 * MiB + 1, 0],
      ['empty', 0, 64 * MiB + 1],
    ],
  );
  assert.equal(big.info.pieceCount, 2);
});

test('bytes that are not a torrent are NotATorrent (a failed download, retried), not BT_TORRENT_INVALID', () => {
  for (const bytes of ['<html>502 Bad Gateway</html>', '', 'd4:infoi3ee', 'le', 'd8:announce3:abce', 'd4:infod4:name1:xee trailing']) {
    assert.throws(() => readTorrent(Buffer.from(bytes)), NotATorrent, JSON.stringify(bytes));
  }
});

test('a good torrent reads as parse-torrent reads it; the info hash is the sha1 of the info bytes as written', async () => {
  const pieces = Buffer.from(Array.from({ length: 3 * 20 }, (_, i) => (i * 7) & 0xff));
  const buf = bencode({
    announce: 'http://a/announce',
    'announce-list': [['http://a/announce'], ['http://b/announce']],
    info: { name: 'DCP', 'piece length': 32 * KiB, pieces, files: [{ length: 40_000, path: ['reel', 'v.mxf'] }, { length: 30_000, path: ['CPL.xml'] }] },
  });
  const ours = readTorrent(buf);
  const theirs = await parseTorrent(buf);
  assert.equal(ours.info.infoHash, theirs.infoHash);
  assert.equal(ours.info.totalLength, theirs.length);
  assert.equal(ours.info.pieceLength, theirs.pieceLength);
  assert.deepEqual(ours.info.announce, theirs.announce);
  const given = clientTorrent(ours) as { files: unknown; pieces: ArrayLike<string>; lastPieceLength: number; infoHash: string };
  assert.deepEqual(given.files, theirs.files);
  assert.equal(given.lastPieceLength, theirs.lastPieceLength);
  assert.equal(given.pieces.length, theirs.pieces.length);
  for (let i = 0; i < theirs.pieces.length; i++) assert.equal(given.pieces[i], theirs.pieces[i]);
  // Keys out of order: clients hash the bytes as written, not a re-encoding.
  const unsorted = Buffer.from(`d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:${'a'.repeat(20)}ee`);
  const span = unsorted.subarray('d4:info'.length, unsorted.length - 1);
  assert.equal(readTorrent(unsorted).info.infoHash, createHash('sha1').update(span).digest('hex'));
});

test('bdecode: strict where a torrent must be read exactly, views not copies', () => {
  const refused = ['i03e', 'i-0e', 'i1e5e', 'ie', 'i+1e', '3:ab', 'l', 'd1:ai1e1:ai2ee', 'di1ei2ee', '02:ab', 'i1ei2e', 'x'];
  for (const s of refused) assert.throws(() => bdecode(Buffer.from(s)), /^Error: bencode: /, s);
  // Fractions and numbers past 2^53 come back as they read, for the torrent check to name.
  assert.equal(bdecode(Buffer.from('i10.5e')), 10.5);
  assert.equal(Number.isSafeInteger(bdecode(Buffer.from('i99999999999999999999e'))), false);
  assert.throws(() => bdecode(Buffer.from('l'.repeat(100) + 'e'.repeat(100))), /nested too deeply/);
  const input = Buffer.from('d3:abc5:hello9:__proto__i7ee');
  const out = bdecode(input) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(out), Object.prototype, 'a "__proto__" key is data');
  assert.equal(out.__proto__, 7);
  assert.equal((out.abc as Uint8Array).buffer, input.buffer, 'a byte string is a view of the input');
});
