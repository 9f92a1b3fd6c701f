// The process's hashing threads: at most one per core, started by the first job and ended
// half a second after the last. Every bulk sha1 other than a download's running hash runs
// here: a stored file's sha1 for the hash table (hashtable/indexer.ts) and a torrent's
// piece hashes, with its files' sha1s when wanted (transfer/bt/piece-hasher.ts). One pool
// for both, so a node never has more hashing isolates than cores: each isolate that has
// hashed holds several MB (docs/performance.md, hashtable).
// Owns: the worker threads and their queue. Reads files; writes nothing.
import { Worker } from 'node:worker_threads';
import os from 'node:os';

export interface FileState {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** A file's sha1; `changed` when its stat moved between the start and the end of the read. */
export type FileHashResult = { ok: true; sha1: string; stat: FileState & { path: string } } | { ok: false; changed: boolean; reason: string };

/** The pieces [first, last) of a torrent whose data is `files` concatenated. */
export interface PieceRun {
  files: { abs: string; length: number }[];
  pieceLength: number;
  total: number;
  first: number;
  last: number;
  /** Also the sha1 of every file (the run must then cover all pieces: one sequential read). */
  fileSha1?: boolean;
}

export interface PieceRunResult {
  /** 20 bytes per piece of the run. */
  pieces: Buffer;
  fileSha1s?: string[];
}

/** What hashtable/indexer.ts needs of the pool (a test may hand it its own). */
export interface FileHasher {
  hashFile(path: string): Promise<FileHashResult>;
}

type Job = { kind: 'file'; path: string } | ({ kind: 'pieces' } & PieceRun);

interface Reply {
  id: number;
  progress?: number;
  error?: string;
  sha1?: string;
  before?: FileState;
  after?: FileState;
  pieces?: Uint8Array;
  fileSha1s?: string[];
  bytes?: number;
}

/**
 * The worker's code, run with `eval` so the same source works under tsx and in the build
 * (a .ts worker file is not loaded through tsx's hooks on Node 20). One 1 MiB read buffer
 * for every job: a piece is hashed as it is read, never held whole (larger buffers cost
 * memory per thread and hashed no faster). A file job reports its stat from before and after,
 * so a file that changed while being read is recognised (Syncthing's "file changed during
 * hashing").
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const READ = 1024 * 1024;
const PROGRESS_EVERY = 64 * 1024 * 1024;
const buf = Buffer.allocUnsafe(READ);
const statOf = (s) => ({ size: s.size, mtimeMs: s.mtimeMs, ino: s.ino });

function hashFile(id, path) {
  let fd;
  let bytes = 0;
  try {
    fd = fs.openSync(path, 'r');
    const before = statOf(fs.fstatSync(fd));
    const hash = createHash('sha1');
    for (;;) {
      const n = fs.readSync(fd, buf, 0, READ, null);
      if (n === 0) break;
      hash.update(n === READ ? buf : buf.subarray(0, n));
      bytes += n;
    }
    const after = statOf(fs.statSync(path));
    parentPort.postMessage({ id, sha1: hash.digest('hex'), before, after, bytes });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function hashPieces(id, { files, pieceLength, total, first, last, fileSha1 }) {
  let fi = 0;
  let fpos = first * pieceLength;
  while (fi < files.length && fpos >= files[fi].length) { fpos -= files[fi].length; fi++; }
  const fileHashes = fileSha1 ? files.map(() => createHash('sha1')) : undefined;
  const out = Buffer.alloc(20 * (last - first));
  let fd = -1;
  let fdIndex = -1;
  let sinceReport = 0;
  try {
    for (let p = first; p < last; p++) {
      const plen = Math.min(pieceLength, total - p * pieceLength);
      const piece = createHash('sha1');
      let at = 0;
      while (at < plen) {
        if (fpos === files[fi].length) { fi++; fpos = 0; continue; }
        if (fdIndex !== fi) {
          if (fd >= 0) fs.closeSync(fd);
          fd = fs.openSync(files[fi].abs, 'r');
          fdIndex = fi;
        }
        const n = fs.readSync(fd, buf, 0, Math.min(READ, plen - at, files[fi].length - fpos), fpos);
        if (n === 0) throw new Error(files[fi].abs + ' is shorter than when it was listed');
        const bytes = n === READ ? buf : buf.subarray(0, n);
        piece.update(bytes);
        if (fileHashes) fileHashes[fi].update(bytes);
        at += n;
        fpos += n;
      }
      piece.digest().copy(out, 20 * (p - first));
      sinceReport += plen;
      if (sinceReport >= PROGRESS_EVERY) { parentPort.postMessage({ id, progress: sinceReport }); sinceReport = 0; }
    }
    parentPort.postMessage({ id, progress: sinceReport, pieces: out, fileSha1s: fileHashes && fileHashes.map((h) => h.digest('hex')) });
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

parentPort.on('message', ({ id, job }) => {
  try {
    if (job.kind === 'file') hashFile(id, job.path);
    else hashPieces(id, job);
  } catch (err) {
    parentPort.postMessage({ id, error: err.message });
  }
});
`;

interface Pending {
  id: number;
  job: Job;
  resolve: (r: Reply) => void;
  reject: (err: unknown) => void;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  job?: Pending;
}

export class HashWorkers implements FileHasher {
  private slots: Slot[] = [];
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private idleTimer?: NodeJS.Timeout;

  /**
   * `idleMs`: workers end this long after the last job, so a node whose store is quiet does
   * not keep an isolate per core. Half a second is longer than the hash watcher's debounce
   * (300 ms), so passes that follow each other keep them, and short enough that a
   * publishing sender does not keep them through its OBS upload (docs/performance.md).
   */
  constructor(
    /** Most threads at once. */
    readonly size = Math.max(1, os.availableParallelism()),
    private readonly idleMs = 500,
  ) {}

