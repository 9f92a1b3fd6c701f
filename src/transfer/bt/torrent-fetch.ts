// Getting a task's torrent and checking it against the task (SPEC §4, §8): the torrent is
// fetched over HTTP(S) like any URL of a task (redirects and statuses as http-request.ts
// says), never more than the largest torrent torrent-file.ts accepts; it must be a
// directory torrent whose paths stay in their directory and which holds the files the task
// gives BitTorrent, with their sizes (exactly them, for a `-tmp` share torrent: the seed's
// recv check). That a torrent is whole is torrent-file.ts's check.
// Owns nothing on disk.
import { anySignal } from 'any-signal';
import type { FileEntry } from '../../task/schema.ts';
import { MAX_TORRENT_BYTES, type TorrentInfo } from './torrent-file.ts';
import { btErrors } from './bt-errors.ts';
import { requestFollowing, statusError } from '../cdn/http-request.ts';
import { loadUndici } from '../../util/lazy-undici.ts';

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

/**
 * GET the torrent (anything but a 200 with a torrent-sized body is a failed try). The
 * caller's signal cancels; the fetch's own limit of `timeoutMs` is a failed try that names
 * the URL, like any other.
 */
export async function fetchTorrent(url: string, signal: AbortSignal, timeoutMs = 60_000): Promise<Buffer> {
  // The limit is the server's: loading the HTTP client (at a node's first request, which on
  // a busy machine can take seconds) is not counted in it.
  await loadUndici();
  const limit = AbortSignal.timeout(timeoutMs);
  const both = anySignal([signal, limit]); // not AbortSignal.any (download/task-download.ts says why)
  const failed = (err: unknown) => {
    if (signal.aborted) return signal.reason;
    return btErrors.BT_TORRENT_FETCH(url, limit.aborted ? new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`) : err);
  };
  try {
    let res;
    try {
      ({ res } = await requestFollowing(url, { signal: both, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }));
    } catch (err) {
      throw failed(err);
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
      throw failed(err);
    }
    return Buffer.concat(chunks);
  } finally {
    both.clear();
  }
}
