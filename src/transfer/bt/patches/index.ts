// bft2's changes to the BitTorrent libraries' internals, installed once per process before
// the client is used (each file of this folder says what it changes, in which version,
// and why). installBtPatches first checks the installed versions (versions.ts): on any
// other version it throws and changes nothing. Code outside this folder must not reach
// into the libraries' internals.
// Owns the installation order. Must not be skipped: memory and the reconnect policy depend on it.
import { checkBtLibraries } from './versions.ts';
import { patchWireFramer } from './wire-framer.ts';
import { patchPieceBuffer } from './piece-buffer.ts';
import { patchPieceState } from './piece-state.ts';
import { patchUtMetadata } from './ut-metadata.ts';
import { patchReconnect } from './reconnect.ts';
import { patchTrackerAnswer } from './tracker-answer.ts';
import { patchShownPieces } from './shown-pieces.ts';
import { patchLastResort } from './last-resort.ts';
import { patchTrackerPeers } from './tracker-peers.ts';
import { patchWaitForDisk } from './wait-for-disk.ts';
import { acceptsConnections } from '../peer-role.ts';
import { pieceBuffers } from '../buffer-pool.ts';
import { pieceWrites } from '../write-backlog.ts';

export { checkBtLibraries } from './versions.ts';

let installing: Promise<void> | undefined;

/** Checks the versions, then installs every patch; once per process (later calls share the first). */
export function installBtPatches(): Promise<void> {
  installing ??= (async () => {
    checkBtLibraries();
    // The same specifiers webtorrent imports, resolved to the same directories (checked
    // above): these are the very classes it uses.
    const [{ default: Wire }, { default: Piece }, { default: Torrent }] = await Promise.all([
      import('bittorrent-protocol'),
      import('torrent-piece'),
      import('webtorrent/lib/torrent.js'),
    ]);
    patchWireFramer(Wire.prototype);
    patchUtMetadata(Wire.prototype);
    patchPieceBuffer(Piece.prototype, pieceBuffers);
    patchPieceState(Torrent.prototype, Piece as never);
    patchReconnect(Torrent.prototype);
    patchShownPieces(Torrent.prototype, Wire.prototype);
    // Outside piece-state's wrapper of the same function: a request refused here makes no Piece.
    patchLastResort(Torrent.prototype);
    patchWaitForDisk(Torrent.prototype, pieceWrites);
  })();
  return installing;
}

let installingTracker: Promise<void> | undefined;

/** Checks the versions, then patches the embedded tracker's Server (tracker.ts); once per process. */
export function installTrackerPatches(): Promise<void> {
  installingTracker ??= (async () => {
    checkBtLibraries();
    const { Server } = await import('bittorrent-tracker');
    patchTrackerAnswer(Server.prototype);
    const Swarm = (Server as unknown as { Swarm?: { prototype: object } }).Swarm;
    if (!Swarm?.prototype) throw new Error('bittorrent-tracker: Server.Swarm is missing');
    patchTrackerPeers(Swarm.prototype, acceptsConnections);
  })();
  return installingTracker;
}
