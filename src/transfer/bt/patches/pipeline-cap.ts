// Reads into bittorrent-protocol 4.1.21's Wire#peerExtendedHandshake, the record of the
// peer's extended handshake (BEP 10) where webtorrent 2.8.5 reads `reqq`, the number of
// block requests the peer accepts outstanding. webtorrent asks a peer for a second's worth
// of blocks at the speed it measures, bounded only by that reqq, and holds every answered
// block in memory until its piece is complete and written: on loopback that was about
// 100 MB in flight (issue 10). Capping reqq in the record caps the pipeline; 128 blocks
// (2 MiB) keep a link of 160 Mbit/s with 100 ms of round trip full.
// Owns the cap on one wire's record. A wire without the record is an error, never skipped.
import type { Wire } from 'webtorrent';

interface HandshakeRecord {
  peerExtendedHandshake?: { reqq?: unknown } | null;
}

function recordOf(wire: Wire): { reqq?: unknown } {
  const h = (wire as unknown as HandshakeRecord).peerExtendedHandshake;
  if (typeof h !== 'object' || h === null) throw new Error('bittorrent-protocol: Wire#peerExtendedHandshake is missing: cannot cap the request pipeline');
  return h;
}

/** At most `blocks` block requests outstanding to the wire's peer, now and after its extended handshake. */
export function capPipeline(wire: Wire, blocks: number, onError: (err: unknown) => void): void {
  if (!(blocks > 0)) return;
  const cap = () => {
    const h = recordOf(wire);
    h.reqq = typeof h.reqq === 'number' && h.reqq > 0 ? Math.min(h.reqq, blocks) : blocks;
  };
  cap();
  // The peer's extended handshake replaces the record: cap the new one.
  wire.on('extended', (ext: unknown) => {
    if (ext !== 'handshake') return;
    try {
      cap();
    } catch (err) {
      onError(err);
    }
  });
}
