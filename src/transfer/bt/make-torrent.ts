// Making and reading the .torrent of a DCP directory (SPEC §2, §7): the full torrent
// `<name>.torrent` and the BT share's `<name>-tmp.torrent`.
// Owns: which files of a directory a torrent holds and in what order, the piece-length
// rule, piece hashing, and writing the .torrent atomically. Must not touch the DCP's data
// (read only), the hash table, or task files.
//
// The torrent is the one create-torrent 6.1.3 makes for `createTorrent(dir, { announce:
// [tracker], pieceLength })` — same file selection (dotfiles and "junk" names skipped),
// same order, same dictionary, byte for byte (test/bt/make-torrent.test.ts checks it) —
// but hashed in the process's hashing threads (piece-hasher.ts): create-torrent reads
// 64 KiB chunks, copies them twice into a piece and hashes one piece at a time on the event
// loop (docs/performance.md, gentask); the threads hash runs of pieces side by side and can hash every
// file's sha1 in the same pass (`fileSha1`), which gentask needs for files missing from
// the hash table.
import { open, readdir, stat, rm } from 'node:fs/promises';
import path from 'node:path';
import { bencode, type BValue } from './bencode.ts';
import { readTorrent, type TorrentFileEntry } from './torrent-file.ts';
import { hashPieces } from './piece-hasher.ts';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { renameDurable } from '../../spool/durable-fs.ts';

const MiB = 1024 * 1024;
/** Smallest piece: 4 MiB, create-torrent's own cap (webtorrent moves it at full speed: docs/performance.md). */
export const MIN_PIECE_LENGTH = 4 * MiB;
/** Beyond this many pieces the piece length doubles (see pieceLengthFor). */
export const MAX_PIECES = 40_000;
/** Upper bound: webtorrent holds whole pieces in memory (cache slots, pieces in flight). */
export const MAX_PIECE_LENGTH = 64 * MiB;

/**
 * The piece length for a torrent of `totalBytes`: the smallest power of two ≥ 4 MiB that
 * keeps the piece count ≤ 40 000, at most 64 MiB. So 4 MiB up to 156 GiB (a 1 GB DCP has
 * 239 pieces, 100 GB 23 842), 8 MiB up to 312 GiB, 16 MiB up to 625 GiB (500 GB: 29 803
 * pieces), 32 MiB beyond. Why: few pieces keep the .torrent small (20 bytes each: 800 KB
 * at most) and webtorrent's per-piece bookkeeping cheap; small pieces keep the bytes a
 * receiver fetches for a partly wanted piece (one at each end of a selected run of files)
 * and the memory webtorrent holds per piece low.
 */
export function pieceLengthFor(totalBytes: number): number {
  let len = MIN_PIECE_LENGTH;
  while (len < MAX_PIECE_LENGTH && Math.ceil(totalBytes / len) > MAX_PIECES) len *= 2;
  return len;
}

// The `junk` package's list (4.0.1, used by create-torrent's get-files.js), copied so the
// rule is visible here and cannot change under an install.
const JUNK = new RegExp(
  [
    '^npm-debug\\.log$',
    '^\\..*\\.swp$',
    '^\\.DS_Store$',
    '^\\.AppleDouble$',
    '^\\.LSOverride$',
    '^Icon\\r$',
    '^\\._.*',
    '^\\.Spotlight-V100(?:$|\\/)',
    '\\.Trashes',
    '^__MACOSX$',
    '~$',
    '^Thumbs\\.db$',
    '^ehthumbs\\.db$',
    '^[Dd]esktop\\.ini$',
    '@eaDir$',
  ].join('|'),
);

/**
 * True when a directory torrent leaves this relative path out: create-torrent skips every
 * file or directory whose name starts with "." or is "junk" (Thumbs.db, desktop.ini,
 * names ending in "~", __MACOSX, ...). gentask should treat such files as not part of
 * the BT share (or refuse the DCP): a receiver can never get them over BT.
 */
export function isTorrentSkipped(relPath: string): boolean {
  return relPath.split('/').some((seg) => seg.startsWith('.') || JUNK.test(seg));
}

/**
 * The order of files in a directory torrent: create-torrent walks the tree depth first
 * and Node's readdir returns each directory's names sorted by byte value (libuv sorts
 * with strcmp), so files are ordered segment by segment, comparing UTF-8 bytes. This is
 * not a plain string sort: "a/x" comes before "a.txt" ("a" < "a.txt"), though "/" > ".".
 * Takes and returns `/`-separated paths relative to the DCP directory.
 */
export function torrentFileOrder(relativePaths: readonly string[]): string[] {
  const keyed = relativePaths.map((p) => ({ p, segs: p.split('/').map((s) => Buffer.from(s, 'utf8')) }));
  keyed.sort((a, b) => {
    const n = Math.min(a.segs.length, b.segs.length);
    for (let i = 0; i < n; i++) {
      const c = Buffer.compare(a.segs[i], b.segs[i]);
      if (c !== 0) return c;
    }
    return a.segs.length - b.segs.length;
  });
  return keyed.map((k) => k.p);
}

