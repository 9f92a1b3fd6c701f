// Initial seeding (BitTorrent's super-seeding, BEP 16, dealt in windows): which pieces the
// centre shows each cacher while no peer holds the complete data, so that the centre
// uploads each piece about once and the cachers get the rest from each other. The centre
// shows a cacher only pieces dealt to it, a few at a time (`windowPieces`): a piece is dealt
// to one cacher when no connected cacher holds it and none is fetching it; when the cacher
// announces it (HAVE), the next piece is dealt. The deal follows `order`, and a fast cacher
// gets more pieces than a slow one. When a cacher leaves, the pieces only it held and those
// dealt to it go back to the deal. A piece dealt longer than `staleMs` ago and still
// nowhere (a cacher that stalls) may be dealt again to another cacher once nothing else is
// left to deal, so no piece waits on one slow peer. Once a connected peer holds every
// piece, initial seeding is over and every peer is shown everything.
// Pure: peers are names, pieces numbers, time is passed in; bt-seed.ts turns what this
// answers into messages on the wires.
// Owns the deal. Must not decide who is a cacher (the caller does) or touch a connection.

export interface InitialSeedingOptions {
  pieceCount: number;
  /** The order pieces are dealt in (every piece once); default 0..n-1. */
  order?: readonly number[];
  /** Pieces a cacher is dealt ahead (being fetched), at least 1. */
  windowPieces: number;
  /** A dealt piece no one announced after this long may be dealt again to another cacher. */
  staleMs: number;
  now?: () => number;
}

interface PeerState {
  /** 1 per piece the peer holds. */
  has: Uint8Array;
  held: number;
  /** 1 per piece shown to the peer. */
  shown: Uint8Array;
  /** Every piece is shown (after the end). */
  shownAll: boolean;
  /** Pieces dealt to it and not yet announced. */
  dealt: Set<number>;
}

/** Pieces newly shown, per peer: the caller announces each with a HAVE on the peer's connections. */
export type Reveals = Map<string, number[]>;

export class InitialSeeding {
  private readonly n: number;
  private readonly order: readonly number[];
  private readonly peers = new Map<string, PeerState>();
  /** Connected peers holding each piece. */
  private readonly holders: Uint16Array;
  /** Connected peers each piece is dealt to and not yet announced by. */
  private readonly fetchers: Uint16Array;
  /** When each piece was last dealt (ms); a piece is dealt again only staleMs after. */
  private readonly dealtAt: Float64Array;
  /** Pieces back in the deal (their cacher left); dealt before the cursor moves on. */
  private returned: number[] = [];
  /** Position in `order` before which every piece was dealt or held. */
  private cursor = 0;
  private over = false;
  private readonly now: () => number;

  constructor(private readonly o: InitialSeedingOptions) {
    this.n = o.pieceCount;
    this.order = o.order ?? Array.from({ length: o.pieceCount }, (_, i) => i);
    if (this.order.length !== this.n || new Set(this.order).size !== this.n || this.order.some((i) => !(i >= 0 && i < this.n))) {
      throw new Error(`the deal order must name each of the ${this.n} pieces once`);
    }
    if (!(o.windowPieces >= 1)) throw new Error('windowPieces must be at least 1');
    this.holders = new Uint16Array(this.n);
    this.fetchers = new Uint16Array(this.n);
    this.dealtAt = new Float64Array(this.n);
    this.now = o.now ?? Date.now;
  }

  /** Initial seeding is on: no connected peer has held every piece yet. */
  get active(): boolean {
    return !this.over;
  }

  /** Whether `piece` is shown to `peer`. */
  isShown(peer: string, piece: number): boolean {
    const p = this.peers.get(peer);
    return p !== undefined && (p.shownAll || p.shown[piece] === 1);
  }

  /** Pieces dealt to `peer` that it has not announced yet. */
  dealtTo(peer: string): number[] {
    return [...(this.peers.get(peer)?.dealt ?? [])];
  }

