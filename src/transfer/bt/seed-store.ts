// The chunk store a seed serves from (bt-seed.ts): webtorrent's fs-chunk-store, except for
// the blocks peers ask for. aria2c keeps hundreds of requests in flight to a seed (up to
// 770 across the three peers of bench-receive's seed run), and fs-chunk-store gives each
// request a fresh buffer as it arrives. The buffer then waits its turn in the read queue
// long enough to be moved to V8's old generation, where dead blocks piled up to 60-80 MB
// before a major collection: a sender seeding 3 DCPs peaked at 178-197 MB (issue 10).
// Here a block is read into a pooled buffer, at most READS_AT_ONCE reads at a time for the
// whole process (the rest wait as file, offset and length), and copied out when its read
// is done. The copy lives only from there to the socket's write, and dies young.
// Owns: reading seeds' blocks. Must not write or delete a seed's data: it opens nothing for
// writing, and destroying the store only closes it.
import { read } from 'node:fs';
import FSChunkStore from 'fs-chunk-store';
import { BufferPool } from './buffer-pool.ts';

/** Block reads under way at once, process-wide: libuv has 4 threads to read with. */
export const READS_AT_ONCE = 64;

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

/** Block reads for every seed of the process: at most `max` at once, each into a pooled buffer. */
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
    const buf = this.pool.take(job.length);
    readFully(job.fd, buf, job.length, job.position, (err) => {
      let out: Buffer | undefined;
      if (!err) {
        out = Buffer.allocUnsafe(job.length);
        buf.copy(out, 0, 0, job.length);
      }
      this.pool.give(buf);
      this.running--;
      const next = this.waiting.shift();
      if (next) this.start(next);
      job.done(err, out);
    });
  }
}

export const blockReader = new BlockReader(new BufferPool(READS_AT_ONCE), READS_AT_ONCE);

/** fs-chunk-store's internals this reads (fs-chunk-store 5.x). */
interface StoreTarget {
  from: number;
  to: number;
  offset: number;
  file: { open(cb: (err: Error | null, raf: RandomAccessFile) => void): void };
}
interface RandomAccessFile {
  fd: number;
  open(cb: (err: Error | null) => void): void;
}
interface StoreInternals {
  chunkMap: StoreTarget[][];
  closed: boolean;
}

export class SeedChunkStore extends FSChunkStore {
  /** Reads of this store under way or waiting; close waits for them (their descriptor must stay open). */
  private reading = 0;
  private closing = false;
  private readonly onDrained: (() => void)[] = [];

  override get(index: number, opts: unknown, cb: Done): void {
    const range = opts as { offset?: number; length?: number } | null;
    const target = typeof opts === 'function' || !range?.length ? undefined : this.oneTarget(index, range.offset ?? 0, range.length);
    if (!target || !range?.length) return super.get(index, opts, cb);
    if (this.closing) return queueMicrotask(() => cb(new Error('Storage is closed')));
    const length = range.length;
    const position = target.offset + (range.offset ?? 0) - target.from;
    this.reading++;
    const done: Done = (err, buf) => {
      if (--this.reading === 0) for (const then of this.onDrained.splice(0)) then();
      cb(err, buf);
    };
    target.file.open((err, raf) => {
      if (err) return done(err);
      raf.open((err2) => (err2 ? done(err2) : blockReader.read({ fd: raf.fd, position, length, done })));
    });
  }

  /** The one file span holding [from, from + length) of the piece, if one does. */
  private oneTarget(index: number, from: number, length: number): StoreTarget | undefined {
    const targets = (this as unknown as StoreInternals).chunkMap[index];
    if (!targets || (this as unknown as StoreInternals).closed) return undefined;
    return targets.find((t) => t.from <= from && from + length <= t.to);
  }

  override close(cb?: (err?: Error | null) => void): void {
    this.closing = true;
    if (this.reading === 0) return super.close(cb);
    this.onDrained.push(() => super.close(cb));
  }

  /** A seed's data is the DCP (or a share of it): destroying the store closes it and deletes nothing. */
  override destroy(cb?: (err?: Error | null) => void): void {
    this.close(cb);
  }
}
