// How the distribution centre's seed serves its swarm (SPEC §5), so that its upload for a
// delivery to N cinemas through C cachers stays near one copy of the share, not C or N:
// - cinemas are left to the cachers: while a cacher is connected, a cinema (any peer that
//   is not a bft2 cacher) is shown no piece and served nothing; its connection stays open,
//   so when the last cacher goes it is shown every piece at once (no redial, no wait).
//   A cinema served while no cacher was connected is disconnected when one arrives (a
//   piece once shown cannot be taken back); it reconnects and waits like the others;
// - initial seeding (initial-seeding.ts, BEP 16 dealt in windows): until a peer holds the
//   complete data, each cacher is shown only the pieces dealt to it, each piece dealt to one
//   cacher, so the cachers get the rest from each other.
// Without it each cacher took a whole copy from the centre (issue 23; docs/performance.md,
// "The city").
// Owns the policy's state per seed. Must not serve, read or write data (webtorrent does),
// nor touch other torrents.
import type { Torrent, Wire } from 'webtorrent';
import type { Logger } from '../../log/logger.ts';
import { roleOfPeer } from './peer-role.ts';
import { InitialSeeding } from './initial-seeding.ts';
import { choosePiecesShown } from './patches/shown-pieces.ts';

/** How often the policy looks at its peers besides their events: cachers gone, dealt pieces gone stale. */
const CHECK_MS = 2000;
/** Bytes a cacher is dealt ahead: enough to keep its link from the centre busy while it announces a piece. */
const WINDOW_BYTES = 8 * 1024 * 1024;

export interface CentrePolicy {
  /** Cinemas are left to the connected cachers. */
  handedOver(): boolean;
  /** Cachers are shown only the pieces dealt to them (no peer has held the complete data yet). */
  initialSeeding(): boolean;
}

/** Pieces a cacher is dealt ahead, for a torrent of this piece length. */
export function windowPieces(pieceLength: number): number {
  return Math.max(2, Math.ceil(WINDOW_BYTES / pieceLength));
}

/** How long a dealt piece may go unannounced before another cacher may be dealt it too: 30 s plus a piece at 1 MB/s. */
export function staleMs(pieceLength: number): number {
  return 30_000 + pieceLength / 1000;
}

/**
 * The order pieces are dealt in: the first piece of every file, then the second of every
 * file, and so on. A cinema starts on a file picked at random (bt-source.ts startFile) and
 * fetches it front to back, so the front of each file reaches the cachers first.
 */
export function dealOrder(pieceCount: number, pieceLength: number, files: readonly { offset: number; length: number }[]): number[] {
  const sorted = [...files].filter((f) => f.length > 0).sort((a, b) => a.offset - b.offset);
  const depth = new Float64Array(pieceCount);
  let f = 0;
  for (let i = 0; i < pieceCount; i++) {
    const at = i * pieceLength;
    while (f + 1 < sorted.length && sorted[f + 1].offset <= at) f++;
    depth[i] = sorted.length ? at - sorted[f].offset : at;
  }
  return Array.from({ length: pieceCount }, (_, i) => i).sort((a, b) => depth[a] - depth[b] || a - b);
}

