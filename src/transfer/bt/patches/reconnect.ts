// Patch of webtorrent 2.8.5's Torrent: how it redials a peer (issue 23: a finished bft2
// receiver reconnected to one ctorrent seed 2,894 times in 15 minutes). ctorrent,
// transmission and libtorrent close a connection when both ends are complete seeds;
// webtorrent redials a closed connection after 1, 5 and 15 s, resets that count at every
// successful handshake, and starts a fresh round each time a tracker announce (or PEX)
// names the address again, so the back-off never grows and the rounds pile up.
// Here each address a torrent dials has one record: a connection that closes without having
// carried piece data counts a failure, and the address is dialled again after 1 s, doubling
// per failure up to LONGEST_RETRY_MS; one that carried data starts over at 1 s (a seed that
// restarts is reached again within seconds). One retry timer per address, whatever names
// it meanwhile: an announce or PEX naming an address that waits is ignored. When this
// torrent is complete and the closed peer was complete too, the address is not dialled
// again while this torrent stays complete (two seeds have nothing to give each other).
// Torrent#_drain is the original's TCP connect with this policy instead of its reconnect
// (uTP, which bft2 switches off, keeps the original); Torrent#addPeer gets the gate.
// Owns the per-address records of each torrent. Must not limit incoming connections or the
// first dial of an address.
import net from 'node:net';

/** The first redial of an address whose connection closed. */
export const FIRST_RETRY_MS = 1000;
/** The back-off doubles up to this: 1024 s, about 17 minutes (at most 13 dials in the first hour, then about 3.5 an hour). */
export const LONGEST_RETRY_MS = 1024 * 1000;
/** Addresses remembered per torrent; past this, an address that fails waits for its next announce instead of a timer. */
export const MOST_ADDRESSES = 1000;

/** The wait before the next dial after `failures` closes in a row without data (failures >= 1). */
export function retryDelay(failures: number): number {
  return Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

interface AddressRecord {
  /** Closes in a row without piece data. */
  failures: number;
  /** No dial before this (ms since the epoch). */
  notBefore: number;
  timer?: NodeJS.Timeout;
  /** Both ends were complete when it closed: not dialled while this torrent is complete. */
  seedPair: boolean;
  source?: string;
}

interface WireInternals {
  downloaded: number;
  uploaded: number;
  peerPieces?: { get(i: number): boolean };
}

interface PeerInternals {
  addr: string;
  source?: string;
  conn: net.Socket | null;
  wire: WireInternals | null;
  onConnect(): void;
  destroy(err?: Error): void;
  startConnectTimeout(): void;
}

/** The fields of webtorrent 2.8.5's Torrent this patch reads. */
interface TorrentInternals {
  destroyed: boolean;
  paused: boolean;
  done: boolean;
  pieces: unknown[];
  _queue: PeerInternals[];
  _numConns: number;
  client: { maxConns: number; utp: boolean };
  addPeer(peer: unknown, source?: string): unknown;
  once(event: string, fn: () => void): unknown;
}

const books = new WeakMap<object, Map<string, AddressRecord>>();

function bookOf(t: TorrentInternals): Map<string, AddressRecord> {
  let book = books.get(t);
  if (!book) {
    const created = new Map<string, AddressRecord>();
    book = created;
    books.set(t, created);
    // A destroyed torrent keeps no timers (they would keep it in memory for up to LONGEST_RETRY_MS).
    t.once('close', () => {
      for (const r of created.values()) clearTimeout(r.timer);
      created.clear();
    });
  }
  return book;
}

/** True when the peer has every piece of the torrent. */
function peerComplete(wire: WireInternals | null, pieces: number): boolean {
  if (!wire?.peerPieces || pieces === 0) return false;
  for (let i = 0; i < pieces; i++) if (!wire.peerPieces.get(i)) return false;
  return true;
}

/** Whether `addr` may be dialled now (the gate of addPeer). */
function mayDial(t: TorrentInternals, addr: string): boolean {
  const r = books.get(t)?.get(addr);
  if (!r) return true;
  if (r.seedPair && t.done) return false;
  return r.timer === undefined && Date.now() >= r.notBefore;
}

/** A dialled connection to `addr` closed: record it and arm the one retry timer. */
function onClosed(t: TorrentInternals, addr: string, source: string | undefined, wire: WireInternals | null): void {
  const book = bookOf(t);
  let r = book.get(addr);
  if (!r) {
    if (book.size >= MOST_ADDRESSES) for (const [a, x] of book) if (!x.timer && !x.seedPair) book.delete(a);
    r = { failures: 0, notBefore: 0, seedPair: false };
    book.set(addr, r);
  }
  r.source = source ?? r.source;
  clearTimeout(r.timer);
  r.timer = undefined;
  if (t.done && peerComplete(wire, t.pieces.length)) {
    r.seedPair = true;
    r.failures = 0;
    return;
  }
  r.seedPair = false;
  r.failures = wire && (wire.downloaded > 0 || wire.uploaded > 0) ? 1 : r.failures + 1;
  const delay = retryDelay(r.failures);
  r.notBefore = Date.now() + delay;
  if (book.size > MOST_ADDRESSES) return;
  const record = r;
  record.timer = setTimeout(() => {
    record.timer = undefined;
    if (t.destroyed || (record.seedPair && t.done)) return;
    try {
      t.addPeer(addr, record.source);
    } catch {
      // The torrent went away meanwhile (addPeer throws on a destroyed torrent): nothing to dial.
    }
  }, delay);
  record.timer.unref();
}

type DrainFn = (this: TorrentInternals) => void;
type AddPeerFn = (this: TorrentInternals, peer: unknown, source?: string) => unknown;

/** Replaces Torrent#_drain and wraps Torrent#addPeer on `TorrentProto`. */
export function patchReconnect(TorrentProto: object): void {
  const proto = TorrentProto as { _drain: DrainFn; addPeer: AddPeerFn };
  if (typeof proto._drain !== 'function' || typeof proto.addPeer !== 'function') throw new Error('webtorrent: Torrent#_drain or #addPeer is missing');
  if (proto._drain.name === 'drainWithBackoff') return;
  const drain = proto._drain;
  proto._drain = function drainWithBackoff() {
    if (this.client.utp) return drain.call(this);
    if (this.destroyed || this.paused || this._numConns >= this.client.maxConns) return;
    const peer = this._queue.shift();
    if (!peer) return;
    const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(peer.addr);
    if (!m) return peer.destroy(new Error(`not an address: ${peer.addr}`));
    const conn = net.connect({ host: m[1], port: Number(m[2]) });
    peer.conn = conn;
    let wire: WireInternals | null = null;
    conn.once('connect', () => {
      if (this.destroyed) return;
      peer.onConnect();
      // Kept here: the peer drops its wire when it is destroyed, before the socket's close.
      wire = peer.wire;
    });
    conn.once('error', (err) => peer.destroy(err));
    peer.startConnectTimeout();
    conn.on('close', () => {
      if (!this.destroyed) onClosed(this, peer.addr, peer.source, wire);
    });
  };
  const addPeer = proto.addPeer;
  proto.addPeer = function addPeerUnlessWaiting(peer, source) {
    if (typeof peer === 'string' && !mayDial(this, peer)) return false;
    return addPeer.call(this, peer, source);
  };
}
