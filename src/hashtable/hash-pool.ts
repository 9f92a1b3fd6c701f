// A pool of worker threads, one per core, that hash files. Owns the workers; knows
// nothing of the table. A file whose stat changed between the start and the end of its
// hashing yields `changed`, never a hash.
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import type { FileStat } from './store-walk.ts';

export type HashResult = { ok: true; sha1: string; stat: FileStat } | { ok: false; changed: boolean; reason: string };

interface FileState {
  size: number;
  mtimeMs: number;
  ino: number;
}
interface HashReply {
  id: number;
  sha1?: string;
  error?: string;
  before?: FileState;
  after?: FileState;
  bytes: number;
}

/**
 * The worker's code, run with `eval` so the same source works under tsx and in the build
 * (a .ts worker file is not loaded through tsx's hooks on Node 20). It hashes with large
 * sequential reads and reports the stat from before and after, so a file that changed
 * while being read is recognised (Syncthing's "file changed during hashing").
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const CHUNK = 4 * 1024 * 1024;
const buffer = Buffer.allocUnsafe(CHUNK);
const statOf = (s) => ({ size: s.size, mtimeMs: s.mtimeMs, ino: s.ino });
parentPort.on('message', ({ id, path }) => {
  let fd;
  let bytes = 0;
  try {
    fd = fs.openSync(path, 'r');
    const before = statOf(fs.fstatSync(fd));
    const hash = createHash('sha1');
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(n === CHUNK ? buffer : buffer.subarray(0, n));
      bytes += n;
    }
    const after = statOf(fs.statSync(path));
    parentPort.postMessage({ id, sha1: hash.digest('hex'), before, after, bytes });
  } catch (err) {
    parentPort.postMessage({ id, error: err.message, bytes });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

type Slot = { worker: Worker; busy: boolean };

export class HashPool {
  private workers: Slot[] = [];
  private readonly waiting: { path: string; resolve: (r: HashResult) => void }[] = [];
  private readonly pending = new Map<number, { path: string; resolve: (r: HashResult) => void; slot: Slot }>();
  private nextId = 1;
  private idleTimer?: NodeJS.Timeout;
  /** Counters for logs, tests and benchmarks. */
  readonly stats = { files: 0, bytes: 0 };

  /**
   * Workers start with the first file to hash and end after `idleMs` without work: a
   * daemon whose store is quiet does not keep one V8 isolate per core (12-20 MB each once
   * they have hashed). Half a second, longer than the hash watcher's debounce (300 ms), so
   * passes that follow each other keep them; starting them again costs about 40 ms. At 5 s,
   * a sender that publishes a DCP still had them while it uploaded to OBS and made the
   * torrent: 157-178 MB over bench-receive against 145 (issue 10).
   */
  constructor(
    private readonly size = Math.max(1, os.availableParallelism()),
    private readonly idleMs = 500,
  ) {}

  hash(path: string): Promise<HashResult> {
    clearTimeout(this.idleTimer);
    if (this.workers.length === 0) this.spawn();
    return new Promise((resolve) => {
      this.waiting.push({ path, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private spawn(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      const slot: Slot = { worker, busy: false };
      worker.on('message', (reply: HashReply) => this.onReply(slot, reply));
      this.workers.push(slot);
    }
  }

  private dispatch(): void {
    for (const slot of this.workers) {
      if (slot.busy || this.waiting.length === 0) continue;
      const job = this.waiting.shift()!;
      const id = this.nextId++;
      slot.busy = true;
      this.pending.set(id, { ...job, slot });
      slot.worker.postMessage({ id, path: job.path });
    }
  }

  private onReply(slot: Slot, reply: HashReply): void {
    const job = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    slot.busy = false;
    this.dispatch();
    if (this.pending.size === 0 && this.waiting.length === 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
      this.idleTimer.unref();
    }
    if (!job) return;
    this.stats.bytes += reply.bytes;
    if (reply.error || !reply.sha1 || !reply.before || !reply.after) {
      job.resolve({ ok: false, changed: false, reason: reply.error ?? 'no hash' });
      return;
    }
    const b = reply.before;
    const a = reply.after;
    if (b.size !== a.size || b.mtimeMs !== a.mtimeMs || b.ino !== a.ino || reply.bytes !== a.size) {
      job.resolve({ ok: false, changed: true, reason: 'file changed during hashing' });
      return;
    }
    this.stats.files += 1;
    job.resolve({ ok: true, sha1: reply.sha1, stat: { path: job.path, ...a } });
  }
}
