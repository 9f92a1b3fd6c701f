// Reads into webtorrent 2.8.5's Torrent#discovery (torrent-discovery 11.0.21) to reach its
// tracker client (bittorrent-tracker 11.2.3's Client) and ask for peers now: webtorrent has
// no public call for it, and a receiver that first heard only of the centre learns of the
// cachers this way (SPEC §5) instead of at the next regular announce.
// Owns nothing; a torrent whose internals are not there is an error, never skipped.
import type { Torrent } from 'webtorrent';

interface DiscoveryInternals {
  discovery?: { tracker?: { update?: () => void } | null } | null;
}

/**
 * Announces the torrent to its trackers now. False when it has none (no announce URL);
 * throws when webtorrent's internals are not what this reads.
 */
export function reannounce(torrent: Torrent): boolean {
  const discovery = (torrent as unknown as DiscoveryInternals).discovery;
  if (typeof discovery !== 'object' || discovery === null || !('tracker' in discovery)) {
    throw new Error('webtorrent: Torrent#discovery.tracker is missing: cannot announce again');
  }
  const tracker = discovery.tracker;
  if (tracker === null || tracker === undefined) return false;
  if (typeof tracker.update !== 'function') throw new Error('bittorrent-tracker: Client#update is missing: cannot announce again');
  tracker.update();
  return true;
}