  /**
   * A cacher connected; returns what to show it first, one byte per piece (1 = shown):
   * nothing for a new cacher while initial seeding is on (deal() then deals it pieces),
   * what it was shown already for a second connection of the same peer, every piece after
   * the end.
   */
  join(peer: string): Uint8Array {
    let p = this.peers.get(peer);
    if (!p) {
      p = { has: new Uint8Array(this.n), held: 0, shown: new Uint8Array(this.n), shownAll: false, dealt: new Set() };
      this.peers.set(peer, p);
    }
    if (this.over && !p.shownAll) {
      p.shown.fill(1);
      p.shownAll = true;
    }
    return new Uint8Array(p.shown);
  }

  /** The peer announced `piece` (its bitfield or a HAVE). */
  has(peer: string, piece: number): void {
    const p = this.peers.get(peer);
    if (!p || !(piece >= 0 && piece < this.n) || p.has[piece] === 1) return;
    p.has[piece] = 1;
    p.held += 1;
    this.holders[piece] += 1;
    if (p.dealt.delete(piece)) this.fetchers[piece] -= 1;
    if (p.held === this.n) this.over = true;
  }

  /** The peer holds every piece (BEP 6 have-all). */
  hasAll(peer: string): void {
    for (let i = 0; i < this.n; i++) this.has(peer, i);
  }

  /** A cacher's last connection closed: what only it held, and what only it was fetching, goes back to the deal. */
  leave(peer: string): void {
    const p = this.peers.get(peer);
    if (!p) return;
    this.peers.delete(peer);
    for (const i of p.dealt) this.fetchers[i] -= 1;
    for (let i = 0; i < this.n; i++) {
      if (p.has[i] === 1) this.holders[i] -= 1;
      if ((p.has[i] === 1 || p.dealt.has(i)) && this.holders[i] === 0 && this.fetchers[i] === 0) this.returned.push(i);
    }
  }

  /**
   * Tops up every connected cacher's window; after the end, shows every peer everything
   * not shown yet. Returns the pieces newly shown, per peer.
   */
  deal(): Reveals {
    const reveals: Reveals = new Map();
    const show = (peer: string, p: PeerState, piece: number) => {
      if (p.shown[piece] === 1) return;
      p.shown[piece] = 1;
      let list = reveals.get(peer);
      if (!list) reveals.set(peer, (list = []));
      list.push(piece);
    };
    if (this.over) {
      for (const [peer, p] of this.peers) {
        if (p.shownAll) continue;
        for (let i = 0; i < this.n; i++) show(peer, p, i);
        p.shownAll = true;
      }
      return reveals;
    }
    // Fewest pieces in flight first: a cacher that just announced one is topped up before
    // the others take the rest; then round by round, one piece each.
    const waiting = [...this.peers.entries()].filter(([, p]) => p.dealt.size < this.o.windowPieces).sort((a, b) => a[1].dealt.size - b[1].dealt.size);
    for (let progress = true; progress; ) {
      progress = false;
      for (const [peer, p] of waiting) {
        if (p.dealt.size >= this.o.windowPieces) continue;
        const piece = this.nextFree() ?? this.nextStale(p);
        if (piece === undefined) continue;
        p.dealt.add(piece);
        this.fetchers[piece] += 1;
        this.dealtAt[piece] = this.now();
        show(peer, p, piece);
        progress = true;
      }
    }
    return reveals;
  }

  /** The next piece no connected cacher holds or fetches, in deal order. */
  private nextFree(): number | undefined {
    const free = (i: number) => this.holders[i] === 0 && this.fetchers[i] === 0;
    while (this.returned.length > 0) {
      const i = this.returned.shift()!;
      if (free(i)) return i;
    }
    while (this.cursor < this.n) {
      const i = this.order[this.cursor++];
      if (free(i)) return i;
    }
    return undefined;
  }

  /** The piece dealt longest ago, more than staleMs ago, that no one holds and `p` is not fetching. */
  private nextStale(p: PeerState): number | undefined {
    const cutoff = this.now() - this.o.staleMs;
    let best: number | undefined;
    for (const q of this.peers.values()) {
      if (q === p) continue;
      for (const i of q.dealt) {
        if (this.dealtAt[i] > cutoff || this.holders[i] > 0 || p.dealt.has(i)) continue;
        if (best === undefined || this.dealtAt[i] < this.dealtAt[best]) best = i;
      }
    }
    return best;
  }
}
