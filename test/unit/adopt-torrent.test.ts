// The checks gentask --use-torrent makes of an existing torrent (src/roles/sender/adopt-torrent.ts):
// its shape and files against the DCP's (in any order), and which pieces differ from the data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adoptionProblems, describeMismatches } from '../../src/roles/sender/adopt-torrent.ts';
import type { TorrentInfo } from '../../src/transfer/bt/make-torrent.ts';

const KiB = 1024;

/** A directory torrent of these files in this order. */
function info(files: [string, number][], o: Partial<TorrentInfo> = {}): TorrentInfo {
  let offset = 0;
  const list = files.map(([p, length]) => {
    const f = { path: p, length, offset, unsafe: p.split('/').some((s) => s === '..' || s === '') };
    offset += length;
    return f;
  });
  const pieceLength = o.pieceLength ?? 256 * KiB;
  return { infoHash: 'aa'.repeat(20), name: 'feature', pieceLength, pieceCount: Math.ceil(offset / pieceLength), totalLength: offset, announce: [], private: false, isDirectory: true, files: list, ...o };
}
const dcp = (files: [string, number][]) => new Map(files);

test('a torrent of the DCP\'s files in another order (ctorrent\'s directory order) is adoptable; dotfiles and junk may be missing from it', () => {
  const files: [string, number][] = [['reel2/picture.mxf', 900 * KiB], ['ASSETMAP.xml', 1466], ['reel1/picture.mxf', 700 * KiB + 3]];
  assert.deepEqual(adoptionProblems(info(files), 'feature', dcp([['ASSETMAP.xml', 1466], ['reel1/picture.mxf', 700 * KiB + 3], ['reel2/picture.mxf', 900 * KiB], ['Thumbs.db', 10]])), []);
});

test('every difference is named at once: name, missing and extra files, sizes, geometry, unsafe paths', () => {
  const t = info([['a.mxf', 100], ['../b.mxf', 5], ['c.mxf', 7]], { name: 'other', pieceLength: 3000, pieceCount: 9 });
  const problems = adoptionProblems(t, 'feature', dcp([['a.mxf', 101], ['c.mxf', 7], ['d.xml', 9]]));
  assert.deepEqual(problems, [
    'the torrent is named "other", the DCP directory "feature"',
    'unsafe file paths "../b.mxf"',
    'piece length 3000 is not a power of two from 16 KiB to 64 MiB',
    '9 piece hashes for 112 bytes in pieces of 3000',
    'not in the DCP: ../b.mxf',
    'not in the torrent: d.xml',
    'size differs: a.mxf torrent 100 DCP 101',
  ]);
  assert.deepEqual(adoptionProblems({ ...info([['a', 1]]), isDirectory: false }, 'feature', dcp([['a', 1]])), ['a single-file torrent, not a DCP directory']);
  assert.match(adoptionProblems(info([['a', 1]], { pieceLength: 128 * 1024 * 1024 }), 'feature', dcp([['a', 1]]))[0], /not a power of two from 16 KiB to 64 MiB/);
});

test('describeMismatches names the differing pieces with the files each covers, the first five, and counts the rest', () => {
  const t = info([['a.mxf', 40 * KiB], ['b.mxf', 100 * KiB], ['c.xml', 1000]], { pieceLength: 16 * KiB });
  const want = Buffer.alloc(20 * t.pieceCount);
  assert.equal(describeMismatches(t, want, Buffer.from(want)), undefined);
  const got = Buffer.from(want);
  for (const p of [2, 8]) got[p * 20] = 1;
  assert.equal(describeMismatches(t, want, got), '2 of 9 pieces do not match the DCP\'s data: piece 2 (a.mxf, b.mxf); piece 8 (b.mxf, c.xml)');
  for (let p = 0; p < 9; p++) got[p * 20 + 5] = 7;
  assert.match(describeMismatches(t, want, got)!, /^9 of 9 pieces .*piece 4 \(b\.mxf\) and 4 more$/);
});
