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
import { randomBytes } from 'node:crypto';
import type WebTorrent from 'webtorrent';
import type { AddOptions, Torrent } from 'webtorrent';
import type { Logger } from '../../log/logger.ts';
import { installBtPatches } from './patches/index.ts';
import { clientTorrent, readTorrent, type ReadTorrent } from './torrent-file.ts';
import { fileStore } from './file-store.ts';

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

/** The node's role, carried in its BitTorrent peer id, so a sender can tell its cachers from cinemas. */
export type PeerRole = 'sender' | 'receiver' | 'cacher';
const ROLE_LETTER: Record<PeerRole, string> = { sender: 'S', receiver: 'R', cacher: 'C' };

/**
 * A peer id in the Azureus style `-B2<role>000-` plus 12 random bytes, as webtorrent wants it
 * (40 hex digits). Only the role letter means anything to bft2.
 */
export function peerIdFor(role: PeerRole): string {
  return Buffer.concat([Buffer.from(`-B2${ROLE_LETTER[role]}000-`, 'latin1'), randomBytes(12)]).toString('hex');
}

/** The role a remote peer id announces, when it is a bft2 node. */
export function roleOfPeer(peerIdHex: string | null | undefined): PeerRole | undefined {
  if (!peerIdHex) return undefined;
  const m = /^-B2([SRC])000-/.exec(Buffer.from(peerIdHex.slice(0, 16), 'hex').toString('latin1'));
  return m ? (Object.entries(ROLE_LETTER).find(([, l]) => l === m[1])![0] as PeerRole) : undefined;
}

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
      return wt.add(clientTorrent(read), { store: PlainLayoutStore, ...addOpts });
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
