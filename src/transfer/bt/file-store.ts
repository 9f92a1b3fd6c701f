// The chunk store webtorrent reads and writes a torrent's pieces through (the
// abstract-chunk-store interface: put, get, close, destroy), for every torrent bft2 adds:
// a receiver's download (pieces go straight into the task's part files), a seed (the DCP,
// read only), a cacher's share (webtorrent's own layout).
// Why not fs-chunk-store, webtorrent's default: it builds a list of file spans for every
// piece when the store is made (hundreds of bytes a piece, issue 20), and gives every block
// a peer asks for a fresh buffer that waits in its read queue long enough to reach V8's old
// generation (a seeding sender's peak grew with it, issue 10; docs/performance.md). Here a piece's spans are found when it is read or written (a
// binary search over the files), and blocks are read into pooled buffers, at most
// READS_AT_ONCE at a time for the whole process, then copied out: the copy lives only from
// there to the socket's write, and dies young.
// Owns the open files of its torrent. Must never delete data: destroy only closes, and a
// read-only store (a seed) opens nothing for writing.
import { constants, read } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { BufferPool, pieceBuffers } from './buffer-pool.ts';
import { pieceWrites } from './write-backlog.ts';

/** Block reads under way at once, process-wide: libuv has 4 threads to read with. */
export const READS_AT_ONCE = 64;

/** Reads up to this long (blocks peers ask for) go through pooled buffers; longer ones get their own. */
const POOLED_UP_TO = 256 * 1024;

type Done = (err: Error | null, buf?: Uint8Array) => void;

interface BlockRead {
  fd: number;
  position: number;
  length: number;
  done: Done;
}

/** Reads `length` bytes at `position` into `buf`, over as many reads as it takes. */
function readFully(fd: number, buf: Buffer, length: number, position: number, done: (err: Error | null) => void): void {
  let got = 0;
  const next = () =>
    read(fd, buf, got, length - got, position + got, (err, n) => {
      if (err) return done(err);
      if (n === 0) return done(new Error(`the file ends before byte ${position + length} (it is shorter than the torrent says)`));
      got += n;
      if (got < length) next();
      else done(null);
    });
  next();
}

/** Block reads for every store of the process: at most `max` at once, each into a pooled buffer. */
export class BlockReader {
  private running = 0;
  private readonly waiting: BlockRead[] = [];
  /** Most reads waiting at once since start (figures). */
  mostWaiting = 0;

  constructor(
    readonly pool: BufferPool,
    private readonly max: number,
  ) {}

  read(job: BlockRead): void {
    if (this.running < this.max) return this.start(job);
    this.waiting.push(job);
    if (this.waiting.length > this.mostWaiting) this.mostWaiting = this.waiting.length;
  }

  private start(job: BlockRead): void {
    this.running++;
    if (job.length > POOLED_UP_TO) {
      // A whole piece (a start-up check, a cacher's piece cache): read into its own buffer,
      // which is the caller's, rather than keep free piece-sized buffers in the pool.
      const own = Buffer.allocUnsafe(job.length);
      return readFully(job.fd, own, job.length, job.position, (err) => {
        this.finished();
        job.done(err, err ? undefined : own);
      });
    }
    const buf = this.pool.take(job.length);
    readFully(job.fd, buf, job.length, job.position, (err) => {
      let out: Buffer | undefined;
      if (!err) {
        out = Buffer.allocUnsafe(job.length);
        buf.copy(out, 0, 0, job.length);
      }
      this.pool.give(buf);
      this.finished();
      job.done(err, out);
    });
  }

  private finished(): void {
    this.running--;
    const next = this.waiting.shift();
    if (next) this.start(next);
  }
}

export const blockReader = new BlockReader(new BufferPool(READS_AT_ONCE), READS_AT_ONCE);

/** A torrent file as webtorrent hands it to a store: `path` is `<torrent name>/<path in the torrent>` (platform separators). */
export interface StoreFileSpec {
  path: string;
  length: number;
  offset: number;
}

export interface FileStoreOptions {
  /** Where a torrent file lives: `rel` is its `/`-separated path in the torrent (without the name), `dir` the add's `path`. */
  pathOf(rel: string, dir: string, torrentName: string): string;
  /** False for a seed: nothing is opened for writing, and a put fails. */
  writable: boolean;
}

interface StoreFile {
  abs: string;
  length: number;
  offset: number;
  handle?: Promise<FileHandle>;
}

/** One span of a piece in one file. */
interface Span {
  file: StoreFile;
  /** Byte of the file. */
  position: number;
  /** Byte of the piece range asked for. */
  at: number;
  length: number;
}

type Callback = (err?: Error | null) => void;

