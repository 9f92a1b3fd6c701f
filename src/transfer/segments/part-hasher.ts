// The running sha1 of every part file being downloaded, kept in one worker thread per
// process, so the event loop that parses HTTP and writes never hashes gigabytes (on the
// loop it made a download far slower than curl + sync: docs/performance.md). The worker reads the
// bytes back from the part with pread, right after they were written, while they are in
// the page cache; it is handed no buffer, so nothing downloaded is copied between threads
// and BitTorrent's pieces (written by webtorrent's store) are hashed the same way.
// A state is one file's hash so far: `update` moves it over [from, to) of a path (in
// order, from where it stands), `digest` ends it. A worker that dies takes every state
// with it: the next call on one of them fails with HasherRestarted and the caller starts
// that file's hash again from byte 0 (its bytes stay on disk).
// Owns: the worker. Reads part files, never writes them.
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, run with `eval` so the same source works under tsx and in the build
 * (as hashing/hash-workers.ts). One reusable read buffer: the worker allocates nothing per
 * byte range. The fd of a state stays open between updates (a part is read many times).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const READ = 1024 * 1024;
const buf = Buffer.allocUnsafe(READ);
const states = new Map();
const close = (s) => { if (s.fd !== undefined) { try { fs.closeSync(s.fd); } catch {} s.fd = undefined; } };
parentPort.on('message', (m) => {
  let s = states.get(m.key);
  try {
    if (m.op === 'drop') {
      if (s) close(s);
      states.delete(m.key);
      return parentPort.postMessage({ id: m.id });
    }
    if (!s) states.set(m.key, (s = { hash: createHash('sha1'), at: 0, fd: undefined, path: '' }));
    if (m.op === 'update') {
      if (m.from !== s.at) throw new Error('hash of ' + m.path + ' stands at ' + s.at + ', asked to go on from ' + m.from);
      if (s.path !== m.path) { close(s); s.path = m.path; }
      if (s.fd === undefined) s.fd = fs.openSync(m.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      while (s.at < m.to) {
        const n = fs.readSync(s.fd, buf, 0, Math.min(READ, m.to - s.at), s.at);
        if (n === 0) throw new Error(m.path + ': the part ends at ' + s.at + ', ' + m.to + ' bytes were recorded');
        s.hash.update(n === READ ? buf : buf.subarray(0, n));
        s.at += n;
      }
      return parentPort.postMessage({ id: m.id, at: s.at });
    }
    if (m.op === 'digest') {
      const hex = s.hash.digest('hex');
      close(s);
      states.delete(m.key);
      return parentPort.postMessage({ id: m.id, hex });
    }
    throw new Error('unknown op ' + m.op);
  } catch (err) {
    // A failed read leaves the hash where it stood: the state is dropped, the caller starts over.
    if (s) close(s);
    states.delete(m.key);
    parentPort.postMessage({ id: m.id, error: err.message });
  }
});
`;

/** The worker ended (crashed, or was stopped) with this state in it: hash the file again from 0. */
export class HasherRestarted extends Error {
  constructor() {
    super('the hashing worker restarted; the file is hashed again from its start');
  }
}

interface Reply {
  id: number;
  at?: number;
  hex?: string;
  error?: string;
}

interface Pending {
  resolve(r: Reply): void;
  reject(err: unknown): void;
}

export class PartHasher {
  private worker?: Worker;
  /** Bumped when a worker goes: states of an older generation are gone with it. */
  private generation = 0;
  private nextKey = 1;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Set<string>();
  private idleTimer?: NodeJS.Timeout;
  /** Bytes hashed, for tests and benchmarks. */
  readonly stats = { bytes: 0 };

  constructor(private readonly idleMs = 5_000) {}

  /** A new, empty hash state. */
  create(): string {
    return `${this.generation}:${this.nextKey++}`;
  }

  /** Hashes [from, to) of `path` into the state; `from` must be where it stands. */
  async update(key: string, path: string, from: number, to: number): Promise<void> {
    if (to <= from) return;
    let r: Reply;
    try {
      r = await this.call(key, { op: 'update', key, path, from, to });
    } catch (err) {
      // The worker dropped the state with the failed read.
      this.live.delete(key);
      this.maybeIdle();
      throw err;
    }
    this.stats.bytes += to - from;
    if (r.at !== to) throw new Error(`hash of ${path} at ${r.at}, expected ${to}`);
  }

  /** The sha1 (hex) of everything hashed; the state ends. */
  async digest(key: string): Promise<string> {
    try {
      return (await this.call(key, { op: 'digest', key })).hex!;
    } finally {
      this.live.delete(key);
      this.maybeIdle();
    }
  }

  /** Ends a state without a digest (a file reset or a download closed). */
  drop(key: string): void {
    if (!this.live.delete(key) || !this.worker || !this.current(key)) return this.maybeIdle();
    void this.call(key, { op: 'drop', key }, false).catch(() => undefined);
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    this.retire();
    await w?.terminate();
  }

  private current(key: string): boolean {
    return key.startsWith(`${this.generation}:`);
  }

  private call(key: string, msg: Record<string, unknown>, track = true): Promise<Reply> {
    if (!this.current(key)) return Promise.reject(new HasherRestarted());
    if (track) this.live.add(key);
    clearTimeout(this.idleTimer);
    const w = this.ensureWorker();
    const id = this.nextId++;
    // While a reply is awaited the worker keeps the process alive; idle, it does not.
    if (this.pending.size === 0) w.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...msg, id });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', (r: Reply) => this.onReply(r));
    const gone = (err: unknown) => {
      if (this.worker !== w) return;
      this.retire(err instanceof Error ? err : new HasherRestarted());
    };
    w.on('error', gone);
    w.on('exit', () => gone(new HasherRestarted()));
    this.worker = w;
    return w;
  }

  /** The worker goes (idle, closed or crashed): its states and pending calls go with it. */
  private retire(err: Error = new HasherRestarted()): void {
    this.worker = undefined;
    this.generation += 1;
    this.live.clear();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err instanceof HasherRestarted ? err : new HasherRestarted());
  }

  private onReply(r: Reply): void {
    const p = this.pending.get(r.id);
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker?.unref();
    this.maybeIdle();
    if (!p) return;
    if (r.error !== undefined) p.reject(new Error(r.error));
    else p.resolve(r);
  }

  /** No state left: the worker (about 10 MB of RSS) ends after idleMs. */
  private maybeIdle(): void {
    if (this.live.size > 0 || this.pending.size > 0 || !this.worker) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }
}

let shared: PartHasher | undefined;

/** The process's one hasher (every download of the daemon shares its worker). */
export function partHasher(): PartHasher {
  shared ??= new PartHasher();
  return shared;
}
