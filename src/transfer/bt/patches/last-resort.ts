// Patch of webtorrent 2.8.5's Torrent: peers asked for a piece only as a last resort. A
// cacher that asks the centre for pieces another cacher already holds makes the centre
// upload them twice (issue 23: each cacher took a whole copy from the centre). webtorrent
// asks any connected peer for any piece it offers (Torrent#_request, the one place a block
// is requested); here a torrent can name its last-resort peers, and a piece is requested
// from one of them only while another connected peer that does not choke us, and that the
// torrent counts as an alternative, offers it. A cacher counts only other cachers: a cinema
// that holds a piece is no alternative to the centre, its uplink is narrow (in the lab's
// city the cachers took much of their share from cinemas while the centre's uplink idled).
// Owns the wrapper of Torrent#_request and the predicates. Must not change which pieces are
// wanted, nor requests to other peers.

/** True for a connection whose peer is asked only for pieces no other peer offers. */
export type LastResort = (wire: unknown) => boolean;
/** True for a connection whose peer, when it offers a piece, is asked for it instead of a last resort. */
export type Alternative = (wire: unknown) => boolean;

const lastResorts = new WeakMap<object, { isLastResort: LastResort; isAlternative: Alternative }>();

/**
 * From now on, `torrent` asks the peers `isLastResort` names only for pieces no unchoking
 * peer that `isAlternative` names (default: any other) offers.
 */
export function askLastResort(torrent: object, isLastResort: LastResort, isAlternative: Alternative = () => true): void {
  lastResorts.set(torrent, { isLastResort, isAlternative });
}

interface WireInternals {
  peerChoking: boolean;
  destroyed?: boolean;
  peerPieces: { get(i: number): boolean };
}

interface TorrentInternals {
  wires: WireInternals[];
}

/** Whether another connection of `t` than `wire`, an alternative, not a last resort and not choking us, offers `piece`. */
export function offeredElsewhere(t: TorrentInternals, wire: unknown, piece: number, isLastResort: LastResort, isAlternative: Alternative = () => true): boolean {
  for (const w of t.wires) {
    if (w === wire || w.destroyed || w.peerChoking || !w.peerPieces.get(piece) || isLastResort(w) || !isAlternative(w)) continue;
    return true;
  }
  return false;
}

type RequestFn = (this: TorrentInternals, wire: unknown, index: number, hotswap: boolean) => boolean;

/** Wraps Torrent#_request on `TorrentProto`. */
export function patchLastResort(TorrentProto: object): void {
  const proto = TorrentProto as { _request: RequestFn };
  if (typeof proto._request !== 'function') throw new Error('webtorrent: Torrent#_request is missing');
  if (proto._request.name === 'requestUnlessOfferedElsewhere') return;
  const request = proto._request;
  proto._request = function requestUnlessOfferedElsewhere(wire, index, hotswap) {
    const lr = lastResorts.get(this);
    if (lr && lr.isLastResort(wire) && offeredElsewhere(this, wire, index, lr.isLastResort, lr.isAlternative)) return false;
    return request.call(this, wire, index, hotswap);
  };
}
