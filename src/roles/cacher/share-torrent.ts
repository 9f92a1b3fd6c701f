// One cacher share in the daemon's BitTorrent client (SPEC §5 cacher, §8): the whole
// torrent of a task's BT share, downloaded into `<parentDir>/<torrent name>/` (webtorrent's
// own layout, `path` = parentDir) and served to peers from its first verified piece on.
// Downloading is switched on and off (the BT window); serving never is, until stop().
// Owns: this torrent's presence in the client and its piece selection. Must not touch other
// torrents or the client itself, the task file, or delete data: stop() keeps every byte
// (the cacher role deletes the data directory when the seed time is over).
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Torrent } from 'webtorrent';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import { cacheSlotsFor, type TorrentInfo } from '../../transfer/bt/make-torrent.ts';
import type { Logger } from '../../log/logger.ts';

export interface ShareTorrentOptions {
  client: BtClient;
  /** The .torrent of the share (already checked against the task). */
  torrent: Uint8Array;
  info: TorrentInfo;
  /** `data/transfer/bt/<basesubdir>`: the torrent's files go to `<parentDir>/<torrent name>/`. */
  parentDir: string;
  /**
   * The data on disk is what this node verified before (same sizes, mtimes, inodes as
   * recorded at completion): start without reading it (webtorrent's skipVerify). Otherwise
   * every piece present is hashed first and only verified pieces are served.
   */
  trusted: boolean;
  /** For log lines: the task. */
  label: string;
  log: Logger;
  /** Abandons the add (cancel, daemon stop): a start-up verification of a large share takes minutes. */
  signal?: AbortSignal;
}

/**
 * Events: `progress` (a piece was verified after start-up), `download` (bytes arrived from a
 * peer), `done` (every piece verified), `failed` (webtorrent gave up the torrent: a write
 * failed, a file went away; the torrent is gone from the client).
 */
export class ShareTorrent extends EventEmitter {
  private downloading = false;
  private verifiedPieces = 0;
  private verifiedLength = 0;
  private readonly counted: Uint8Array;
  /** Pieces hashed from disk before the share was ready (0 when trusted). */
  readonly hashedAtStart: number;

  private constructor(
    private readonly t: Torrent,
    readonly info: TorrentInfo,
    readonly dataDir: string,
    hashedAtStart: number,
  ) {
    super();
    this.hashedAtStart = hashedAtStart;
    this.counted = new Uint8Array(info.pieceCount);
    for (let p = 0; p < info.pieceCount; p++) if (t.bitfield?.get(p)) this.count(p);
  }

  /** Adds the share to the client with nothing selected; resolves once it is ready to serve. */
  static async add(o: ShareTorrentOptions): Promise<ShareTorrent> {
    if (o.client.wt.torrents.some((x) => x.infoHash === o.info.infoHash)) {
      // webtorrent would destroy a second add ("Cannot add duplicate torrent").
      throw new Error(`torrent ${o.info.name} (${o.info.infoHash}) is already active on this node`);
    }
    const t = o.client.add(o.torrent, {
      path: o.parentDir,
      skipVerify: o.trusted,
      // Nothing selected until the BT window says so: a cacher under `priortime` must not
      // download outside its window, yet serves what it holds at any time.
      deselect: true,
      // 'rarest', not bft2's receiver default 'sequential': a cacher exists to feed a swarm.
      // When several cachers and receivers fetch from the centre at once, sequential picking
      // makes them all want the same next piece, so they can give each other nothing and
      // the centre uploads the DCP once per peer; rarest spreads the pieces, every peer soon
      // holds pieces the others lack, and the centre's upload is shared. It costs some CPU
      // (measured 61 against 91 MiB/s from a single seeder over loopback), which the edge
      // link, not the CPU, bounds anyway.
      strategy: 'rarest',
      storeCacheSlots: cacheSlotsFor(o.info.pieceLength),
    });
    let hashed = 0;
    const countHashing = () => void hashed++;
    if (!o.trusted) t.on('verified', countHashing);
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        t.off('ready', onReady);
        t.off('error', onError);
        o.signal?.removeEventListener('abort', onAbort);
      };
      const onReady = () => {
        done();
        resolve();
      };
      const onError = (err: Error) => {
        done();
        reject(new Error(`cannot add torrent ${o.info.name}: ${err.message}`));
      };
      const onAbort = () => {
        done();
        t.destroy({ destroyStore: false }, () => reject(o.signal!.reason));
      };
      t.once('ready', onReady);
      t.once('error', onError);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      if (o.signal?.aborted) onAbort();
    });
    t.off('verified', countHashing);
    const share = new ShareTorrent(t, o.info, path.join(o.parentDir, o.info.name), o.trusted ? 0 : o.info.pieceCount);
    t.on('verified', (piece: number) => {
      if (share.count(piece)) share.emit('progress', piece);
    });
    t.on('download', (n: number) => share.emit('download', n));
    t.on('done', () => share.emit('done'));
    t.on('warning', (err: Error) => o.log.debug(`${o.label}: bt: ${err.message}`));
    t.on('error', (err: Error) => {
      o.log.warn(`${o.label}: bt: torrent ${o.info.name} stopped: ${err.message}`);
      share.emit('failed', err);
    });
    const present = ((share.verifiedLength / o.info.totalLength) * 100).toFixed(1);
    o.log.info(
      `${o.label}: bt: ${o.info.name} (${o.info.infoHash}) in the client, ${present}% present` +
        (o.trusted ? ', without re-reading the data' : `, ${hashed} pieces found verified on disk`),
    );
    return share;
  }

  private count(piece: number): boolean {
    if (this.counted[piece]) return false;
    this.counted[piece] = 1;
    this.verifiedPieces++;
    this.verifiedLength += piece === this.info.pieceCount - 1 ? this.info.totalLength - piece * this.info.pieceLength : this.info.pieceLength;
    return true;
  }

  get infoHash(): string {
    return this.info.infoHash;
  }
  /** Bytes of the share in verified pieces: what this node can serve. */
  get verifiedBytes(): number {
    return this.verifiedLength;
  }
  get complete(): boolean {
    return this.verifiedPieces === this.info.pieceCount;
  }
  /** Bytes sent to peers since the share entered the client. */
  get uploaded(): number {
    return this.t.uploaded;
  }
  /** Peers connected now. */
  get peers(): number {
    return this.t.destroyed ? 0 : this.t.numPeers;
  }
  get stopped(): boolean {
    return this.t.destroyed;
  }
  get isDownloading(): boolean {
    return this.downloading && !this.t.destroyed;
  }

  /** Downloading on (every piece selected) or off (nothing selected; verified pieces stay served). */
  setDownloading(on: boolean): void {
    if (this.t.destroyed || on === this.downloading) return;
    this.downloading = on;
    const last = this.info.pieceCount - 1;
    if (on) this.t.select(0, last, 0);
    else this.t.deselect(0, last);
  }

  private stopping?: Promise<void>;
  /** Removes the torrent from the client; the data stays on disk. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      if (this.t.destroyed) return resolve();
      // destroyStore false: the data directory is the role's to delete.
      this.t.destroy({ destroyStore: false }, () => resolve());
    });
    return this.stopping;
  }
}
