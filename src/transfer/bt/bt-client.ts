// The daemon's one BitTorrent client (webtorrent 2.8.5): every seed and every BT download
// of the process shares it, so there is one listening TCP port (config `btport`) and one
// connection budget.
// Owns: the client's options and lifetime. Must not add, select or remove torrents
// (bt-seed.ts and bt-method.ts do that).
//
// Peers are found only through the tracker named in each torrent: no DHT, no local
// service discovery, no UPnP/NAT-PMP port mapping (webtorrent turns both on by default
// and would send SSDP multicast and gateway requests off the machine), no web seeds, no
// WebRTC. uTP is off: webtorrent 2.x binds a UDP socket per outgoing uTP connect (fixed
// only in 3.x) and bft2's peers speak TCP. PEX (ut_pex) stays on: it only tells peers
// about other peers of the same swarm, all found through the tracker in the first place.
import path from 'node:path';
import type WebTorrent from 'webtorrent';
import type { AddOptions, Torrent } from 'webtorrent';
import type { Logger } from '../../log/logger.ts';
import { installBtPatches } from './patches/index.ts';
import { clientTorrent, readTorrent, type ReadTorrent } from './torrent-file.ts';
import { fileStore } from './file-store.ts';
import { peerIdFor, type PeerRole } from './peer-role.ts';

export interface BtClient {
  /** The webtorrent client, for bt-seed.ts and bt-method.ts. */
  readonly wt: WebTorrent;
  /**
   * Adds a torrent (a .torrent's bytes, checked whole first, or one read already) to the
   * client. The client is given the parsed torrent, never the bytes (torrent-file.ts), and
   * by default a store in webtorrent's own layout (`<path>/<torrent name>/<file>`).
   */
  add(torrent: Uint8Array | ReadTorrent, opts: AddOptions): Torrent;
  /** The TCP port peers connect to (the one asked for, or the one the OS chose for 0). */
  readonly port: number;
  readonly log: Logger;
  /** Stops every torrent (their data stays on disk) and the listener. */
  close(): Promise<void>;
}

export { peerIdFor, roleOfPeer, type PeerRole } from './peer-role.ts';

export interface BtClientOptions {
  /** TCP listen port; 0 lets the OS choose (tests). */
  port: number;
  log: Logger;
  /** Announced in the peer id (default receiver). */
  role?: PeerRole;
  /** Upper bound of peer connections per torrent (webtorrent's maxConns, default 55). */
  maxConns?: number;
}

export async function createBtClient(opts: BtClientOptions): Promise<BtClient> {
  // Loaded on first use: a node that never touches BitTorrent does not carry webtorrent's
  // modules (tens of MB of RSS).
  await installBtPatches();
  const { default: WebTorrentClient } = await import('webtorrent');
  const wt = new WebTorrentClient({
    peerId: peerIdFor(opts.role ?? 'receiver'),
    torrentPort: opts.port,
    dht: false,
    lsd: false,
    utp: false,
    natUpnp: false,
    natPmp: false,
    webSeeds: false,
    // wrtc false: websocket (WebRTC) trackers in a foreign torrent are skipped, not tried.
    tracker: { wrtc: false },
    ...(opts.maxConns ? { maxConns: opts.maxConns } : {}),
  });
  const log = opts.log;
  // The listener binds in the constructor; a port in use arrives as 'error' instead.
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      wt.off('listening', onListening);
      reject(new Error(`BitTorrent client cannot listen on port ${opts.port}: ${err.message}`));
    };
    const onListening = () => {
      wt.off('error', onError);
      resolve();
    };
    wt.once('error', onError);
    wt.once('listening', onListening);
  });
  // A torrent without its own 'error' listener reports here (webtorrent's rule); an
  // unhandled 'error' would end the daemon.
  wt.on('error', (err: Error) => log.error(`bt: ${err.message}`));
  const port = wt.torrentPort;
  log.info(`bt: listening on TCP port ${port}`);

  let closing: Promise<void> | undefined;
  return {
    wt,
    port,
    log,
    add(torrent, addOpts) {
      const read = torrent instanceof Uint8Array ? readTorrent(torrent) : torrent;
      return wt.add(clientTorrent(read), { store: PlainLayoutStore, uploads: EVERY_PEER, ...addOpts });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        if (wt.destroyed) return resolve();
        wt.destroy((err) => {
          if (err) log.warn(`bt: closing the client: ${err.message}`);
          resolve();
        });
      });
      return closing;
    },
  };
}

/**
 * Upload slots of every torrent (webtorrent's `uploads`, default 10): every interested peer
 * is served, and TCP shares the uplink among them. With webtorrent's 10 slots and its
 * rechoke (the peers we get the most from first) a cacher with 40 cinemas served about ten
 * at a time, and a cinema left choked for 5 s dropped the connection and dialled again:
 * the cinemas of the lab's city finished one group after another instead of together, at
 * the pace of the last group's downlinks. bft2's peers are its own fleet: there is no
 * one to reward or punish with a slot.
 */
const EVERY_PEER = Number.MAX_SAFE_INTEGER;

/** The store of a torrent added without one: its files under the add's `path`, as named in the torrent. */
const PlainLayoutStore = fileStore({ writable: true, pathOf: (rel, dir, name) => path.join(dir, name, ...rel.split('/')) });

/** Resolves when a just-added torrent is ready (metadata, store, start-up check), rejects with its first error as `what: <message>`. */
export function whenReady(torrent: Torrent, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onReady = () => {
      torrent.off('error', onError);
      resolve();
    };
    const onError = (err: Error) => {
      torrent.off('ready', onReady);
      reject(new Error(`${what}: ${err.message}`));
    };
    torrent.once('ready', onReady);
    torrent.once('error', onError);
  });
}
