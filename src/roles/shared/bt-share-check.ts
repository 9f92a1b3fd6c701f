// The seed's `recv` checks of a task's BitTorrent share (SPEC §4, §5), shared by the
// receiver and the cacher: which torrent carries the share, that it downloads, and that
// it holds exactly the share's files with the task's sizes — a stale CDN copy of an old
// torrent is caught at `recv`, not after hours of downloading.
// Owns nothing on disk and no state: it fetches a torrent and compares it with the task.
// Must not touch the spool, staging data or the BitTorrent client.
import { errors } from '../../errors/catalogue.ts';
import type { FileEntry, Task } from '../../task/schema.ts';
import { fetchTorrent, checkTorrent } from '../../transfer/bt/torrent-fetch.ts';
import { NotATorrent, readTorrentFiles, type TorrentInfo } from '../../transfer/bt/torrent-file.ts';
import { btErrors, describe } from '../../transfer/bt/bt-errors.ts';

/** How long `recv` waits for a torrent before it answers that it could not download it. */
const FETCH_TIMEOUT_MS = 30_000;

/** True when BitTorrent carries only part of the task (OBS or CDN carry the rest). */
export function isSplitTask(t: Task): boolean {
  return t.obslist.length > 0 || t.cdnlist.length > 0;
}

/**
 * The torrent of the task's BT share: `bt.tmpurl` when BT has a share of a split task
 * (the `-tmp` torrent of btlist), else `bt.url` (the full torrent). A split task without
 * `bt.tmpurl` is refused with the seed's text.
 */
export function btShareUrl(t: Task): string {
  if (!isSplitTask(t)) return t.bt.url;
  if (!t.bt.tmpurl) throw errors.BT_NO_TMPURL();
  return t.bt.tmpurl;
}

/** The task's entries of the files the share's torrent must hold: btlist of a split task, else every file. */
export function btShareFiles(t: Task): FileEntry[] {
  if (!isSplitTask(t)) return t.filelist;
  const byName = new Map(t.filelist.map((f) => [f.file, f]));
  return t.btlist.map((f) => byName.get(f)!);
}

export interface CheckedBtShare {
  url: string;
  /** The .torrent as downloaded. */
  torrent: Buffer;
  info: TorrentInfo;
}

/**
 * Fetches the share's torrent and checks that it holds exactly the share's files with the
 * task's sizes. Throws BT_NO_TMPURL, BT_TORRENT_FETCH (could not download it: the seed's
 * `could not download [tmp]torrent from <url>`), BT_TORRENT_INVALID, BT_TORRENT_FILES or
 * BT_TORRENT_UNSAFE.
 * Call it only for a task that gives BitTorrent files.
 */
export async function checkBtShare(t: Task, signal: AbortSignal = new AbortController().signal): Promise<CheckedBtShare> {
  const url = btShareUrl(t);
  const torrent = await fetchTorrent(url, signal, FETCH_TIMEOUT_MS);
  return { url, torrent, info: checkBtShareTorrent(t, url, await parseShareTorrent(url, torrent)) };
}

/**
 * The torrent's file list, checked whole; a body that is not a torrent is a failed download
 * of it, a torrent that is not whole is BT_TORRENT_INVALID.
 */
export async function parseShareTorrent(url: string, torrent: Uint8Array): Promise<TorrentInfo> {
  try {
    return await readTorrentFiles(torrent, url);
  } catch (err) {
    throw err instanceof NotATorrent ? btErrors.BT_TORRENT_FETCH(url, describe(err)) : err;
  }
}

/** The same check for a torrent already at hand (a cacher's saved copy). Returns `info`. */
export function checkBtShareTorrent(t: Task, url: string, info: TorrentInfo): TorrentInfo {
  checkTorrent(url, btShareFiles(t), info, true);
  return info;
}