export function applyCentrePolicy(torrent: Torrent, name: string, log: Logger): CentrePolicy {
  const n = torrent.pieces.length;
  const isCacher = (w: Wire) => roleOfPeer(w.peerId) === 'cacher';
  // A seed missing pieces (its data changed) deals nothing it cannot serve: no initial seeding.
  const dealer = torrent.progress >= 1 ? new InitialSeeding({ pieceCount: n, order: dealOrder(n, torrent.pieceLength, torrent.files), windowPieces: windowPieces(torrent.pieceLength), staleMs: staleMs(torrent.pieceLength) }) : undefined;
  let handedOver = false;
  let announcedEnd = false;
  /** Connections shown every piece (cinemas while no cacher is connected). */
  const shownAll = new Set<Wire>();
  /** Cinemas kept waiting, shown nothing. */
  const waiting = new Set<Wire>();
  /** Each cacher's open connections, by peer id. */
  const cachers = new Map<string, Set<Wire>>();

  // Listener and timer bodies must not throw into the process: a failure is logged and the
  // seed goes on serving every peer as webtorrent would.
  let broken = false;
  const fail = (err: unknown) => {
    if (broken) return;
    broken = true;
    log.error(`bt seed ${name}: the centre's seeding policy failed, serving every peer from now on: ${(err as Error).message}`);
    for (const [peer, wires] of cachers) for (const w of wires) revealAll(w, peer);
    for (const w of waiting) revealAll(w);
    waiting.clear();
  };
  const guarded =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A) => {
      if (broken || torrent.destroyed) return;
      try {
        fn(...args);
      } catch (err) {
        fail(err);
      }
    };

  /** Shows `w` every piece the seed has that `peer`'s dealer did not show it yet (a cinema: all). */
  function revealAll(w: Wire, peer?: string): void {
    if (w.destroyed) return;
    try {
      for (let i = 0; i < n; i++) if (torrent.bitfield?.get(i) && !(peer && dealer?.isShown(peer, i))) w.have(i);
    } catch {
      w.destroy();
    }
  }

  /** Deals, and announces what was dealt on each cacher's connections. */
  const deal = () => {
    if (!dealer) return;
    for (const [peer, pieces] of dealer.deal()) for (const w of cachers.get(peer) ?? []) for (const i of pieces) if (!w.destroyed) w.have(i);
    if (!dealer.active && !announcedEnd) {
      announcedEnd = true;
      log.info(`bt seed ${name}: a peer holds the complete data; initial seeding is over, cachers are shown every piece`);
    }
  };

  const check = guarded(() => {
    const connected = torrent.wires.filter(isCacher).length;
    if ((connected > 0) !== handedOver) {
      handedOver = connected > 0;
      log.info(handedOver ? `bt seed ${name}: a cacher is connected; the centre serves the cachers, cinemas are left to them` : `bt seed ${name}: no cacher connected; serving every peer`);
      if (handedOver) {
        for (const w of shownAll) w.destroy();
        shownAll.clear();
      } else {
        for (const w of waiting) {
          revealAll(w);
          shownAll.add(w);
        }
        waiting.clear();
      }
    }
    deal();
  });

  const joinCacher = (w: Wire): Uint8Array | undefined => {
    const peer = w.peerId!;
    let wires = cachers.get(peer);
    if (!wires) cachers.set(peer, (wires = new Set()));
    wires.add(w);
    if (!dealer) return undefined;
    const shown = dealer.join(peer);
    const have = guarded((i: number) => {
      dealer.has(peer, i);
      deal();
    });
    const haveAll = guarded(() => {
      dealer.hasAll(peer);
      deal();
    });
    const bitfield = guarded(() => {
      for (let i = 0; i < n; i++) if (w.peerPieces.get(i)) dealer.has(peer, i);
      deal();
    });
    w.on('have', have);
    w.on('bitfield', bitfield);
    w.on('have-all', haveAll);
    w.once(
      'close',
      guarded(() => {
        wires.delete(w);
        if (wires.size > 0) return;
        cachers.delete(peer);
        dealer.leave(peer);
        deal();
      }),
    );
    // What it announced before these listeners (its bitfield may come with its handshake),
    // then its first pieces once the bitfield below has gone out.
    for (let i = 0; i < n; i++) if (w.peerPieces.get(i)) dealer.has(peer, i);
    queueMicrotask(guarded(deal));
    // Every piece shown already (initial seeding over): webtorrent's own bitfield.
    return shown.every((x) => x === 1) ? undefined : shown;
  };

  choosePiecesShown(
    torrent,
    (wire) => {
      const w = wire as Wire;
      if (broken) return undefined;
      if (isCacher(w)) return joinCacher(w);
      w.once('close', () => {
        shownAll.delete(w);
        waiting.delete(w);
      });
      if (handedOver || torrent.wires.some(isCacher)) {
        waiting.add(w);
        return new Uint8Array(n);
      }
      shownAll.add(w);
      return undefined;
    },
    fail,
  );
  // A cacher connecting is seen at once (its wire event), the rest every CHECK_MS.
  torrent.on('wire', (w: Wire) => queueMicrotask(() => (isCacher(w) ? check() : undefined)));
  const timer = setInterval(check, CHECK_MS);
  timer.unref();
  torrent.once('close', () => clearInterval(timer));
  return { handedOver: () => handedOver && !broken, initialSeeding: () => dealer?.active === true && !broken };
}
