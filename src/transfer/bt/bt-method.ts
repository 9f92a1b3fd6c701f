// The BitTorrent download method (SPEC §8): fetches the share's torrent (the caller passes
// bt.tmpurl when the task has one, else bt.url), downloads only the share's files with the
// daemon's webtorrent client into the staging directory, and renames each file into the
// target directory once it is complete and its sha1 is the task's.
// Owns: `<stagingDir>/<torrent name>/...` (webtorrent's files: the share's, and partial
// neighbours where a piece straddles a boundary — they stay in staging, never reach
// targetDir) and the torrent's presence in the client while it downloads. Must not touch
// other files of targetDir, other torrents of the client, or the client itself.
import path from 'node:path';
import { mkdir, open, rm, stat, truncate } from 'node:fs/promises';
import { requestFollowing, statusError } from '../cdn/http-request.ts';
import type { DownloadMethod, ShareDownload } from '../method.ts';
import type { FileEntry } from '../../task/schema.ts';
import type { BtClient } from './bt-client.ts';
import { cacheSlotsFor, readTorrentFiles, type TorrentInfo } from './make-torrent.ts';
import { btErrors, describe } from './bt-errors.ts';
import { sha1OfFile } from '../part-file.ts';
import { defaultRetryPolicy, nextRetryDelay, type RetryPolicy } from '../retry-policy.ts';
import { errors, isBft2Error } from '../../errors/catalogue.ts';
import { fsyncDir, renameDurable } from '../../spool/durable-fs.ts';
import { envNumber, sleep } from '../../util/time.ts';
import { isDiskFull, diskFullError } from '../disk-full.ts';

const EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
/** 40 000 pieces are 800 KB of hashes; anything far bigger is not one of ours. */
const MAX_TORRENT_BYTES = 16 * 1024 * 1024;
// fs-chunk-store 5 (webtorrent's file store) strips these from a file's last path segment
// (filename-reserved-regex), so a staged file's name can differ from the task's.
const RESERVED_IN_NAME = /[<>:"/\\|?*\u0000-\u001F]/g;

/** Where webtorrent keeps a torrent file under `stagingDir` (its `path` option). */
export function stagedPath(stagingDir: string, torrentName: string, rel: string): string {
  const segs = rel.split('/');
  const base = segs.pop()!.replace(RESERVED_IN_NAME, '');
  return path.join(stagingDir, torrentName, ...segs, base);
}

export interface BtMethodOptions {
  policy?: RetryPolicy;
  /**
   * A try fails when no byte arrived for this long (no peer has the data, or none is
   * reachable); the retry policy then decides. Default BFT2_BT_STALL_MS or 10 min.
   */
  stallMs?: number;
  /**
   * Piece picking. Default 'sequential': measured 1 GiB from one seeder over loopback at
   * 91 MiB/s against 61 MiB/s for 'rarest' (webtorrent's rarity bookkeeping costs CPU),
   * and files complete in order, so their sha1 checks overlap the download. 'rarest' may
   * pay off in swarms where receivers serve each other.
   */
  strategy?: 'rarest' | 'sequential';
}

/** A share file mapped onto the torrent. */
interface Wanted {
  entry: FileEntry;
  index: number;
  offset: number;
  startPiece: number;
  endPiece: number;
  /** Bytes of this file inside verified pieces, this try. */
  have: number;
  finalizing: boolean;
}

export class BtMethod implements DownloadMethod {
  readonly name = 'bt' as const;
  private readonly policy: RetryPolicy;
  private readonly stallMs: number;
  private readonly strategy: 'rarest' | 'sequential';
  /**
   * The verified-piece map of the last torrent per staging dir, kept when a try ends (abort
   * at the end of a window, a failure): the next try in this process hands it to webtorrent,
   * which then re-hashes one or two pieces per file instead of the whole staging data.
   * After a restart it is gone and webtorrent verifies everything in staging.
   */
  private readonly bitfields = new Map<string, { infoHash: string; bitfield: Uint8Array }>();

  /** `client`: the daemon's client, or a function that gives it (created on first use). */
  constructor(
    private readonly client: BtClient | (() => Promise<BtClient>),
    opts: BtMethodOptions = {},
  ) {
    this.policy = opts.policy ?? defaultRetryPolicy();
    this.stallMs = opts.stallMs ?? envNumber('BFT2_BT_STALL_MS', 10 * 60_000);
    this.strategy = opts.strategy ?? 'sequential';
  }

  async download(job: ShareDownload): Promise<void> {
    const label = path.basename(job.url.replace(/[?#].*$/, '')) || job.url;
    // Bytes reported per file across tries of this call, so a retry that finds pieces
    // already verified does not count them twice.
    const reported = new Map<string, number>();
    let failedTries = 0;
    for (;;) {
      let progressed = false;
      try {
        const pending = await this.pendingFiles(job);
        if (pending.length === 0) return;
        await this.tryOnce(job, pending, reported, () => (progressed = true));
        this.bitfields.delete(job.stagingDir);
        return;
      } catch (err) {
        if (job.signal.aborted) throw job.signal.reason;
        if (isDiskFull(err)) throw isBft2Error(err) ? err : await diskFullError(job.stagingDir, 0);
        if (progressed && !isBft2Error(err)) {
          // Data moved before the failure: go again at once, like the CDN method.
          failedTries = 0;
          job.onTryFailed(label, describe(err), 0);
          continue;
        }
        failedTries += 1;
        const delay = nextRetryDelay(this.policy, failedTries, err);
        job.onTryFailed(label, describe(err), delay);
        if (delay === undefined) throw isBft2Error(err) ? err : errors.DOWNLOAD_FAILED('bt', label, describe(err));
        await sleep(delay, job.signal);
      }
    }
  }

  /**
   * Share files not yet in targetDir. A file there with its size is verified (only this
   * method's sha1-checked renames put it there); zero-byte files never need a peer.
   */
  private async pendingFiles(job: ShareDownload): Promise<FileEntry[]> {
    const pending: FileEntry[] = [];
    for (const f of job.files) {
      const dest = path.join(job.targetDir, f.file);
      const st = await stat(dest).catch(() => undefined);
      if (st?.isFile() && st.size === f.size) continue;
      if (st) await rm(dest, { recursive: true, force: true });
      if (f.size === 0) {
        if (f.hash !== EMPTY_SHA1) throw errors.SHA1_MISMATCH(f.file, f.hash, EMPTY_SHA1);
        await mkdir(path.dirname(dest), { recursive: true });
        await (await open(dest, 'w')).close();
        await fsyncDir(path.dirname(dest));
        continue;
      }
      pending.push(f);
    }
    return pending;
  }

  private async tryOnce(job: ShareDownload, pending: FileEntry[], reported: Map<string, number>, onProgress: () => void): Promise<void> {
    const buf = await fetchTorrent(job.url, job.signal);
    let info: TorrentInfo;
    try {
      info = await readTorrentFiles(buf);
    } catch (err) {
      throw btErrors.BT_TORRENT_FETCH(job.url, `not a torrent file (${describe(err)})`);
    }
    checkTorrent(job.url, job.files, info);
    const client = typeof this.client === 'function' ? await this.client() : this.client;
    if (client.wt.torrents.some((t) => t.infoHash === info.infoHash)) {
      // Another download or a seed of this torrent runs in this daemon; webtorrent cannot
      // hold it twice. Retryable: a previous try's torrent may still be closing.
      throw new Error(`torrent ${info.infoHash} is already active on this node`);
    }

    const byPath = new Map(info.files.map((f, i) => [f.path, i]));
    const pl = info.pieceLength;
    const wanted: Wanted[] = pending.map((entry) => {
      const index = byPath.get(entry.file)!;
      const offset = info.files[index].offset;
      return { entry, index, offset, startPiece: Math.floor(offset / pl), endPiece: Math.floor((offset + entry.size - 1) / pl), have: 0, finalizing: false };
    });
    const overlap = (w: Wanted, piece: number) => {
      const from = Math.max(w.offset, piece * pl);
      const to = Math.min(w.offset + w.entry.size, (piece + 1) * pl);
      return Math.max(0, to - from);
    };

    const saved = this.bitfields.get(job.stagingDir);
    await mkdir(job.stagingDir, { recursive: true });
    const torrent = client.wt.add(buf, {
      path: job.stagingDir,
      deselect: true,
      strategy: this.strategy,
      storeCacheSlots: cacheSlotsFor(pl),
      ...(saved?.infoHash === info.infoHash ? { bitfield: saved.bitfield } : {}),
    });
    job.log.info(`${job.task}: bt: ${info.name} (${info.infoHash}), ${wanted.length} of ${info.files.length} files wanted`);

    let finalizing: Promise<void> = Promise.resolve();
    try {
      await new Promise<void>((resolvePromise, rejectPromise) => {
        let settled = false;
        let ready = false;
        let done = 0;
        let stall: NodeJS.Timeout | undefined;
        const seen = new Uint8Array(info.pieceCount);

        const finish = (err?: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(stall);
          job.signal.removeEventListener('abort', onAbort);
          torrent.off('ready', onReady);
          torrent.off('verified', onVerified);
          torrent.off('download', armStall);
          torrent.off('error', finish);
          if (err === undefined) resolvePromise();
          else rejectPromise(err);
        };
        const onAbort = () => finish(job.signal.reason);
        const armStall = () => {
          clearTimeout(stall);
          stall = setTimeout(
            () => finish(new Error(`no data from peers for ${seconds(this.stallMs)} (${torrent.numPeers} peers connected)`)),
            this.stallMs,
          );
        };
        const report = (w: Wanted) => {
          const before = reported.get(w.entry.file) ?? 0;
          if (w.have > before) {
            job.onBytes(w.have - before);
            reported.set(w.entry.file, w.have);
          }
          if (w.have === w.entry.size && !w.finalizing) {
            w.finalizing = true;
            // One file at a time: each is read whole for its sha1.
            finalizing = finalizing.then(async () => {
              await finalizeFile(job, info.name, w.entry);
              if (++done === wanted.length) finish();
            });
            finalizing.catch(finish);
          }
        };
        const onVerified = (piece: number) => {
          // Before 'ready' this is start-up verification; onReady counts its result.
          if (!ready || seen[piece]) return;
          seen[piece] = 1;
          onProgress();
          for (const w of wanted) {
            const n = overlap(w, piece);
            if (n === 0) continue;
            w.have += n;
            report(w);
          }
        };
        const onReady = () => {
          ready = true;
          const bits = torrent.bitfield!;
          // What staging already holds (a resumed download) is counted once, here.
          for (let p = 0; p < info.pieceCount; p++) if (bits.get(p)) seen[p] = 1;
          for (const w of wanted) {
            for (let p = w.startPiece; p <= w.endPiece; p++) if (seen[p]) w.have += overlap(w, p);
          }
          for (const w of wanted) {
            if (w.have < w.entry.size) torrent.files[w.index].select();
            report(w);
          }
          armStall();
        };

        torrent.once('ready', onReady);
        torrent.on('verified', onVerified);
        torrent.on('download', armStall);
        torrent.once('error', finish);
        torrent.on('warning', (err: Error) => job.log.debug(`${job.task}: bt: ${err.message}`));
        job.signal.addEventListener('abort', onAbort, { once: true });
        if (job.signal.aborted) onAbort();
      });
    } finally {
      // A rename in progress finishes before the torrent goes, so no file is half moved.
      await finalizing.catch(() => undefined);
      if (torrent.ready && torrent.bitfield && !torrent.destroyed) {
        const bytes = Math.ceil(info.pieceCount / 8);
        this.bitfields.set(job.stagingDir, { infoHash: info.infoHash, bitfield: torrent.bitfield.buffer.slice(0, bytes) });
      }
      await new Promise<void>((resolve) => {
        if (torrent.destroyed) return resolve();
        // destroyStore false: staging data stays for the next try or window.
        torrent.destroy({ destroyStore: false }, () => resolve());
      });
    }
  }
}

const seconds = (ms: number) => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;

/**
 * Every share file is in the torrent with the task's size; the torrent stays in its
 * directory. With `exact`, the torrent holds nothing else either (a `-tmp` share torrent
 * must equal btlist: the seed's recv check).
 */
export function checkTorrent(url: string, files: readonly FileEntry[], info: TorrentInfo, exact = false): void {
  if (!info.isDirectory) throw btErrors.BT_TORRENT_UNSAFE(url, 'a single-file torrent, not a DCP directory');
  if (info.name === '' || info.name === '.' || info.name === '..' || /[/\\\0]/.test(info.name)) {
    throw btErrors.BT_TORRENT_UNSAFE(url, `torrent name ${JSON.stringify(info.name)}`);
  }
  const unsafe = info.files.filter((f) => f.unsafe);
  if (unsafe.length > 0) throw btErrors.BT_TORRENT_UNSAFE(url, `file paths ${unsafe.map((f) => JSON.stringify(f.path)).join(', ')}`);
  const inTorrent = new Map(info.files.map((f) => [f.path, f.length]));
  const missing: string[] = [];
  const sizes: string[] = [];
  for (const f of files) {
    const len = inTorrent.get(f.file);
    if (len === undefined) missing.push(f.file);
    else if (len !== f.size) sizes.push(`${f.file} task ${f.size} torrent ${len}`);
  }
  const differences: string[] = [];
  if (missing.length) differences.push(`not in the torrent: ${missing.join(', ')}`);
  if (sizes.length) differences.push(`size differs: ${sizes.join(', ')}`);
  if (exact) {
    const wanted = new Set(files.map((f) => f.file));
    const extra = info.files.filter((f) => !wanted.has(f.path)).map((f) => f.path);
    if (extra.length) differences.push(`not in btlist: ${extra.join(', ')}`);
  }
  if (differences.length) throw btErrors.BT_TORRENT_FILES(url, differences);
}

/** sha1 of the staged file against the task, then fsync and rename into targetDir. */
async function finalizeFile(job: ShareDownload, torrentName: string, f: FileEntry): Promise<void> {
  const staged = stagedPath(job.stagingDir, torrentName, f.file);
  // A staged file left longer by an older torrent of the same name: the verified pieces
  // cover exactly the first f.size bytes.
  if ((await stat(staged)).size > f.size) await truncate(staged, f.size);
  const digest = (await sha1OfFile(staged)).digest('hex');
  if (digest !== f.hash) {
    // The torrent's pieces matched but the task's hash does not: torrent and task differ.
    // Drop the file so a retry (perhaps with a regenerated torrent) starts it afresh.
    await rm(staged, { force: true });
    throw errors.SHA1_MISMATCH(f.file, f.hash, digest);
  }
  const fh = await open(staged, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await renameDurable(staged, path.join(job.targetDir, f.file));
  job.log.debug(`${job.task}: bt: ${f.file} verified`);
}

/** GET the torrent with undici; anything but a 200 with a torrent-sized body is a failed try. */
export async function fetchTorrent(url: string, signal: AbortSignal): Promise<Buffer> {
  let res;
  try {
    ({ res } = await requestFollowing(url, { signal, headersTimeout: 60_000, bodyTimeout: 60_000 }));
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw btErrors.BT_TORRENT_FETCH(url, err);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw btErrors.BT_TORRENT_FETCH(url, statusError(url, res.statusCode));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_TORRENT_BYTES) {
        res.body.destroy();
        throw new Error(`more than ${MAX_TORRENT_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw btErrors.BT_TORRENT_FETCH(url, err);
  }
  return Buffer.concat(chunks);
}
