// Seeding one torrent from data already on disk: the sender's DCP (full torrent) or its
// `-tmp` share directory, a cacher's downloaded share (SPEC §5, §8).
// Owns: adding a seed to the shared client and removing it. Must never write the data
// (a seed is added with nothing selected, so webtorrent never downloads into a store)
// and never delete it (stop() closes the store, it does not destroy it).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Torrent } from 'webtorrent';
import { whenReady, type BtClient } from './bt-client.ts';
import { applyCentrePolicy, type CentrePolicy } from './centre-seeding.ts';
import { readTorrent } from './torrent-file.ts';
import { SeedStore, fileStore } from './file-store.ts';

export interface SeedOptions {
  /** The .torrent file. */
  torrentFile: string;
  /** The directory holding the torrent's directory (its name is the torrent's name). */
  parentDir: string;
  /** The torrent's files are here instead, whatever its name (a cacher's share directory). */
  dataDir?: string;
  /**
   * The hash table says the data is unchanged since the torrent was made (or it was just
   * verified): start at once without reading it (webtorrent's skipVerify). Otherwise every
   * piece is re-hashed first — minutes for a large DCP — and only verified pieces are served.
   */
  trusted: boolean;
  /**
   * A sender's seed (centre-seeding.ts): while a cacher is connected, the centre serves the
   * cachers only and leaves the other peers (cinemas) to them; until a peer holds the
   * complete data it deals each cacher its own pieces (initial seeding), so its upload for
   * a delivery to N cinemas through C cachers stays near one share, not C or N (SPEC §5).
   * It serves every peer while no cacher is connected.
   */
  deferToCachers?: boolean;
}

export interface SeedHandle {
  readonly infoHash: string;
  readonly name: string;
  /** Connected peers now. */
  readonly numPeers: number;
  /** Cinemas are left to the connected cachers (deferToCachers). */
  readonly handedOver: boolean;
  /** Cachers are dealt pieces one window at a time (deferToCachers; until a peer holds the complete data). */
  readonly initialSeeding: boolean;
  /** Bytes sent to peers since the seed started. */
  readonly uploaded: number;
  /** Share of the data this seed can serve, 0..1; below 1 after verification means data is missing or changed. */
  readonly progress: number;
  readonly stopped: boolean;
  /** Removes the torrent from the client; the data stays. */
  stop(): Promise<void>;
}

/** Resolves once the seed is ready to serve (after verification when not trusted). */
export async function seed(client: BtClient, opts: SeedOptions): Promise<SeedHandle> {
  const read = readTorrent(await readFile(opts.torrentFile), opts.torrentFile);
  const info = read.info;
  if (client.wt.torrents.some((t) => t.infoHash === info.infoHash)) {
    // webtorrent would destroy the second add with "Cannot add duplicate torrent"; say
    // which one, so the caller can tell a restart from a double start.
    throw new Error(`already seeding or downloading ${info.name} (${info.infoHash}) on this node`);
  }
  const log = client.log;
  const torrent = client.add(read, {
    path: opts.parentDir,
    skipVerify: opts.trusted,
    // Nothing selected: pieces that fail verification are not fetched from peers into
    // the store (webtorrent selects everything by default and would "repair" a DCP).
    deselect: true,
    // No piece cache: a peer's 16 KiB block is read as 16 KiB (from the page cache).
    // webtorrent's cache (cache-chunk-store) reads whole pieces and keeps up to N of them
    // per torrent, which more than doubled a seeding sender's RSS and served no faster
    // (docs/performance.md, receive).
    storeCacheSlots: 0,
    // The DCP's files as named in the torrent, read only; blocks read into reused buffers (file-store.ts).
    store: opts.dataDir ? seedStoreAt(opts.dataDir) : SeedStore,
  });
  await whenReady(torrent, `cannot seed ${opts.torrentFile}`);
  // From here on a torrent error (e.g. a file removed under it) is logged; the seed's
  // owner sees it as stopped.
  torrent.on('error', (err: Error) => log.warn(`bt seed ${info.name}: ${err.message}`));
  torrent.on('warning', (err: Error) => log.debug(`bt seed ${info.name}: ${err.message}`));
  if (torrent.progress < 1) {
    log.warn(`bt seed ${info.name}: only ${(torrent.progress * 100).toFixed(1)}% of the data matches the torrent; seeding that part`);
  }
  log.info(`bt: seeding ${info.name} (${info.infoHash})${opts.trusted ? ' without re-reading the data' : ''}`);
  const policy = opts.deferToCachers ? applyCentrePolicy(torrent, info.name, log) : undefined;
  return handle(torrent, info.infoHash, info.name, policy);
}

/** The seed store with every file of the torrent at `<dataDir>/<path in the torrent>`, whatever the torrent's name. */
function seedStoreAt(dataDir: string) {
  return fileStore({ writable: false, pathOf: (rel) => path.join(dataDir, ...rel.split('/')) });
}

function handle(torrent: Torrent, infoHash: string, name: string, policy: CentrePolicy | undefined): SeedHandle {
  let stopping: Promise<void> | undefined;
  return {
    infoHash,
    name,
    get handedOver() {
      return !torrent.destroyed && policy?.handedOver() === true;
    },
    get initialSeeding() {
      return !torrent.destroyed && policy?.initialSeeding() === true;
    },
    get numPeers() {
      return torrent.destroyed ? 0 : torrent.numPeers;
    },
    get uploaded() {
      return torrent.uploaded;
    },
    get progress() {
      return torrent.destroyed ? 0 : torrent.progress;
    },
    get stopped() {
      return torrent.destroyed;
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        if (torrent.destroyed) return resolve();
        // destroyStore stays false: it would delete the DCP.
        torrent.destroy({ destroyStore: false }, () => resolve());
      });
      return stopping;
    },
  };
}
