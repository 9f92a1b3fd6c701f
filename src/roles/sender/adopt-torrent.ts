// gentask --use-torrent (issue 23 point 4): a DCP already in flight under the old system
// has a torrent made by `ctorrent -t`, which lists files in directory order — bft2's own
// torrent of the same DCP (files by name) has another info-hash, so it would be a second
// swarm. Adopting the old torrent keeps one swarm. It is data from outside, so it is checked
// whole before bft2 publishes it: a directory torrent named as the DCP, a sane piece
// geometry, exactly the DCP's files with their sizes (in whatever order), and every piece
// hash against the data, read in the process's hashing threads (which give each file's
// sha1 from the same read when the hash table lacks it).
// Owns nothing on disk: reads the torrent and the DCP. Must not write either.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import parseTorrent from 'parse-torrent';
import { readTorrentFiles, isTorrentSkipped, type TorrentInfo } from '../../transfer/bt/make-torrent.ts';
import { hashPieces } from '../../transfer/bt/piece-hasher.ts';
import { messageOf } from '../../errors/catalogue.ts';

/** A .torrent of 40 000 pieces is 800 KB; one far bigger is not a DCP's. */
const MAX_TORRENT_BYTES = 16 * 1024 * 1024;
const MIN_PIECE = 16 * 1024;
const MAX_PIECE = 64 * 1024 * 1024;
const MAX_PIECES = 2 ** 20;
/** Mismatching pieces named in an error; the rest are counted. */
const NAMED_MISMATCHES = 5;

export class AdoptError extends Error {}

export interface ReadTorrent {
  buf: Buffer;
  info: TorrentInfo;
  /** 20-byte sha1 of each piece, as the torrent lists them. */
  pieces: Buffer;
}

/** Reads and parses the torrent; an AdoptError names what is wrong with it. */
export async function readAdoptable(file: string): Promise<ReadTorrent> {
  const st = await stat(file).catch((err: unknown) => {
    throw new AdoptError(`cannot read it (${messageOf(err)})`);
  });
  if (!st.isFile()) throw new AdoptError('not a regular file');
  if (st.size > MAX_TORRENT_BYTES) throw new AdoptError(`${st.size} bytes, more than a DCP's torrent (${MAX_TORRENT_BYTES})`);
  const buf = await readFile(file);
  try {
    const info = await readTorrentFiles(buf);
    const parsed = await parseTorrent(buf);
    return { buf, info, pieces: Buffer.from(parsed.pieces.join(''), 'hex') };
  } catch (err) {
    throw new AdoptError(`not a torrent file (${messageOf(err)})`);
  }
}

/**
 * Why the torrent cannot be the DCP's, or [] when it can: its shape, and its files against
 * the DCP's (relative path → size). Files bft2's own torrents leave out (dotfiles, junk
 * names) may be missing from it. Pure.
 */
export function adoptionProblems(info: TorrentInfo, dcpName: string, dcpFiles: ReadonlyMap<string, number>): string[] {
  const problems: string[] = [];
  if (!info.isDirectory) return ['a single-file torrent, not a DCP directory'];
  if (info.name !== dcpName) problems.push(`the torrent is named ${JSON.stringify(info.name)}, the DCP directory ${JSON.stringify(dcpName)}`);
  const unsafe = info.files.filter((f) => f.unsafe).map((f) => JSON.stringify(f.path));
  if (unsafe.length) problems.push(`unsafe file paths ${unsafe.join(', ')}`);
  const pl = info.pieceLength;
  if (!Number.isInteger(Math.log2(pl)) || pl < MIN_PIECE || pl > MAX_PIECE) problems.push(`piece length ${pl} is not a power of two from 16 KiB to 64 MiB`);
  if (info.pieceCount > MAX_PIECES) problems.push(`${info.pieceCount} pieces, more than ${MAX_PIECES}`);
  if (info.pieceCount !== Math.ceil(info.totalLength / pl)) problems.push(`${info.pieceCount} piece hashes for ${info.totalLength} bytes in pieces of ${pl}`);
  const inTorrent = new Map(info.files.map((f) => [f.path, f.length]));
  const notInDcp = info.files.filter((f) => !dcpFiles.has(f.path)).map((f) => f.path);
  const sizes = info.files.filter((f) => dcpFiles.has(f.path) && dcpFiles.get(f.path) !== f.length).map((f) => `${f.path} torrent ${f.length} DCP ${dcpFiles.get(f.path)}`);
  const notInTorrent = [...dcpFiles.keys()].filter((f) => !inTorrent.has(f) && !isTorrentSkipped(f));
  if (notInDcp.length) problems.push(`not in the DCP: ${notInDcp.join(', ')}`);
  if (notInTorrent.length) problems.push(`not in the torrent: ${notInTorrent.join(', ')}`);
  if (sizes.length) problems.push(`size differs: ${sizes.join(', ')}`);
  return problems;
}

/** The pieces whose hash differs, each with the files it covers, for the error. Pure. */
export function describeMismatches(info: TorrentInfo, want: Buffer, got: Buffer): string | undefined {
  const bad: number[] = [];
  for (let p = 0; p < info.pieceCount; p++) if (!want.subarray(p * 20, p * 20 + 20).equals(got.subarray(p * 20, p * 20 + 20))) bad.push(p);
  if (bad.length === 0) return undefined;
  const named = bad.slice(0, NAMED_MISMATCHES).map((p) => {
    const from = p * info.pieceLength;
    const to = Math.min(info.totalLength, from + info.pieceLength);
    const files = info.files.filter((f) => f.offset < to && f.offset + f.length > from).map((f) => f.path);
    return `piece ${p} (${files.join(', ')})`;
  });
  const more = bad.length > NAMED_MISMATCHES ? ` and ${bad.length - NAMED_MISMATCHES} more` : '';
  return `${bad.length} of ${info.pieceCount} pieces do not match the DCP's data: ${named.join('; ')}${more}`;
}

export interface VerifiedTorrent {
  /** Every file's sha1 in torrent order, when asked for. */
  fileSha1s?: string[];
}

/**
 * Hashes the DCP's data in the torrent's order and piece length and compares every piece;
 * the data must not change meanwhile. Throws an AdoptError naming the mismatching pieces.
 */
export async function verifyAgainstData(
  t: ReadTorrent,
  dcppath: string,
  listed: ReadonlyMap<string, { size: number; mtimeMs: number }>,
  opts: { fileSha1?: boolean; signal?: AbortSignal; onProgress?: (hashed: number, total: number) => void } = {},
): Promise<VerifiedTorrent> {
  const files = t.info.files.map((f) => ({ abs: path.join(dcppath, f.path), length: f.length, rel: f.path }));
  const hashed = await hashPieces(files, t.info.pieceLength, t.info.totalLength, opts);
  for (const f of files) {
    const st = await stat(f.abs);
    const was = listed.get(f.rel);
    if (st.size !== f.length || (was && st.mtimeMs !== was.mtimeMs)) throw new AdoptError(`${f.abs} changed while the torrent was being checked`);
  }
  const mismatch = describeMismatches(t.info, t.pieces, hashed.pieces);
  if (mismatch) throw new AdoptError(mismatch);
  return { fileSha1s: hashed.fileSha1s };
}
