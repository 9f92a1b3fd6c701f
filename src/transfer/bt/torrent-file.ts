// Reading a .torrent (SPEC §7, §8): every torrent bft2 uses — fetched from a task's URL, a
// cacher's saved copy, the sender's own, a receiver's kept share torrent — is decoded and
// checked whole here before anything uses it (issue 20: a torrent with fewer piece hashes
// than pieces took the receiver down). A torrent is whole when its piece length is a power
// of two from 16 KiB to 64 MiB, its file lengths are whole numbers of bytes that add up to
// a safe total, and it carries exactly one 20-byte hash per piece of that total, at most
// 2^20 pieces and 10,000 files. Which files and sizes a task needs is torrent-fetch.ts's.
// Also builds what the BitTorrent client is given instead of the raw bytes: the parsed
// torrent, with its piece hashes left as the torrent's own bytes (webtorrent's own parser
// turned them into strings of hundreds of bytes each; docs/performance.md).
// Owns the torrent's reading and its limits. Reads no files and touches no library internals.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { bdecode, type BDecoded, type BDict, type Spans } from './bencode.ts';
import { errors, type Bft2Error } from '../../errors/catalogue.ts';
import { pieceHashList } from './patches/piece-state.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Piece lengths a torrent may have (what webtorrent and the block size allow; BEP 3 wants powers of two). */
export const SMALLEST_PIECE = 16 * KiB;
export const LARGEST_PIECE = 64 * MiB;
/** At most this many pieces: 20 MiB of hashes (524,288 pieces of 16 KiB are an 8 GiB file). */
export const MOST_PIECES = 2 ** 20;
/** At most this many files (a DCP has tens). */
export const MOST_FILES = 10_000;
/** The largest .torrent read: every hash of MOST_PIECES and room for the file list. */
export const MAX_TORRENT_BYTES = MOST_PIECES * 20 + 4 * MiB;

export interface TorrentFileEntry {
  /** Relative path inside the DCP, `/`-separated, without the torrent's name. */
  path: string;
  length: number;
}

export interface TorrentInfo {
  infoHash: string;
  /** The torrent's name: the directory the files live in under a client's `path`. */
  name: string;
  pieceLength: number;
  pieceCount: number;
  totalLength: number;
  announce: string[];
  private: boolean;
  /** False for a single-file torrent (not a DCP directory). */
  isDirectory: boolean;
  files: (TorrentFileEntry & {
    /** Byte offset of the file in the torrent's concatenated data. */
    offset: number;
    /** A path segment is empty, ".", "..", or holds "/", "\\" or NUL. */
    unsafe: boolean;
  })[];
}

/** A torrent read and checked: what bft2 knows of it, and what the client is given. */
export interface ReadTorrent {
  info: TorrentInfo;
  /** The torrent's info dictionary (its byte strings are views of the torrent's bytes). */
  infoDict: BDict;
  /** 20 bytes per piece, a view of the torrent's bytes. */
  pieceHashes: Uint8Array;
}

const textDecoder = new TextDecoder();
const text = (b: Uint8Array) => textDecoder.decode(b);
const unsafeSegment = (s: string) => s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s);
const isDict = (v: BDecoded | undefined): v is BDict => typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
const isBytes = (v: BDecoded | undefined): v is Uint8Array => v instanceof Uint8Array;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A byte string that is not a torrent at all (an error page, a truncated download). */
export class NotATorrent extends Error {}

/**
 * Decodes and checks a .torrent. `where` (its URL or file) goes into the error. Throws
 * NotATorrent when the bytes are not a bencoded dictionary with an info dictionary, and
 * BT_TORRENT_INVALID naming the first thing wrong otherwise.
 */
