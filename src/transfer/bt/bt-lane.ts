// The BitTorrent method of a receiver's task (SPEC §8), as a fetcher of byte ranges: a
// range of a file is wanted, the pieces that cover it are selected in the daemon's
// webtorrent client, and the range is done when they are all verified. Pieces go straight
// into the task's part files (part-store.ts) through a chunk store that maps every torrent
// file onto its part — so BitTorrent, HTTP and OBS bytes of one file share one file on disk,
// a range can move between methods (rebalancing) at any time, and the receiver seeds every
// verified piece while it downloads. The share torrent (`bt.tmpurl` of a split task, else
// `bt.url`) holds BitTorrent's own files; the full torrent (`bt.url`) holds every file and
// is added only when BitTorrent takes over files of another method.
// A closed window or a cancel destroys the torrents (never their data: pieces stay in the
// parts, and their map in memory so a resume re-hashes one piece per file, not all).
// Owns: its torrents' presence in the client and their selections. Must not touch other
// torrents of the client, the client itself, or files outside the task's assembly dir.
import path from 'node:path';
import type { Torrent, Wire } from 'webtorrent';
import { whenReady, type BtClient } from './bt-client.ts';
import { fileStore } from './file-store.ts';
import { NotATorrent, readTorrent, type ReadTorrent, type TorrentInfo } from './torrent-file.ts';
import { fetchTorrent, checkTorrent } from './torrent-fetch.ts';
import { btErrors, describe } from './bt-errors.ts';
import { capPipeline } from './patches/pipeline-cap.ts';
import { reannounce } from './patches/reannounce.ts';
import { askLastResort } from './patches/last-resort.ts';
import { roleOfPeer } from './peer-role.ts';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { partPathOf } from '../segments/part-store.ts';
import type { FileEntry } from '../../task/schema.ts';
import type { Logger } from '../../log/logger.ts';
import { tuning } from '../../config/tuning.ts';

/** A lane that gets nothing from peers this long asks the tracker for peers again; then twice as long each time, up to QUIET_LONGEST_MS. */
export const QUIET_FIRST_MS = 3000;
export const QUIET_LONGEST_MS = 5 * 60_000;

export interface BtLaneOptions {
  task: string;
  client: () => Promise<BtClient>;
  log: Logger;
  /** The torrent of BitTorrent's own share: bt.tmpurl of a split task, else bt.url. */
  shareUrl: string;
  /** bt.url, when it differs from shareUrl (it holds every file of the DCP). */
  fullUrl: string;
  /** The task's files BitTorrent's own share holds (btlist), checked against the share torrent. */
  shareFiles: FileEntry[];
  /** Whether the share torrent must hold exactly shareFiles (a -tmp torrent). */
  exactShare: boolean;
  /** Every file of the download (the part store's entries). */
  files: FileEntry[];
  assembly: string;
  /** Bytes [start, end) of a file are verified and on disk. */
  onDone(file: string, start: number, end: number): void;
  /** Done ranges of a file so far (to tell webtorrent which pieces it already has). */
  doneRanges(file: string): [number, number][];
  /** The share torrent, once fetched and checked. */
  onShareTorrent?: (buf: Buffer) => void | Promise<void>;
  stallMs?: number;
  /** webtorrent's piece order: `sequential` (a receiver, whose hashes follow the bytes) or `rarest` (a cacher, which feeds a swarm). */
  strategy?: 'sequential' | 'rarest';
  /**
   * A pause (a closed window) deselects every piece but keeps the torrents in the client,
   * serving what is verified (a cacher: its seeding never stops). Otherwise they go.
   */
  serveWhilePaused?: boolean;
  /**
   * A cacher: the sender is asked only for pieces no other cacher offers, so cachers take
   * what another cacher holds from it, not from the centre (patches/last-resort.ts).
   */
  senderLastResort?: boolean;
}

interface Wanted {
  file: string;
  pieces: Set<number>;
  resolve(): void;
  reject(err: unknown): void;
}