export interface MakeTorrentOptions {
  /** The DCP directory; the torrent's name is its basename. */
  dir: string;
  /** The one announce URL (SPEC §3 `tracker`); no public trackers are ever added. */
  tracker: string;
  /** Where the .torrent goes; written to a temp name beside it, then renamed. */
  outFile: string;
  /** Default: pieceLengthFor(total size). Must be a power of two ≥ 16 KiB. */
  pieceLength?: number;
  /** Also return every file's sha1, computed from the same reads. */
  fileSha1?: boolean;
  /** Called as the hashing goes (every 64 MiB a thread hashes) with bytes hashed so far and the total. */
  onProgress?: (hashed: number, total: number) => void;
  signal?: AbortSignal;
  /** Default now; tests fix it to compare with create-torrent. */
  creationDate?: Date;
  /** The torrent's "created by"; default none (as create-torrent). */
  createdBy?: string;
}

export interface MadeTorrent {
  infoHash: string;
  name: string;
  files: (TorrentFileEntry & { sha1?: string })[];
  pieceLength: number;
  pieceCount: number;
  totalLength: number;
  /** Files under `dir` left out by the create-torrent rule (isTorrentSkipped), relative. */
  skipped: string[];
}

interface WalkedFile {
  abs: string;
  rel: string;
  length: number;
  mtimeMs: number;
}

/** create-torrent's get-files walk: stat follows symlinks, only files and directories count. */
async function walk(dir: string): Promise<{ files: WalkedFile[]; skipped: string[] }> {
  const files: WalkedFile[] = [];
  const skipped: string[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await stat(abs);
    if (st.isDirectory()) {
      for (const name of await readdir(abs)) {
        const childRel = rel ? `${rel}/${name}` : name;
        if (isTorrentSkipped(name)) {
          skipped.push(childRel);
          continue;
        }
        await visit(path.join(abs, name), childRel);
      }
    } else if (st.isFile()) {
      files.push({ abs, rel, length: st.size, mtimeMs: st.mtimeMs });
    }
  };
  const top = await stat(dir);
  if (!top.isDirectory()) throw new Error(`not a directory: ${dir}`);
  await visit(dir, '');
  const order = new Map(torrentFileOrder(files.map((f) => f.rel)).map((p, i) => [p, i]));
  files.sort((a, b) => order.get(a.rel)! - order.get(b.rel)!);
  return { files, skipped: torrentFileOrder(skipped) };
}

/** Makes the directory torrent of `dir` and writes it to `outFile` (atomically, durably). */
export async function makeTorrent(opts: MakeTorrentOptions): Promise<MadeTorrent> {
  const dir = path.resolve(opts.dir);
  const name = path.basename(dir);
  const { files, skipped } = await walk(dir);
  const total = files.reduce((s, f) => s + f.length, 0);
  // create-torrent cannot make a torrent without data either ("pieces" would be empty and
  // parsers reject it); a DCP always has bytes.
  if (files.length === 0 || total === 0) throw new Error(`no data to make a torrent of in ${dir}`);
  const pieceLength = opts.pieceLength ?? pieceLengthFor(total);
  if (!Number.isInteger(Math.log2(pieceLength)) || pieceLength < 16 * 1024) throw new Error(`piece length must be a power of two ≥ 16 KiB: ${pieceLength}`);

  const { pieces, fileSha1s } = await hashPieces(files, pieceLength, total, { fileSha1: opts.fileSha1, onProgress: opts.onProgress, signal: opts.signal });

  // The data must not have changed while it was hashed, or the torrent describes bytes
  // nobody has.
  for (const f of files) {
    const st = await stat(f.abs);
    if (st.size !== f.length || st.mtimeMs !== f.mtimeMs) throw new Error(`${f.abs} changed while the torrent was being made`);
  }

  // Key for key what create-torrent writes (announce + announce-list of the one tracker,
  // no "private" key: a private flag would change the info hash and forbid PEX).
  const torrent: { [k: string]: BValue | undefined } = {
    info: {
      name,
      'piece length': pieceLength,
      pieces,
      files: files.map((f) => ({ length: f.length, path: f.rel.split('/') })),
    },
    'creation date': Math.ceil((opts.creationDate ?? new Date()).getTime() / 1000),
    encoding: 'UTF-8',
    announce: opts.tracker,
    'announce-list': [[opts.tracker]],
    'created by': opts.createdBy,
  };
  const buf = bencode(torrent);
  // Read back as any torrent is: what bft2 writes must pass its own check.
  const parsed = readTorrent(buf, opts.outFile).info;

  await writeAtomically(opts.outFile, buf);
  return {
    infoHash: parsed.infoHash,
    name,
    files: files.map((f, i) => ({ path: f.rel, length: f.length, ...(fileSha1s ? { sha1: fileSha1s[i] } : {}) })),
    pieceLength,
    pieceCount: pieces.length / 20,
    totalLength: total,
    skipped,
  };
}

/**
 * Temp name beside the target (same filesystem, so rename is atomic), dot-prefixed so the
 * hash watcher and the HTTP origin's listings ignore it; fsync, rename, fsync the dir.
 */
async function writeAtomically(file: string, data: Buffer): Promise<void> {
  const temp = path.join(path.dirname(file), `${TEMP_PREFIX}${path.basename(file)}.tmp`);
  try {
    const fh = await open(temp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await renameDurable(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

// Reading a torrent is torrent-file.ts's; re-exported for the callers that make and read.
export { readTorrentFiles, type TorrentInfo, type TorrentFileEntry } from './torrent-file.ts';
