// Patch of bittorrent-tracker 11.2.3's Swarm (the embedded tracker, tracker.ts): which
// peers an announce answer names. The package picks `numwant` peers (50 by default, 82 at
// most) at random, and names the announcing peer itself too. In a city's swarm most peers
// are cinemas behind firewalls, which no peer can connect to: with 60 cinemas and 4 cachers
// a cinema asking for 50 peers missed at least one cacher about two times in three, and a
// cacher it does not know cannot serve it until its next announce. Here the peers that
// accept connections (the sender and cachers, by the role in their bft2 peer id) come
// first, the others after them at random, and the announcing peer is left out.
// Owns the wrapper of Swarm#_getPeers. Must not change the answer's size or anything else in it.

interface SwarmPeer {
  peerId: string;
  type: string;
}

interface SwarmInternals {
  peers: { keys: string[]; peek(key: string): SwarmPeer | undefined };
}

type GetPeersFn = (this: SwarmInternals, numwant: number, ownPeerId: string, isWebRTC: boolean) => SwarmPeer[];

/** `peers` with those `reachable` names first (each group in random order), at most `numwant`, without `own`. */
export function reachableFirst(peers: SwarmPeer[], numwant: number, own: string, reachable: (peerId: string) => boolean): SwarmPeer[] {
  const shuffled = peers.filter((p) => p.peerId !== own);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const first = shuffled.filter((p) => reachable(p.peerId));
  const rest = shuffled.filter((p) => !reachable(p.peerId));
  return [...first, ...rest].slice(0, numwant);
}

/** Whether a swarm has the LRU of peers this patch reads (`keys`, `peek`). */
export function hasPeerList(swarm: SwarmInternals): boolean {
  return Array.isArray(swarm.peers?.keys) && typeof swarm.peers.peek === 'function';
}

/** Wraps Swarm#_getPeers on `SwarmProto` (bittorrent-tracker's `Server.Swarm.prototype`); HTTP answers only. */
export function patchTrackerPeers(SwarmProto: object, reachable: (peerId: string) => boolean): void {
  const proto = SwarmProto as { _getPeers: GetPeersFn };
  if (typeof proto._getPeers !== 'function') throw new Error('bittorrent-tracker: Swarm#_getPeers is missing');
  if (proto._getPeers.name === 'reachablePeersFirst') return;
  const getPeers = proto._getPeers;
  proto._getPeers = function reachablePeersFirst(numwant, ownPeerId, isWebRTC) {
    // WebSocket (WebRTC) swarms keep the package's answer (the embedded tracker serves HTTP
    // only), and so does a swarm whose peer list is not what this reads: an exception here
    // would end the daemon from inside the tracker's request handler. The patch test checks
    // the real Swarm has it.
    if (isWebRTC || !hasPeerList(this)) return getPeers.call(this, numwant, ownPeerId, isWebRTC);
    const all = this.peers.keys.map((k) => this.peers.peek(k)).filter((p): p is SwarmPeer => p !== undefined && p.type !== 'ws');
    return reachableFirst(all, numwant, ownPeerId, reachable);
  };
}
