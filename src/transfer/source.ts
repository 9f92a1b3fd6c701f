// One interface for every transfer method (STYLE: rclone's backends, undici's dispatchers):
// a Source is one method's way to a task's files — what it reaches, how to fetch a byte
// range of one of them, how to stop for a closed window, what it has to tell (peers,
// bytes served), how it closes. The download engine (src/download/task-download.ts) drives
// any Source the same way and never asks which method it is. Each method's Source lives in
// its own folder (transfer/cdn, transfer/obs, transfer/bt); sources.ts makes the ones a
// task needs.
// Owns the interface only.
import type { FileEntry, Method } from '../task/schema.ts';

/** Where the bytes of one fetched range go (the task's part store, through the engine). */
export interface RangeSink {
  /** Writes buffers one after the other from `offset`; they count as done once it resolves. */
  write(offset: number, bufs: Uint8Array[]): Promise<void>;
  /** The method's rate cap: resolves when n more bytes may pass. */
  take(n: number): Promise<void>;
  /** The validator (ETag, Last-Modified) the file's bytes so far were fetched under, if any. */
  validator?: string;
  setValidator(v: string): void;
}

export interface SourceStats {
  /** Peers connected now (0 for a server). */
  peers: number;
  /** Bytes served to peers. */
  uploaded: number;
  /** Serving the task's verified data to peers now. */
  serving: boolean;
}

export interface Source {
  readonly method: Method;
  /** Ranges fetched at once. */
  readonly parallel: number;
  /** The size of its ranges. */
  readonly rangeBytes: number;
  /** Whether it can fetch this file of the task. */
  reaches(file: string): boolean;
  /**
   * Where in its files it begins (an index into the task's download order), when it has a
   * reason to begin elsewhere than at the front.
   */
  startFile?(files: readonly { size: number; owner: Method }[]): number;
  /** Connects ahead of its first range (rebalancing may need it any moment). */
  warmUp?(): void;
  /**
   * Fetches [start, end) of `file`: into the sink, or — a source that writes through its own
   * store (BitTorrent) — by telling its context which bytes landed; rejects with the signal's
   * reason when aborted.
   */
  fetch(file: FileEntry, start: number, end: number, signal: AbortSignal, sink: RangeSink): Promise<void>;
  /** A window closed or the task stops: its transfers end, what it verified stays. */
  pause(reason: unknown): Promise<void>;
  stats(): SourceStats;
  close(): Promise<void>;
}
