// Which method fetches which bytes of a task, pure and in memory (SPEC §8, rebalancing).
// Every file starts owned whole by the method its task list names; a method asks for its
// next range (at most one chunk, from the front of what it owns and nobody fetches yet,
// beginning at its start file: see `startFile`);
// bytes written are marked done as they land. Rebalancing moves ownership:
// - `failed`: a method that failed for good hands every byte it still owns to methods
//   that can reach that file (CDN reaches every file, BT the files of its torrents, OBS
//   only its own share);
// - `idle`: a method with nothing left of its own takes the tail of the largest gap
//   another method still has to fetch, a chunk at a time, so the two meet in the middle
//   of a large file instead of one waiting for the other. Near the end ranges shrink (to
//   1/8 of the bytes nobody fetches yet, at least `minChunk`): a range being fetched cannot
//   be taken over, so the last ones decide how long the others stand idle at the end.
// Whatever moves, every file is still checked against its sha1 once complete.
// Owns no I/O; the lanes (task-download.ts) do the fetching and call back here.
import { RangeSet } from './range-set.ts';
import type { Method } from '../../task/schema.ts';

export interface PlanFile {
  file: string;
  size: number;
  /** The method the task's lists give the file to (lists2). */
  owner: Method;
}

export type RebalanceMode = 'off' | 'failed' | 'idle';

export interface Assignment {
  id: number;
  file: string;
  start: number;
  end: number;
  method: Method;
  /** Set when the range was taken over from another method. */
  from?: Method;
}

export interface Moved {
  from: Method;
  to: Method;
  bytes: number;
}

interface FileState {
  size: number;
  done: RangeSet;
  inflight: RangeSet;
  owned: Record<Method, RangeSet>;
}

const ALL: Method[] = ['bt', 'obs', 'cdn'];

/** Under `idle`, a range is at most this fraction of the bytes nobody fetches yet (see above). */
const TAIL_SHARES = 8;
/** The smallest range the tail shrinks to: a BitTorrent piece (create-torrent's largest automatic one), so BitTorrent fetches no piece twice over. */
const MIN_CHUNK = 4 * 1024 * 1024;

export class WorkPlan {
  private readonly files = new Map<string, FileState>();
  private readonly order: string[];
  private readonly active = new Map<number, Assignment>();
  private readonly failed = new Set<Method>();
  private nextId = 1;
  /** Bytes whose ownership moved, per direction ("cdn<-bt"). */
  readonly moved = new Map<string, Moved>();

  constructor(
    files: PlanFile[],
    private readonly opts: {
      chunk: number;
      /** A range size of its own for a method (default `chunk`): OBS answers each ranged GET
       * as a signed request, billed per request, so it is asked for fewer, larger ranges. */
      chunkOf?: Partial<Record<Method, number>>;
      /** The smallest range near the end under `idle` (default 4 MiB, or `chunk` when smaller). */
      minChunk?: number;
      /**
       * Per method, the file (an index into the plan's files) from which it looks for its own
       * next range, going on in order and wrapping around; default 0, the front. Each file is
       * still fetched front to back, so its hash still follows the bytes as they land.
       */
      startFile?: Partial<Record<Method, number>>;
      /** Whether a method can fetch a file at all. */
      reach: (m: Method, file: string) => boolean;
      rebalance: RebalanceMode;
      /** Done ranges known from disk (a resumed download). */
      done?: Map<string, RangeSet>;
      /**
       * Whether `victim` is working at full capacity, so its untouched bytes would wait:
       * only then does an idle method take some (default: always).
       */
      canStealFrom?: (victim: Method) => boolean;
    },
  ) {
    this.order = files.map((f) => f.file);
    for (const f of files) {
      const owned = { bt: new RangeSet(), obs: new RangeSet(), cdn: new RangeSet() } as Record<Method, RangeSet>;
      owned[f.owner].add(0, f.size);
      this.files.set(f.file, { size: f.size, done: new RangeSet(opts.done?.get(f.file) ?? []), inflight: new RangeSet(), owned });
    }
  }