interface Added {
  url: string;
  info: TorrentInfo;
  /** The torrent as read (its byte strings are views of the fetched bytes: no second copy). */
  read: ReadTorrent;
  torrent?: Torrent;
  /** The add under way (two ranges asked at once add the torrent once). */
  adding?: Promise<Torrent>;
  wanted: Set<Wanted>;
  /** The verified-piece map kept when the torrent goes (a closed window), for the next add. */
  bitfield?: Uint8Array;
}

export class BtLane {
  private readonly torrents = new Map<string, Added>();
  private loading = new Map<string, Promise<Added>>();
  private readonly ours: Set<string>;
  private readonly stallMs: number;
  private readonly pipeline = 128;
  private stallTimer?: NodeJS.Timeout;
  private quietTimer?: NodeJS.Timeout;
  /** The last block from a peer, or the last fresh wait (a range wanted). */
  private lastDataAt = 0;
  /** Where the quiet wait counts from: the last block, fresh wait or re-announce. */
  private quietFrom = 0;
  private quietWaitMs = QUIET_FIRST_MS;
  private closed = false;

  constructor(private readonly o: BtLaneOptions) {
    this.ours = new Set(o.files.map((f) => f.file));
    this.stallMs = o.stallMs ?? tuning().btstall;
  }

  /** Files BitTorrent can fetch: its share, or every file when a full torrent exists. */
  reaches(file: string): boolean {
    return this.o.shareFiles.some((f) => f.file === file) || this.o.fullUrl !== '';
  }

  /** Fetches [start, end) of `file`; resolves when every piece covering it is verified. */
  async fetch(file: string, start: number, end: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const inShare = this.o.shareFiles.some((f) => f.file === file);
    const a = await this.load(inShare ? this.o.shareUrl : this.o.fullUrl, inShare);
    signal.throwIfAborted();
    const t = await this.ensureAdded(a);
    const f = a.info.files.find((x) => x.path === file);
    if (!f) throw btErrors.BT_TORRENT_FILES(a.url, [`not in the torrent: ${file}`]);
    const pl = a.info.pieceLength;
    const first = Math.floor((f.offset + start) / pl);
    const last = Math.floor((f.offset + end - 1) / pl);
    const pieces = new Set<number>();
    for (let p = first; p <= last; p++) if (!t.bitfield?.get(p)) pieces.add(p);
    if (pieces.size === 0) {
      // Already verified (a resumed torrent): the bytes are on disk.
      for (let p = first; p <= last; p++) this.recordPiece(a, p);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const w: Wanted = { file, pieces, resolve, reject };
      const onAbort = this.guarded(a, 'a cancelled range', () => {
        a.wanted.delete(w);
        reject(signal.reason);
        this.syncSelection(a);
      });
      w.resolve = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      w.reject = (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      a.wanted.add(w);
      try {
        this.syncSelection(a);
        this.armStall();
      } catch (err) {
        a.wanted.delete(w);
        w.reject(err);
      }
    });
  }

  /**
   * Adds the full torrent now, selecting nothing, so that when BitTorrent takes over a range
   * of another method (rebalancing) its peers are already connected: in the lab's hybrid
   * delivery, adding it only then cost about a second at the end of every task.
   */
  async warmUp(): Promise<void> {
    if (!this.o.fullUrl) return;
    await this.ensureAdded(await this.load(this.o.fullUrl, false)).catch((err) => this.o.log.debug(`${this.o.task}: bt: the full torrent is not ready yet: ${describe(err)}`));
  }

  /** Connected peers and bytes sent, for progress. */
  stats(): { peers: number; uploaded: number; downloaded: number; active: number } {
    let peers = 0;
    let uploaded = 0;
    let downloaded = 0;
    let active = 0;
    for (const a of this.torrents.values()) {
      if (!a.torrent || a.torrent.destroyed) continue;
      active += 1;
      peers += a.torrent.numPeers;
      uploaded += a.torrent.uploaded;
      downloaded += a.torrent.downloaded;
    }
    return { peers, uploaded, downloaded, active };
  }