  /** Live worker threads (tests and figures). */
  get threads(): number {
    return this.slots.length;
  }

  async hashFile(path: string): Promise<FileHashResult> {
    let reply: Reply;
    try {
      reply = await this.run({ kind: 'file', path });
    } catch (err) {
      return { ok: false, changed: false, reason: (err as Error).message };
    }
    const { before: b, after: a, sha1 } = reply;
    if (!sha1 || !b || !a) return { ok: false, changed: false, reason: 'no hash' };
    if (b.size !== a.size || b.mtimeMs !== a.mtimeMs || b.ino !== a.ino || reply.bytes !== a.size) {
      return { ok: false, changed: true, reason: 'file changed during hashing' };
    }
    return { ok: true, sha1, stat: { path, ...a } };
  }

  /** Hashes a run of pieces; rejects with the read's error, or the signal's reason on abort. */
  async hashPieces(run: PieceRun, onProgress?: (bytes: number) => void, signal?: AbortSignal): Promise<PieceRunResult> {
    const { files, pieceLength, total, first, last, fileSha1 } = run;
    const job: Job = { kind: 'pieces', files: files.map((f) => ({ abs: f.abs, length: f.length })), pieceLength, total, first, last, fileSha1 };
    const reply = await this.run(job, onProgress, signal);
    const p = reply.pieces!;
    return { pieces: Buffer.from(p.buffer, p.byteOffset, p.byteLength), fileSha1s: reply.fileSha1s };
  }

  /** Ends the workers; jobs not yet answered fail. The pool starts again on the next job. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const stopped = new Error('hashing stopped: the process is shutting down');
    for (const job of this.waiting.splice(0)) this.settle(job, () => job.reject(stopped));
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) if (s.job) this.settle(s.job, () => s.job!.reject(stopped));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private run(job: Job, onProgress?: (bytes: number) => void, signal?: AbortSignal): Promise<Reply> {
    signal?.throwIfAborted();
    clearTimeout(this.idleTimer);
    return new Promise<Reply>((resolve, reject) => {
      const pending: Pending = { id: this.nextId++, job, resolve, reject, onProgress, signal };
      if (signal) {
        pending.onAbort = () => this.abort(pending);
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.waiting.push(pending);
      this.dispatch();
    });
  }

  /** Hands waiting jobs to free workers, starting workers up to `size` as the queue needs. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.waiting.length === 0) return;
      if (!slot.job) this.start(slot, this.waiting.shift()!);
    }
    while (this.waiting.length > 0 && this.slots.length < this.size) this.start(this.spawn(), this.waiting.shift()!);
  }

  private start(slot: Slot, job: Pending): void {
    slot.job = job;
    slot.worker.postMessage({ id: job.id, job: job.job });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker };
    worker.on('message', (reply: Reply) => this.onReply(slot, reply));
    // A worker that dies (out of memory, terminated for an abort) fails its job only.
    worker.once('error', (err) => this.onExit(slot, err));
    worker.once('exit', (code) => this.onExit(slot, new Error(`a hashing thread exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: Reply): void {
    const job = slot.job;
    if (!job || job.id !== reply.id) return;
    if (reply.progress) job.onProgress?.(reply.progress);
    if (reply.progress !== undefined && !reply.pieces && !reply.error) return;
    slot.job = undefined;
    this.settle(job, () => (reply.error ? job.reject(new Error(reply.error)) : job.resolve(reply)));
    this.dispatch();
    this.armIdle();
  }

  private onExit(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    const job = slot.job;
    slot.job = undefined;
    if (job) this.settle(job, () => job.reject(job.signal?.aborted ? job.signal.reason : err));
    this.dispatch();
    this.armIdle();
  }

  /** A waiting job leaves the queue; a running one takes its worker with it (a sync loop cannot be interrupted). */
  private abort(job: Pending): void {
    const q = this.waiting.indexOf(job);
    if (q >= 0) {
      this.waiting.splice(q, 1);
      this.settle(job, () => job.reject(job.signal!.reason));
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    if (slot) void slot.worker.terminate();
  }

  private settle(job: Pending, done: () => void): void {
    if (job.onAbort) job.signal!.removeEventListener('abort', job.onAbort);
    done();
  }

  private armIdle(): void {
    if (this.waiting.length > 0 || this.slots.some((s) => s.job)) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }
}

/** The process's pool: the hash watcher, the hashtable commands and make-torrent share it. */
export const hashWorkers = new HashWorkers();
