// The node's role in its BitTorrent peer id, so a sender can tell its cachers from cinemas
// and the embedded tracker can name the peers that accept connections first.
// Owns the peer id format. Must not depend on the BitTorrent libraries.
import { randomBytes } from 'node:crypto';

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

/** A sender or a cacher: a node that accepts connections from cinemas (a cinema's firewall takes none). */
export function acceptsConnections(peerIdHex: string | null | undefined): boolean {
  const role = roleOfPeer(peerIdHex);
  return role === 'sender' || role === 'cacher';
}