  /** Stops every torrent (a closed window, a cancel, the end): data and piece maps stay. */
  async pause(reason: unknown = new Error('paused'), serving = this.o.serveWhilePaused === true && !this.closed): Promise<void> {
    this.clearWatch();
    for (const a of this.torrents.values()) {
      for (const w of a.wanted) w.reject(reason);
      a.wanted.clear();
      if (serving) {
        this.syncSelection(a);
        continue;
      }
      const t = a.torrent;
      a.torrent = undefined;
      a.adding = undefined;
      if (!t || t.destroyed) continue;
      if (t.ready && t.bitfield) a.bitfield = t.bitfield.buffer.slice(0, Math.ceil(a.info.pieceCount / 8));
      await new Promise<void>((resolve) => t.destroy({ destroyStore: false }, () => resolve()));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pause(new Error('closed'), false);
  }

  private load(url: string, share: boolean): Promise<Added> {
    const known = this.torrents.get(url);
    if (known) return Promise.resolve(known);
    let p = this.loading.get(url);
    if (!p) {
      p = (async () => {
        const buf = await fetchTorrent(url, new AbortController().signal);
        let read: ReadTorrent;
        try {
          read = readTorrent(buf, url);
        } catch (err) {
          // Bytes that are not a torrent may be a passing fault (an error page): retried.
          // A torrent that is not whole (BT_TORRENT_INVALID) will not get better.
          throw err instanceof NotATorrent ? btErrors.BT_TORRENT_FETCH(url, err) : err;
        }
        const info = read.info;
        // The share torrent must hold BitTorrent's files (exactly, for a -tmp torrent); the
        // full torrent every file the download fetches with it.
        checkTorrent(url, share ? this.o.shareFiles : this.o.files, info, share && this.o.exactShare);
        const a: Added = { url, info, read, wanted: new Set() };
        this.torrents.set(url, a);
        if (share) await this.o.onShareTorrent?.(buf);
        return a;
      })();
      this.loading.set(url, p);
      p.catch(() => this.loading.delete(url));
    }
    return p;
  }

  private ensureAdded(a: Added): Promise<Torrent> {
    if (a.adding) return a.adding;
    a.adding = this.add(a);
    a.adding.catch(() => {
      a.torrent = undefined;
      a.adding = undefined;
    });
    return a.adding;
  }

  private async add(a: Added): Promise<Torrent> {
    if (this.closed) throw new Error('the BitTorrent lane is closed');
    const client = await this.o.client();
    if (client.wt.torrents.some((t) => t.infoHash === a.info.infoHash)) {
      // A seed or a download of the same torrent runs in this daemon (webtorrent holds one). Retryable.
      throw new Error(`torrent ${a.info.infoHash} is already active on this node`);
    }
    // Every file of the torrent maps onto the task's part files; a file the download does
    // not fetch (a local copy) gets a throwaway spill file, so a piece that straddles it is
    // still whole on disk for seeding.
    const pathOf = (rel: string) =>
      this.ours.has(rel) ? partPathOf(this.o.assembly, rel) : path.join(this.o.assembly, path.dirname(rel), `${TEMP_PREFIX}${path.basename(rel)}.spill`);
    const torrent = client.add(a.read, {
      path: this.o.assembly,
      store: fileStore({ writable: true, pathOf }),
      deselect: true,
      strategy: this.o.strategy ?? 'sequential',
      // No piece cache (see bt-seed.ts): verified pieces served to other peers are read
      // a block at a time from the part files.
      storeCacheSlots: 0,
      bitfield: a.bitfield ?? this.bitfieldFromDisk(a.info),
    });
    a.torrent = torrent;
    if (this.o.senderLastResort) askLastResort(torrent, (w) => roleOfPeer((w as Wire).peerId) === 'sender', (w) => roleOfPeer((w as Wire).peerId) === 'cacher');
    this.o.log.info(`${this.o.task}: bt: ${a.info.name} (${a.info.infoHash}) added`);
    // Every listener is guarded: an exception in one fails this torrent's ranges, never the process.
    torrent.on('wire', this.guarded(a, 'a new peer', (wire: Wire) => capPipeline(wire, this.pipeline, (err) => this.failRanges(a, err))));
    torrent.on('verified', this.guarded(a, 'a verified piece', (piece: number) => this.onVerified(a, piece)));
    torrent.on('download', this.guarded(a, 'data from a peer', () => this.armStall(true)));
    torrent.on('warning', (err: Error) => this.o.log.debug(`${this.o.task}: bt: ${err.message}`));
    torrent.on('error', this.guarded(a, 'a torrent error', (err: Error) => {
      // A store write that failed (a full disk) or a broken torrent: the ranges fail, the next fetch adds it again.
      if (torrent.ready && torrent.bitfield) a.bitfield = torrent.bitfield.buffer.slice(0, Math.ceil(a.info.pieceCount / 8));
      a.torrent = undefined;
      a.adding = undefined;
      for (const w of a.wanted) w.reject(err);
      a.wanted.clear();
    }));
    await whenReady(torrent, `cannot add ${a.info.name} (${a.url})`);
    return torrent;
  }

  /**
   * Pieces whose every byte is in done ranges of our files (after a restart). Always a
   * bitfield, also an empty one: without one webtorrent reads and hashes every piece of the
   * part files at the add (524,288 reads of nothing for a fresh 8 GiB download); with one it
   * checks one or two pieces per file of those marked done.
   */
  private bitfieldFromDisk(info: TorrentInfo): Uint8Array {
    const bits = new Uint8Array(Math.ceil(info.pieceCount / 8));
    const done = new Map(info.files.map((f) => [f.path, this.ours.has(f.path) ? this.o.doneRanges(f.path) : []]));
    for (let p = 0; p < info.pieceCount; p++) {
      const from = p * info.pieceLength;
      const to = Math.min(info.totalLength, from + info.pieceLength);
      const have = info.files.every((f) => {
        const s = Math.max(from, f.offset) - f.offset;
        const e = Math.min(to, f.offset + f.length) - f.offset;
        return e <= s || done.get(f.path)!.some(([ds, de]) => ds <= s && e <= de);
      });
      if (have) bits[p >> 3] |= 0x80 >> (p & 7);
    }
    return bits;
  }

  /** A verified piece: its bytes in our files are done; wanted ranges it completes resolve. */
  private onVerified(a: Added, piece: number): void {
    this.recordPiece(a, piece);
    for (const w of [...a.wanted]) {
      if (!w.pieces.delete(piece) || w.pieces.size > 0) continue;
      a.wanted.delete(w);
      w.resolve();
    }
    this.syncSelection(a);
    if (!this.wanting()) this.clearWatch();
  }

  private recordPiece(a: Added, piece: number): void {
    const from = piece * a.info.pieceLength;
    const to = Math.min(a.info.totalLength, from + a.info.pieceLength);
    for (const f of a.info.files) {
      if (!this.ours.has(f.path)) continue;
      const s = Math.max(from, f.offset) - f.offset;
      const e = Math.min(to, f.offset + f.length) - f.offset;
      if (e > s) this.o.onDone(f.path, s, e);
    }
  }

  /** The torrent selects exactly the pieces of the ranges still wanted. */
  private syncSelection(a: Added): void {
    const t = a.torrent;
    if (!t || t.destroyed || !t.ready) return;
    t.deselect(0, a.info.pieceCount - 1);
    for (const w of a.wanted) {
      let run: [number, number] | undefined;
      for (const p of [...w.pieces].sort((x, y) => x - y)) {
        if (run && p === run[1] + 1) run[1] = p;
        else {
          if (run) t.select(run[0], run[1]);
          run = [p, p];
        }
      }
      if (run) t.select(run[0], run[1]);
    }
  }

  /**
   * No byte from any peer for stallMs while ranges are wanted: every wanted range fails (the
   * retry policy decides). Well before that, a quiet lane asks the tracker again for peers,
   * QUIET_FIRST_MS after its last byte, then again after twice as long each time while it
   * stays quiet (up to QUIET_LONGEST_MS): a cinema that first heard only of the centre,
   * which leaves it to the cachers, learns of the cachers this way (they cannot reach it
   * through its firewall). Called when a range is wanted (a fresh wait) and for every block
   * received (`data`); the timers look at the time of the last block when they fire, so a
   * block costs no timer.
   */
  private armStall(data = false): void {
    const now = Date.now();
    this.lastDataAt = now;
    this.quietFrom = now;
    if (data) {
      this.quietWaitMs = QUIET_FIRST_MS;
      if ((this.stallTimer && this.quietTimer) || !this.wanting()) return;
    }
    this.clearWatch();
    this.quietTimer = this.timer('asking the tracker for peers', Math.min(this.quietWaitMs, this.stallMs / 2), () => this.onQuiet());
    this.stallTimer = this.timer('the stall timer', this.stallMs, () => this.onStall());
  }

  private onQuiet(): void {
    this.quietTimer = undefined;
    if (!this.wanting()) return;
    const idle = Date.now() - this.quietFrom;
    const wait = Math.min(this.quietWaitMs, this.stallMs / 2);
    if (idle < wait) {
      this.quietTimer = this.timer('asking the tracker for peers', wait - idle, () => this.onQuiet());
      return;
    }
    for (const a of this.torrents.values()) {
      if (a.wanted.size === 0 || !a.torrent || a.torrent.destroyed || !a.torrent.ready) continue;
      reannounce(a.torrent);
    }
    this.quietWaitMs = Math.min(this.quietWaitMs * 2, QUIET_LONGEST_MS);
    // The next one counts from now; data meanwhile resets the wait.
    this.quietFrom = Date.now();
    this.quietTimer = this.timer('asking the tracker for peers', Math.min(this.quietWaitMs, this.stallMs / 2), () => this.onQuiet());
  }

  private onStall(): void {
    const idle = Date.now() - this.lastDataAt;
    if (idle < this.stallMs) {
      this.stallTimer = this.timer('the stall timer', this.stallMs - idle, () => this.onStall());
      return;
    }
    this.clearWatch();
    const err = new Error(`no data from peers for ${Math.round(this.stallMs / 1000)} s (${this.stats().peers} peers connected)`);
    for (const a of this.torrents.values()) this.failRanges(a, err);
  }

  private wanting(): boolean {
    for (const a of this.torrents.values()) if (a.wanted.size > 0) return true;
    return false;
  }

  private clearWatch(): void {
    clearTimeout(this.stallTimer);
    clearTimeout(this.quietTimer);
    this.stallTimer = undefined;
    this.quietTimer = undefined;
  }

  private timer(what: string, ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(this.guarded(undefined, what, fn), Math.max(0, ms));
    t.unref();
    return t;
  }

  /**
   * `fn` as a listener or timer body that cannot throw into the process: an exception fails
   * the wanted ranges of torrent `a` (of every torrent of the lane when undefined) with it.
   */
  private guarded<A extends unknown[]>(a: Added | undefined, what: string, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        const failure = new Error(`bt: ${what}: ${describe(err)}`, { cause: err });
        this.o.log.error(`${this.o.task}: ${failure.message}`);
        for (const x of a ? [a] : [...this.torrents.values()]) this.failRanges(x, failure);
      }
    };
  }

  /** Every wanted range of `a` fails with `err`; its pieces are deselected. Never throws. */
  private failRanges(a: Added, err: unknown): void {
    const wanted = [...a.wanted];
    a.wanted.clear();
    for (const w of wanted) w.reject(err);
    try {
      this.syncSelection(a);
    } catch (e) {
      this.o.log.debug(`${this.o.task}: bt: deselecting ${a.info.name} after a failure: ${describe(e)}`);
    }
  }
}
