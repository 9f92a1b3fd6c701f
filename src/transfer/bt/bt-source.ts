// The BitTorrent method as a Source (../source.ts), over the task's BitTorrent lane
// (bt-lane.ts): a range is wanted, the pieces that cover it are selected, and the range is
// done when they are verified; the pieces land in the task's part files through the lane's
// chunk store, and every verified piece is served to peers while the download goes on.
// Owns the lane. Must not touch other torrents of the client.
import { BtLane, type BtLaneOptions } from './bt-lane.ts';
import { tuning } from '../../config/tuning.ts';
import type { Source } from '../source.ts';
import type { FileEntry, Method } from '../../task/schema.ts';

export interface BtSourceOptions extends BtLaneOptions {
  /**
   * Ranges selected at once. A receiver wants few (its file's hash follows the bytes as they
   * land); a cacher wants its whole share selected, so that the swarm's rarest pieces come
   * first and cachers trade pieces rather than all asking the centre for the same ones.
   */
  parallel: number;
  rangeBytes?: number;
  /** Begin at a random place in the share (a receiver's; see startFile). */
  randomStart: boolean;
}

export class BtSource implements Source {
  readonly method = 'bt' as const;
  readonly parallel: number;
  private readonly lane: BtLane;

  constructor(private readonly o: BtSourceOptions) {
    this.lane = new BtLane(o);
    this.parallel = o.parallel;
  }

  get rangeBytes(): number {
    return this.o.rangeBytes ?? tuning().chunk;
  }

  reaches(file: string): boolean {
    return this.lane.reaches(file);
  }

  /**
   * A file picked at random, weighted by size. Many cinemas fetch one share at once, and
   * behind their firewalls they cannot trade pieces with each other, only with the cachers;
   * starting all at the front, they would all hold (and offer the cachers) the same pieces
   * and ask the centre for the same ones. Each begins elsewhere instead, so the swarm holds
   * every piece sooner. Each file is still fetched front to back (its hash follows).
   */
  startFile(files: readonly { size: number; owner: Method }[]): number {
    if (!this.o.randomStart) return 0;
    const total = files.reduce((n, f) => n + (f.owner === 'bt' ? f.size : 0), 0);
    let at = Math.random() * total;
    for (let i = 0; i < files.length; i++) {
      if (files[i].owner !== 'bt') continue;
      at -= files[i].size;
      if (at < 0) return i;
    }
    return 0;
  }

  warmUp(): void {
    void this.lane.warmUp();
  }

  fetch(file: FileEntry, start: number, end: number, signal: AbortSignal): Promise<void> {
    return this.lane.fetch(file.file, start, end, signal);
  }

  pause(reason: unknown): Promise<void> {
    return this.lane.pause(reason);
  }

  stats() {
    const s = this.lane.stats();
    return { peers: s.peers, uploaded: s.uploaded, serving: s.active > 0 };
  }

  close(): Promise<void> {
    return this.lane.close();
  }
}
