// The hostile-torrent corpus (issue 20): torrents that are not whole, each with the problem
// bft2 must name when it refuses it. Used by the unit test of the reading
// (torrent-file.test.ts) and against a real receiver (hostile-torrent.test.ts).
import { bencode, type BValue } from '../../src/transfer/bt/bencode.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface HostileTorrent {
  /** The task's and the torrent's name. */
  name: string;
  /** The .torrent's bytes. */
  torrent: Buffer;
  /** The task's files (what it gives BitTorrent). */
  files: { file: string; size: number }[];
  /** The problem the error must name (after `invalid torrent <url>: `). */
  problem: RegExp;
}

/** A well-formed hash list of `count` pieces (the bytes do not matter: nothing downloads). */
const hashes = (count: number) => Buffer.alloc(count * 20, 7);

function torrentOf(name: string, info: Record<string, BValue>): Buffer {
  return bencode({ announce: 'http://127.0.0.1:9/announce', info: { name, ...info } });
}

/** One file of `size` bytes in `pieceLength` pieces with `count` hashes. */
function oneFile(name: string, size: number, pieceLength: number, count: number, raw: Record<string, BValue> = {}): Buffer {
  return torrentOf(name, { 'piece length': pieceLength, pieces: hashes(count), files: [{ length: size, path: ['reel.mxf'] }], ...raw });
}

/** Every case: its name (the torrent's and the task's), bytes, the task's files, and the problem. */
export function hostileTorrents(): HostileTorrent[] {
  const ten = 10 * MiB;
  const reel = [{ file: 'reel.mxf', size: ten }];
  // bencode has no fractions; a hostile torrent can still write one.
  const fractional = Buffer.from(oneFile('fraction', 987654321, 16 * KiB, 640).toString('latin1').replace('i987654321e', 'i10485760.5e'), 'latin1');
  const negative = Buffer.from(oneFile('negative', 987654321, 16 * KiB, 640).toString('latin1').replace('i987654321e', 'i-1e'), 'latin1');
  return [
    // The case that crashed the receiver: 640 pieces, 1 hash.
    { name: 'few-hashes', torrent: oneFile('few-hashes', ten, 16 * KiB, 1), files: reel, problem: /1 piece hash.* 640 pieces/ },
    { name: 'many-hashes', torrent: oneFile('many-hashes', ten, 16 * KiB, 1000), files: reel, problem: /1000 piece hashes.* 640 pieces/ },
    { name: 'ragged-hashes', torrent: torrentOf('ragged-hashes', { 'piece length': 16 * KiB, pieces: Buffer.alloc(640 * 20 + 7), files: [{ length: ten, path: ['reel.mxf'] }] }), files: reel, problem: /pieces.* 12807 bytes.* not a multiple of 20/ },
    { name: 'piece-zero', torrent: oneFile('piece-zero', ten, 0, 640), files: reel, problem: /piece length 0 is not a power of two from 16 KiB to 64 MiB/ },
    { name: 'piece-odd', torrent: oneFile('piece-odd', ten, 16 * KiB + 1, 640), files: reel, problem: /piece length 16385 is not a power of two/ },
    { name: 'piece-not-pow2', torrent: oneFile('piece-not-pow2', ten, 24 * KiB, 427), files: reel, problem: /piece length 24576 is not a power of two/ },
    { name: 'piece-small', torrent: oneFile('piece-small', ten, 8 * KiB, 1280), files: reel, problem: /piece length 8192 is not a power of two from 16 KiB/ },
    { name: 'piece-huge', torrent: oneFile('piece-huge', ten, 128 * MiB, 1), files: reel, problem: /piece length 134217728 is not a power of two from 16 KiB to 64 MiB/ },
    { name: 'negative', torrent: negative, files: reel, problem: /file 1 \(reel\.mxf\): length -1 is not a whole number of bytes/ },
    { name: 'fraction', torrent: fractional, files: reel, problem: /file 1 \(reel\.mxf\): length 10485760\.5 is not a whole number of bytes/ },
    {
      name: 'no-sum',
      torrent: torrentOf('no-sum', { 'piece length': 16 * KiB, pieces: hashes(640), files: [{ length: ten, path: ['reel.mxf'] }, { length: 2 ** 52, path: ['pad1'] }, { length: 2 ** 52, path: ['pad2'] }] }),
      files: reel,
      problem: /file lengths add up to more than 9007199254740991 bytes/,
    },
    {
      name: 'two-lengths',
      torrent: oneFile('two-lengths', ten, 16 * KiB, 640, { length: 5 }),
      files: reel,
      problem: /both a length and a file list/,
    },
    // 2^20 + 1 pieces of 16 KiB: a 20 MB torrent, past the bound on pieces.
    { name: 'too-many-pieces', torrent: oneFile('too-many-pieces', (2 ** 20 + 1) * 16 * KiB, 16 * KiB, 2 ** 20 + 1), files: [{ file: 'reel.mxf', size: (2 ** 20 + 1) * 16 * KiB }], problem: /1048577 pieces: more than 1048576/ },
    { name: 'many-files', torrent: torrentOf('many-files', { 'piece length': 16 * KiB, pieces: hashes(1), files: [{ length: 5, path: ['reel.mxf'] }, ...Array.from({ length: 10_000 }, (_, i) => ({ length: 0, path: [`x${i}`] }))] }), files: [{ file: 'reel.mxf', size: 5 }], problem: /10001 files: more than 10000/ },
    { name: 'no-pieces', torrent: torrentOf('no-pieces', { 'piece length': 16 * KiB, pieces: 640, files: [{ length: ten, path: ['reel.mxf'] }] }), files: reel, problem: /pieces is not a byte string/ },
  ];
}