export function readTorrent(buf: Uint8Array, where = 'torrent'): ReadTorrent {
  const spans: Spans = new Map();
  let root: BDecoded;
  try {
    root = bdecode(buf, spans);
  } catch (err) {
    throw new NotATorrent(`not a torrent file (${(err as Error).message})`);
  }
  if (!isDict(root) || !isDict(root.info)) throw new NotATorrent('not a torrent file (no info dictionary)');
  const infoDict = root.info;
  const invalid = (problem: string): Bft2Error => errors.BT_TORRENT_INVALID(where, problem);

  const nameBytes = infoDict['name.utf-8'] ?? infoDict.name;
  if (!isBytes(nameBytes)) throw invalid('info.name is missing or not a byte string');
  const name = text(nameBytes);

  const pieceLength = infoDict['piece length'];
  if (typeof pieceLength !== 'number' || !isPieceLength(pieceLength)) {
    throw invalid(`piece length ${typeof pieceLength === 'number' ? pieceLength : 'is missing or not a number, so it'} is not a power of two from 16 KiB to 64 MiB`);
  }
  const pieceHashes = infoDict.pieces;
  if (!isBytes(pieceHashes)) throw invalid('pieces is not a byte string');
  if (pieceHashes.length % 20 !== 0) throw invalid(`pieces holds ${pieceHashes.length} bytes, not a multiple of 20 (one sha1 per piece)`);

  if (infoDict.length !== undefined && infoDict.files !== undefined) throw invalid('the info dictionary has both a length and a file list');
  if (infoDict.length === undefined && infoDict.files === undefined) throw invalid('the info dictionary has neither a length nor a file list');
  const isDirectory = infoDict.files !== undefined;
  const rawFiles = isDirectory ? infoDict.files : [{ length: infoDict.length, path: [nameBytes] } as BDict];
  if (!Array.isArray(rawFiles) || rawFiles.length === 0) throw invalid('files is not a list of files');
  if (rawFiles.length > MOST_FILES) throw invalid(`${rawFiles.length} files: more than ${MOST_FILES}`);
  let offset = 0;
  const files: TorrentInfo['files'] = [];
  for (const [i, f] of rawFiles.entries()) {
    const segsRaw = isDict(f) ? (f['path.utf-8'] ?? f.path) : undefined;
    if (!isDict(f) || !Array.isArray(segsRaw) || !segsRaw.every(isBytes)) throw invalid(`file ${i + 1}: no path (a list of byte strings)`);
    const segs = (segsRaw as Uint8Array[]).map(text);
    const rel = segs.join('/');
    const length = f.length;
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      throw invalid(`file ${i + 1} (${rel}): length ${typeof length === 'number' ? length : '(missing)'} is not a whole number of bytes`);
    }
    if (!Number.isSafeInteger(offset + length)) throw invalid(`file lengths add up to more than ${Number.MAX_SAFE_INTEGER} bytes`);
    files.push({ path: rel, length, offset, unsafe: segs.length === 0 || segs.some(unsafeSegment) });
    offset += length;
  }
  const totalLength = offset;
  if (totalLength === 0) throw invalid('no data: every file is empty');
  const pieceCount = Math.ceil(totalLength / pieceLength);
  if (pieceCount > MOST_PIECES) throw invalid(`${totalLength} bytes in ${pieceLength}-byte pieces are ${pieceCount} pieces: more than ${MOST_PIECES}`);
  const hashCount = pieceHashes.length / 20;
  if (hashCount !== pieceCount) {
    throw invalid(`${plural(hashCount, 'piece hash', 'piece hashes')} for ${totalLength} bytes in ${pieceLength}-byte pieces, which are ${plural(pieceCount, 'piece')}`);
  }

  const [start, end] = spans.get('info')!;
  const infoHash = createHash('sha1').update(buf.subarray(start, end)).digest('hex');
  return {
    info: { infoHash, name, pieceLength, pieceCount, totalLength, announce: announceOf(root), private: isPrivate(infoDict), isDirectory, files },
    infoDict,
    pieceHashes,
  };
}

/** The torrent's files, sizes and pieces (readTorrent without what the client needs). */
export async function readTorrentFiles(buf: Uint8Array, where?: string): Promise<TorrentInfo> {
  return readTorrent(buf, where).info;
}

function isPieceLength(n: number): boolean {
  return Number.isSafeInteger(n) && n >= SMALLEST_PIECE && n <= LARGEST_PIECE && (n & (n - 1)) === 0;
}

function isPrivate(info: BDict): boolean {
  return info.private === 1;
}

/** The tracker URLs: announce-list flattened (BEP 12), else announce; malformed entries skipped. */
function announceOf(root: BDict): string[] {
  const urls: string[] = [];
  const list = root['announce-list'];
  if (Array.isArray(list) && list.length > 0) {
    for (const tier of list) if (Array.isArray(tier)) for (const u of tier) if (isBytes(u)) urls.push(text(u));
  } else if (isBytes(root.announce)) urls.push(text(root.announce));
  return [...new Set(urls)];
}

/**
 * What the BitTorrent client is given for a torrent (webtorrent takes a parsed torrent as
 * readily as bytes, and parses nothing then): the fields parse-torrent 11 would produce,
 * with the piece hashes kept as the torrent's bytes (pieceHashList). A fresh object each
 * time: the client takes it over.
 */
export function clientTorrent(t: ReadTorrent): Record<string, unknown> {
  const { info } = t;
  return {
    infoHash: info.infoHash,
    infoHashBuffer: Buffer.from(info.infoHash, 'hex'),
    name: info.name,
    announce: [...info.announce],
    urlList: [],
    ...(t.infoDict.private !== undefined ? { private: info.private } : {}),
    info: t.infoDict,
    // parse-torrent's path: the torrent's name and the segments, joined the platform's way.
    files: info.files.map((f) => ({
      path: path.join(path.sep, info.name, ...(info.isDirectory ? f.path.split('/') : [])).slice(1),
      name: f.path.split('/').pop(),
      length: f.length,
      offset: f.offset,
    })),
    length: info.totalLength,
    pieceLength: info.pieceLength,
    lastPieceLength: info.totalLength % info.pieceLength || info.pieceLength,
    pieces: pieceHashList(t.pieceHashes),
  };
}