  /** The next range for `m`: its own first, else (rebalance idle) a chunk taken from the slowest. */
  next(m: Method, opts: { steal?: boolean } = {}): Assignment | undefined {
    if (this.failed.has(m)) return undefined;
    const own = this.firstPending(m);
    if (own) return this.assign(m, own.file, own.start, own.end);
    if (this.opts.rebalance !== 'idle' || opts.steal === false) return undefined;
    return this.steal(m);
  }

  /** Bytes of [start, end) of `file` on disk. */
  doneIn(file: string, start: number, end: number): number {
    return this.files.get(file)?.done.size(start, end) ?? 0;
  }

  /** Bytes [start, end) of `file` are on disk. */
  markDone(file: string, start: number, end: number): void {
    const f = this.files.get(file);
    if (f) f.done.add(Math.max(0, start), Math.min(f.size, end));
  }

  /**
   * A taken-over range its new owner could not fetch (no peers, say): what is not on disk
   * goes back to the method it was taken from.
   */
  giveBack(a: Assignment): void {
    if (!a.from || this.failed.has(a.from)) return;
    const f = this.files.get(a.file);
    if (!f) return;
    for (const [s, e] of f.done.gaps(a.start, a.end)) {
      if (f.owned[a.method].covers(s, e)) this.transfer(a.file, s, e, a.method, a.from);
    }
  }

  /** A file failed its sha1: its bytes are fetched again (by whoever owns them). */
  resetFile(file: string): void {
    const f = this.files.get(file);
    if (f) f.done.remove(0, f.size);
  }

  /** The assignment is over (finished, paused or failed); what it did not write is pending again. */
  release(id: number): void {
    const a = this.active.get(id);
    if (!a) return;
    this.active.delete(id);
    this.files.get(a.file)!.inflight.remove(a.start, a.end);
  }

  /**
   * `m` failed for good. With rebalancing, what it still owns goes to the methods that can
   * reach it (the one with least pending work first); returns the files nobody can reach
   * (the task cannot finish without them). Without rebalancing, returns every file `m` owns.
   */
  fail(m: Method): string[] {
    this.failed.add(m);
    const stranded: string[] = [];
    for (const name of this.order) {
      const f = this.files.get(name)!;
      for (const [s, e] of [...f.owned[m]]) {
        for (const [gs, ge] of f.done.gaps(s, e)) {
          const heirs = this.opts.rebalance === 'off' ? [] : ALL.filter((h) => h !== m && !this.failed.has(h) && this.opts.reach(h, name));
          if (heirs.length === 0) {
            if (!stranded.includes(name)) stranded.push(name);
            continue;
          }
          heirs.sort((a, b) => this.pendingBytes(a) - this.pendingBytes(b));
          this.transfer(name, gs, ge, m, heirs[0]);
        }
      }
    }
    return stranded;
  }

  isFailed(m: Method): boolean {
    return this.failed.has(m);
  }

  /** Bytes `m` owns that are neither done nor being fetched. */
  pendingBytes(m: Method): number {
    let n = 0;
    for (const f of this.files.values()) for (const [s, e] of f.owned[m]) for (const [gs, ge] of f.done.gaps(s, e)) n += ge - gs - f.inflight.size(gs, ge);
    return n;
  }

  /** Bytes `m` owns that are not done (pending or being fetched). */
  remainingBytes(m: Method): number {
    let n = 0;
    for (const f of this.files.values()) for (const [s, e] of f.owned[m]) n += e - s - f.done.size(s, e);
    return n;
  }

  /** Whether `m` has anything left: owned bytes not done. */
  hasWork(m: Method): boolean {
    return this.remainingBytes(m) > 0;
  }

  doneBytes(file?: string): number {
    if (file !== undefined) return this.files.get(file)?.done.size() ?? 0;
    let n = 0;
    for (const f of this.files.values()) n += f.done.size();
    return n;
  }

  isFileDone(file: string): boolean {
    const f = this.files.get(file);
    return f !== undefined && f.done.covers(0, f.size);
  }

