// Patch of webtorrent 2.8.5's Torrent: what it keeps per piece (issue 20: a torrent of
// half a million pieces cost hundreds of MB; docs/performance.md has the figures).
// webtorrent kept, for every piece,
// - its sha1 as a hex string (`_hashes`; parse-torrent builds each by 20 concatenations,
//   hundreds of bytes of cons-strings),
// - a torrent-piece Piece, even for pieces nobody asked for yet,
// - an empty array of reservations.
// Here the hashes stay the torrent's own 20 bytes per piece (pieceHashList: a hash's hex is
// made when the piece is verified), every piece nobody has asked for shares one frozen
// "pristine" Piece of its length (a real one is made by _request, the only place webtorrent
// starts writing into a piece; a piece the start-up check finds missing is pristine again),
// and reservations start as null (_request makes the list).
// webtorrent reads these only as `pieces[i]` (null once verified, else a Piece whose
// `missing`/`length` it reads), `_hashes[i]` and `_reservations[i]`, so nothing else changes.
// Owns the wrappers of Torrent#_onMetadata, #_request and #_markUnverified, and the
// pristine pieces. Must not change which pieces are verified, selected or requested.

/** A torrent's piece hashes as webtorrent's `_hashes` array reads them, over the torrent's bytes. */
class PieceHashes {
  /** Set while webtorrent's _onMetadata runs: its two `pieces.map` calls are replaced (see below). */
  inMetadata = false;
  constructor(readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.length / 20;
  }
  hex(i: number): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + i * 20, 20).toString('hex');
  }
  /**
   * Within _onMetadata webtorrent maps the hashes twice, into one reservation list and one
   * Piece per piece; the 'metadata' listener puts the compact ones in place right after, so
   * these maps return nothing. Anywhere else it is an ordinary map over the hex hashes.
   */
  map<T>(fn: (hash: string, i: number) => T): T[] {
    if (this.inMetadata) return [];
    return Array.from({ length: this.length }, (_, i) => fn(this.hex(i), i));
  }
}

const isIndex = (key: string | symbol): key is string => typeof key === 'string' && key.length > 0 && key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57;

const handler: ProxyHandler<PieceHashes> = {
  get(target, key) {
    if (isIndex(key)) {
      const i = Number(key);
      return Number.isInteger(i) && i < target.length ? target.hex(i) : undefined;
    }
    return Reflect.get(target, key, target);
  },
};

const lists = new WeakSet<object>();

/** The piece hashes (20 bytes each) as the array of hex strings webtorrent's torrent expects. */
export function pieceHashList(bytes: Uint8Array): PieceHashes & Record<number, string> {
  const list = new Proxy(new PieceHashes(bytes), handler);
  lists.add(list);
  return list as PieceHashes & Record<number, string>;
}

export function isPieceHashList(v: unknown): v is PieceHashes {
  return typeof v === 'object' && v !== null && lists.has(v);
}

interface BitField {
  get(i: number): boolean;
}
/** The fields of webtorrent 2.8.5's Torrent this patch reads and sets. */
interface TorrentInternals {
  metadata: unknown;
  destroyed: boolean;
  info?: { pieces?: unknown };
  pieces: unknown;
  pieceLength: number;
  lastPieceLength: number;
  bitfield: BitField;
  _reservations: unknown[];
  prependOnceListener(event: string, fn: () => void): unknown;
}

type PieceClass = new (length: number) => { length: number };

/** Pieces no one has asked for: one frozen Piece per length, shared (a write to one throws). */
const pristine = new WeakSet<object>();
/** Each torrent's two pristine pieces (its piece length, its last piece's length). */
const pristineOf = new WeakMap<object, { regular: object; last: object }>();

function pristinePiece(Piece: PieceClass, length: number): object {
  const p = Object.freeze(new Piece(length));
  pristine.add(p);
  return p;
}

/** Once the bitfield is known: a pristine Piece per piece still missing, null per verified piece, no reservations. */
function compactPieceState(t: TorrentInternals, hashes: PieceHashes, Piece: PieceClass): void {
  const n = hashes.length;
  const regular = pristinePiece(Piece, t.pieceLength);
  const last = pristinePiece(Piece, t.lastPieceLength);
  pristineOf.set(t, { regular, last });
  const pieces = new Array<object | null>(n);
  for (let i = 0; i < n; i++) pieces[i] = t.bitfield.get(i) ? null : i === n - 1 ? last : regular;
  t.pieces = pieces;
  t._reservations = new Array(n).fill(null);
}

type OnMetadata = (this: TorrentInternals, metadata: unknown) => unknown;
type RequestFn = (this: TorrentInternals, wire: unknown, index: number, hotswap: boolean) => boolean;
type MarkFn = (this: TorrentInternals, index: number) => void;

/**
 * Wraps Torrent#_onMetadata, #_request and #_markUnverified on `TorrentProto`; `Piece` is
 * torrent-piece's class.
 */
export function patchPieceState(TorrentProto: object, Piece: PieceClass): void {
  const proto = TorrentProto as { _onMetadata: OnMetadata; _request: RequestFn; _markUnverified: MarkFn };
  for (const m of ['_onMetadata', '_request', '_markUnverified'] as const) {
    if (typeof proto[m] !== 'function') throw new Error(`webtorrent: Torrent#${m} is missing`);
  }
  if (proto._onMetadata.name === 'compactOnMetadata') return;
  const onMetadata = proto._onMetadata;
  proto._onMetadata = function compactOnMetadata(metadata) {
    // Only a torrent added with its metadata (bft2 never adds magnet links): webtorrent then
    // passes the torrent itself, and all of _onMetadata up to 'metadata' runs synchronously.
    if (metadata !== this || this.metadata || this.destroyed) return onMetadata.call(this, metadata);
    // A torrent given as bytes was parsed by parse-torrent: its hex strings go now.
    if (Array.isArray(this.pieces) && this.info?.pieces instanceof Uint8Array && this.info.pieces.length === this.pieces.length * 20) {
      this.pieces = pieceHashList(this.info.pieces);
    }
    const hashes = this.pieces;
    if (!isPieceHashList(hashes)) return onMetadata.call(this, metadata);
    this.prependOnceListener('metadata', () => compactPieceState(this, hashes, Piece));
    hashes.inMetadata = true;
    try {
      return onMetadata.call(this, metadata);
    } finally {
      hashes.inMetadata = false;
    }
  };
  const request = proto._request;
  proto._request = function materializingRequest(wire, index, hotswap) {
    const p = (this.pieces as ({ length: number } | null)[])[index];
    if (p && pristine.has(p)) (this.pieces as unknown[])[index] = new Piece(p.length);
    return request.call(this, wire, index, hotswap);
  };
  // A piece found missing when the data on disk is checked (at start, or a file re-checked)
  // is one nobody has asked for yet: pristine again, not a Piece of its own.
  const markUnverified = proto._markUnverified;
  proto._markUnverified = function pristineUnverified(index) {
    markUnverified.call(this, index);
    const p = pristineOf.get(this);
    const pieces = this.pieces as unknown[];
    if (p) pieces[index] = index === pieces.length - 1 ? p.last : p.regular;
  };
}
