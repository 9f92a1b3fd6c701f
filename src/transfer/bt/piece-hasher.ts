// Hashes a torrent's pieces on every core: the pieces are cut into one contiguous run per
// worker thread, each worker reads its run straight from the files and hashes it, and the
// runs' hashes are joined in order. gentask on a 2-core machine is otherwise bound by one
// core's sha1 (mktorrent uses threads too). Used by make-torrent.ts when no per-file
// sha1 is wanted (those need one sequential pass). Reads only.
import { Worker } from 'node:worker_threads';
import os from 'node:os';

export interface PieceSource {
  abs: string;
  length: number;
}

/** Run with `eval` so the same source serves tsx and the build (see hashtable/hash-pool.ts). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const { files, pieceLength, total, first, last } = workerData;
let fi = 0;
let fpos = first * pieceLength;
while (fi < files.length && fpos >= files[fi].length) { fpos -= files[fi].length; fi++; }
const out = Buffer.alloc(20 * (last - first));
const buf = Buffer.allocUnsafe(pieceLength);
let fd = -1;
let fdIndex = -1;
let sinceReport = 0;
try {
  for (let p = first; p < last; p++) {
    const plen = Math.min(pieceLength, total - p * pieceLength);
    let at = 0;
    while (at < plen) {
      if (fpos === files[fi].length) { fi++; fpos = 0; continue; }
      if (fdIndex !== fi) {
        if (fd >= 0) fs.closeSync(fd);
        fd = fs.openSync(files[fi].abs, 'r');
        fdIndex = fi;
      }
      const len = Math.min(plen - at, files[fi].length - fpos);
      let got = 0;
      while (got < len) {
        const n = fs.readSync(fd, buf, at + got, len - got, fpos + got);
        if (n === 0) throw new Error('file shorter than when listed: ' + files[fi].abs);
        got += n;
      }
      at += len;
      fpos += len;
    }
    createHash('sha1').update(buf.subarray(0, plen)).digest().copy(out, 20 * (p - first));
    sinceReport += plen;
    if (sinceReport >= 64 * 1024 * 1024) { parentPort.postMessage({ progress: sinceReport }); sinceReport = 0; }
  }
  parentPort.postMessage({ progress: sinceReport, done: out });
} catch (err) {
  parentPort.postMessage({ error: err.message });
} finally {
  if (fd >= 0) fs.closeSync(fd);
}
`;

export async function hashPiecesParallel(
  files: PieceSource[],
  pieceLength: number,
  total: number,
  onProgress?: (hashed: number, total: number) => void,
  signal?: AbortSignal,
  threads = Math.max(1, os.availableParallelism()),
): Promise<Buffer> {
  const count = Math.ceil(total / pieceLength);
  const runs = Math.max(1, Math.min(threads, count));
  const per = Math.ceil(count / runs);
  const sources = files.map((f) => ({ abs: f.abs, length: f.length }));
  let hashed = 0;
  const workers: Worker[] = [];
  const onAbort = () => workers.forEach((w) => void w.terminate());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const parts = await Promise.all(
      Array.from({ length: runs }, (_, r) => {
        const first = r * per;
        const last = Math.min(count, first + per);
        return new Promise<Buffer>((resolve, reject) => {
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { files: sources, pieceLength, total, first, last } });
          workers.push(w);
          w.on('message', (m: { progress?: number; done?: Uint8Array; error?: string }) => {
            if (m.progress) {
              hashed += m.progress;
              onProgress?.(hashed, total);
            }
            if (m.error) reject(new Error(m.error));
            else if (m.done) resolve(Buffer.from(m.done.buffer, m.done.byteOffset, m.done.byteLength));
          });
          w.once('error', reject);
          w.once('exit', (code) => (signal?.aborted ? reject(signal.reason) : code !== 0 && reject(new Error(`piece hasher exited with ${code}`))));
        });
      }),
    );
    return Buffer.concat(parts);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