  allDone(): boolean {
    for (const name of this.order) if (!this.isFileDone(name)) return false;
    return true;
  }

  /** The end of the done run from `from` in `file` (for in-order hashing). */
  contiguousDone(file: string, from: number): number {
    return this.files.get(file)?.done.contiguousEnd(from) ?? from;
  }

  doneRanges(file: string): [number, number][] {
    return this.files.get(file)?.done.toJSON() ?? [];
  }

  /** Methods that own some bytes of this file right now. */
  ownersOf(file: string): Method[] {
    const f = this.files.get(file);
    return f ? ALL.filter((m) => !f.owned[m].isEmpty()) : [];
  }

  private firstPending(m: Method): { file: string; start: number; end: number } | undefined {
    const from = Math.max(0, Math.min(this.order.length - 1, this.opts.startFile?.[m] ?? 0));
    for (let i = 0; i < this.order.length; i++) {
      const name = this.order[(from + i) % this.order.length];
      const f = this.files.get(name)!;
      for (const [s, e] of f.owned[m]) {
        for (const [gs, ge] of f.done.gaps(s, e)) {
          const free = f.inflight.gaps(gs, ge)[0];
          if (free) return { file: name, start: free[0], end: Math.min(free[1], free[0] + this.chunkNow(m)) };
        }
      }
    }
    return undefined;
  }

  /** The tail chunk of the largest free gap another method owns, in a file `m` can reach. */
  private steal(m: Method): Assignment | undefined {
    let best: { file: string; start: number; end: number; victim: Method } | undefined;
    for (const victim of ALL) {
      if (victim === m || (!this.failed.has(victim) && this.opts.canStealFrom && !this.opts.canStealFrom(victim))) continue;
      for (const name of this.order) {
        if (!this.opts.reach(m, name)) continue;
        const f = this.files.get(name)!;
        for (const [s, e] of f.owned[victim]) {
          for (const [gs, ge] of f.done.gaps(s, e)) {
            for (const [fs, fe] of f.inflight.gaps(gs, ge)) {
              if (!best || fe - fs > best.end - best.start) best = { file: name, start: fs, end: fe, victim };
            }
          }
        }
      }
    }
    // Crumbs are left to their owner: moving them costs more than it saves.
    if (!best || best.end - best.start < Math.min(this.opts.chunk, 1024 * 1024)) return undefined;
    // A failed method's bytes are already handed over by fail(); an owner still working
    // keeps the front of the gap, the thief takes one chunk from its end.
    const start = Math.max(best.start, best.end - this.chunkNow(m));
    this.transfer(best.file, start, best.end, best.victim, m);
    return this.assign(m, best.file, start, best.end, best.victim);
  }

  /** The size of `m`'s next range: its chunk, or under `idle` less near the end (TAIL_SHARES). */
  private chunkNow(m: Method): number {
    const chunk = this.opts.chunkOf?.[m] ?? this.opts.chunk;
    if (this.opts.rebalance !== 'idle') return chunk;
    const min = Math.min(chunk, this.opts.minChunk ?? MIN_CHUNK);
    let pending = 0;
    for (const m of ALL) pending += this.pendingBytes(m);
    return Math.max(min, Math.min(chunk, Math.floor(pending / TAIL_SHARES)));
  }

  private transfer(file: string, start: number, end: number, from: Method, to: Method): void {
    const f = this.files.get(file)!;
    f.owned[from].remove(start, end);
    f.owned[to].add(start, end);
    const key = `${to}<-${from}`;
    const m = this.moved.get(key) ?? { from, to, bytes: 0 };
    m.bytes += end - start - f.done.size(start, end);
    this.moved.set(key, m);
  }

  private assign(m: Method, file: string, start: number, end: number, from?: Method): Assignment {
    const a: Assignment = { id: this.nextId++, file, start, end, method: m, ...(from ? { from } : {}) };
    this.files.get(file)!.inflight.add(start, end);
    this.active.set(a.id, a);
    return a;
  }
}
