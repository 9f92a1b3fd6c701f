// Hashes a torrent's pieces in the process's hashing threads (hashing/hash-workers.ts):
// the pieces are cut into one contiguous run per thread and the runs' hashes joined in
// order, so gentask on a 2-core machine is not bound by one core's sha1 (mktorrent uses
// threads too). When every file's sha1 is wanted as well, one run reads everything in
// order and hashes each byte twice (for its piece and for its file): one read of the DCP,
// off the event loop. Reads only.
import { anySignal } from 'any-signal';
import { hashWorkers, type HashWorkers } from '../../hashing/hash-workers.ts';

export interface PieceSource {
  abs: string;
  length: number;
}

export interface HashedPieces {
  /** 20 bytes per piece. */
  pieces: Buffer;
  /** Every file's sha1 (hex), in `files` order, when asked for. */
  fileSha1s?: string[];
}

export async function hashPieces(
  files: PieceSource[],
  pieceLength: number,
  total: number,
  opts: { fileSha1?: boolean; onProgress?: (hashed: number, total: number) => void; signal?: AbortSignal; pool?: HashWorkers } = {},
): Promise<HashedPieces> {
  const pool = opts.pool ?? hashWorkers;
  const count = Math.ceil(total / pieceLength);
  const per = Math.ceil(count / (opts.fileSha1 ? 1 : Math.max(1, Math.min(pool.size, count))));
  const runs = Math.ceil(count / per);
  let hashed = 0;
  const onBytes = (n: number) => {
    hashed += n;
    opts.onProgress?.(hashed, total);
  };
  // One run failing (a file shrank) must not leave the others reading: they are aborted too.
  const stop = new AbortController();
  // anySignal, not AbortSignal.any: its listeners on the caller's signal go in `finally` (download/task-download.ts says why).
  const signal = anySignal([opts.signal, stop.signal]);
  try {
    const parts = await Promise.all(
      Array.from({ length: runs }, (_, r) => {
        const first = r * per;
        const last = Math.min(count, first + per);
        return pool.hashPieces({ files, pieceLength, total, first, last, fileSha1: opts.fileSha1 }, onBytes, signal);
      }),
    );
    return { pieces: Buffer.concat(parts.map((p) => p.pieces)), fileSha1s: parts[0].fileSha1s };
  } catch (err) {
    stop.abort(err);
    throw opts.signal?.aborted ? opts.signal.reason : err;
  } finally {
    signal.clear();
  }
}