/** A chunk-store class for webtorrent's `store` option with the given layout. */
export function fileStore(o: FileStoreOptions) {
  return class FileChunkStore {
    readonly chunkLength: number;
    private readonly files: StoreFile[];
    private readonly length: number;
    private closed = false;
    /** Reads and writes under way; close waits for them (their descriptors must stay open). */
    private busy = 0;
    private readonly onIdle: (() => void)[] = [];

    constructor(chunkLength: number, opts: { files: StoreFileSpec[]; path?: string; length?: number }) {
      this.chunkLength = Number(chunkLength);
      if (!(this.chunkLength > 0)) throw new Error('a chunk store needs a chunk length');
      const dir = opts.path ?? '';
      this.files = opts.files
        .filter((f) => f.length > 0)
        .map((f) => {
          const segs = f.path.split(path.sep);
          return { abs: o.pathOf(segs.slice(1).join('/'), dir, segs[0]), length: f.length, offset: f.offset };
        });
      this.length = opts.files.reduce((s, f) => s + f.length, 0);
    }

    /** Bytes of piece `index`. */
    private pieceSize(index: number): number {
      return Math.min(this.chunkLength, this.length - index * this.chunkLength);
    }

    /** The file spans of bytes [from, from + length) of piece `index` (a binary search for the first file). */
    private spans(index: number, from: number, length: number): Span[] {
      const start = index * this.chunkLength + from;
      const end = start + length;
      let lo = 0;
      let hi = this.files.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.files[mid].offset + this.files[mid].length <= start) lo = mid + 1;
        else hi = mid;
      }
      const out: Span[] = [];
      for (let i = lo; i < this.files.length && this.files[i].offset < end; i++) {
        const f = this.files[i];
        const s = Math.max(start, f.offset);
        const e = Math.min(end, f.offset + f.length);
        out.push({ file: f, position: s - f.offset, at: s - start, length: e - s });
      }
      return out;
    }

    private handle(f: StoreFile): Promise<FileHandle> {
      f.handle ??= (async () => {
        if (!o.writable) return open(f.abs, constants.O_RDONLY);
        await mkdir(path.dirname(f.abs), { recursive: true });
        return open(f.abs, constants.O_RDWR | constants.O_CREAT, 0o644);
      })();
      // A failed open is tried again at the next use (a directory made meanwhile, space freed).
      f.handle.catch(() => (f.handle = undefined));
      return f.handle;
    }

    private begin(): void {
      this.busy++;
    }

    private end(): void {
      if (--this.busy === 0) for (const then of this.onIdle.splice(0)) then();
    }

    put(index: number, buf: Uint8Array, cb: Callback = () => {}): void {
      const size = index >= 0 && index * this.chunkLength < this.length ? this.pieceSize(index) : -1;
      if (this.closed) return queueMicrotask(() => cb(new Error('Storage is closed')));
      if (!o.writable) return queueMicrotask(() => cb(new Error('a seed does not write pieces')));
      if (size < 0) return queueMicrotask(() => cb(new Error(`there is no piece ${index}`)));
      if (buf.length !== size) return queueMicrotask(() => cb(new Error(`piece ${index} must be ${size} bytes, not ${buf.length}`)));
      this.begin();
      // Counted until written: while too many bytes wait, BitTorrent requests nothing (write-backlog.ts).
      pieceWrites.begin(size);
      const writes = this.spans(index, 0, size).map(async (s) => {
        const fh = await this.handle(s.file);
        let done = 0;
        while (done < s.length) done += (await fh.write(buf, s.at + done, s.length - done, s.position + done)).bytesWritten;
      });
      void Promise.allSettled(writes).then((results) => {
        this.end();
        pieceWrites.end(size);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        // The piece's buffer goes back to the pool once written (piece-buffer.ts took it).
        if (!failed) pieceBuffers.give(buf);
        process.nextTick(cb, failed ? (failed.reason as Error) : null);
      });
    }

    get(index: number, opts: unknown, cb?: Done): void {
      if (typeof opts === 'function') return this.get(index, null, opts as Done);
      const done: Done = cb ?? (() => {});
      const range = (opts ?? {}) as { offset?: number; length?: number };
      const size = index >= 0 && index * this.chunkLength < this.length ? this.pieceSize(index) : -1;
      const from = range.offset ?? 0;
      const length = range.length ?? size - from;
      if (this.closed) return queueMicrotask(() => done(new Error('Storage is closed')));
      if (size < 0 || from < 0 || length < 0 || from + length > size) return queueMicrotask(() => done(new Error(`no bytes ${from}+${length} in piece ${index}`)));
      const spans = this.spans(index, from, length);
      this.begin();
      const finish: Done = (err, buf) => {
        this.end();
        done(err, buf);
      };
      if (spans.length === 1) return this.readSpan(spans[0], finish);
      const out = Buffer.allocUnsafe(length);
      let left = spans.length;
      let failed: Error | null = null;
      for (const s of spans) {
        this.readSpan(s, (err, part) => {
          if (err) failed ??= err;
          else out.set(part!, s.at);
          if (--left === 0) finish(failed, failed ? undefined : out);
        });
      }
    }

    private readSpan(s: Span, done: Done): void {
      this.handle(s.file).then(
        (fh) => blockReader.read({ fd: fh.fd, position: s.position, length: s.length, done }),
        (err: Error) => done(err),
      );
    }

    close(cb: Callback = () => {}): void {
      this.closed = true;
      const closeAll = () => {
        const handles = this.files.map((f) => f.handle).filter((h): h is Promise<FileHandle> => h !== undefined);
        for (const f of this.files) f.handle = undefined;
        void Promise.allSettled(handles.map((h) => h.then((fh) => fh.close()))).then(() => process.nextTick(cb, null));
      };
      if (this.busy === 0) closeAll();
      else this.onIdle.push(closeAll);
    }

    /** The data is the task's or the DCP's: destroying the store closes it and deletes nothing. */
    destroy(cb: Callback = () => {}): void {
      this.close(cb);
    }
  };
}

/** A seed's store: the torrent's files under the add's `path`, as named in the torrent, read only. */
export const SeedStore = fileStore({ writable: false, pathOf: (rel, dir, name) => path.join(dir, name, ...rel.split('/')) });
