// Patch of webtorrent 2.8.5's Torrent: which pieces a torrent announces to a new
// connection. webtorrent's Torrent#_onWireWithMetadata sends every connection the
// torrent's whole bitfield (or BEP 6's have-all / have-none); a seed in initial seeding
// (BEP 16, initial-seeding.ts) must show a connection only some pieces, or none, and
// announce more later with HAVE messages (Wire#have, public). Here a torrent can be given
// a chooser: for each new connection it names the pieces to show (one byte per piece,
// 1 = shown), or nothing for webtorrent's own answer. The chosen pieces go out as a
// bitfield message, valid with or without the fast extension.
// Owns the wrapper of Torrent#_onWireWithMetadata and the choosers. Must not change what
// webtorrent does with a connection otherwise (its listeners, interest, requests served).

/** The pieces to show a new connection (1 = shown, one byte per piece), or undefined for all the torrent has. */
export type PieceChooser = (wire: unknown) => Uint8Array | undefined;

const choosers = new WeakMap<object, { choose: PieceChooser; onError: (err: unknown) => void }>();

/**
 * From now on, each new connection of `torrent` is shown what `choose` names. A chooser that
 * throws: the connection is closed and `onError` hears why (the torrent goes on).
 */
export function choosePiecesShown(torrent: object, choose: PieceChooser, onError: (err: unknown) => void): void {
  choosers.set(torrent, { choose, onError });
}

interface WireInternals {
  bitfield(bits: Uint8Array | { buffer: Uint8Array }): void;
  haveAll(): void;
  haveNone(): void;
  destroy(): void;
}

/** A bitfield message's bytes for one byte per piece (BEP 3: high bit first, spare bits 0). */
export function bitfieldBytes(shown: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(shown.length / 8));
  for (let i = 0; i < shown.length; i++) if (shown[i] === 1) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

type OnWireFn = (this: object, wire: WireInternals) => unknown;

/** Wraps Torrent#_onWireWithMetadata on `TorrentProto`; `WireProto` is bittorrent-protocol's Wire.prototype. */
export function patchShownPieces(TorrentProto: object, WireProto: object): void {
  const proto = TorrentProto as { _onWireWithMetadata: OnWireFn };
  const wireProto = WireProto as Partial<WireInternals>;
  if (typeof proto._onWireWithMetadata !== 'function') throw new Error('webtorrent: Torrent#_onWireWithMetadata is missing');
  for (const m of ['bitfield', 'haveAll', 'haveNone'] as const) {
    if (typeof wireProto[m] !== 'function') throw new Error(`bittorrent-protocol: Wire#${m} is missing`);
  }
  if (proto._onWireWithMetadata.name === 'onWireShowingChosen') return;
  const onWire = proto._onWireWithMetadata;
  const sendBitfield = wireProto.bitfield!;
  proto._onWireWithMetadata = function onWireShowingChosen(wire) {
    const c = choosers.get(this);
    if (!c) return onWire.call(this, wire);
    let shown: Uint8Array | undefined;
    try {
      shown = c.choose(wire);
    } catch (err) {
      wire.destroy();
      c.onError(err);
      return;
    }
    if (!shown) return onWire.call(this, wire);
    const bits = bitfieldBytes(shown);
    // webtorrent sends exactly one of these three at the end of _onWireWithMetadata; each
    // sends the chosen bitfield instead, for this call only.
    const instead = () => sendBitfield.call(wire, bits);
    const own = wire as unknown as Record<string, unknown>;
    own.bitfield = instead;
    own.haveAll = instead;
    own.haveNone = instead;
    try {
      return onWire.call(this, wire);
    } finally {
      delete own.bitfield;
      delete own.haveAll;
      delete own.haveNone;
    }
  };
}
