// Reads into webtorrent 2.8.5's Torrent#discovery (torrent-discovery 11.0.21) to listen to
// its tracker client (bittorrent-tracker 11.2.3's Client): one event per answer to this
// node's announces, for every torrent of the client (downloads and seeds alike) — what the
// tracker said (seeders, leechers) or why it refused (its `failure reason`, or the network
// error). webtorrent passes on neither with its data ('trackerAnnounce' carries none; a
// refusal is a 'warning' among others). The daemon's observability
// (src/observe/tracker-reports.ts) turns them into `progress`, `status`, the page, a
// warning in the log and a metric.
// Owns: listeners on each torrent's tracker client. Must not change a torrent, its
// announces or their timing.
import type { Torrent } from 'webtorrent';
import type { BtClient } from '../bt-client.ts';

export interface AnnounceResult {
  infoHash: string;
  /** The torrent's name. */
  name: string;
  /** The torrent's data directory as added (a download's assembly directory, a seed's parent). */
  dir: string;
  /** The announce URL asked (the torrent's first tracker). */
  tracker: string;
  ok: boolean;
  /** Why it failed: the tracker's `failure reason`, or what the request met (refused, timed out). */
  reason?: string;
  /** The tracker's counts in a successful answer (`complete`, `incomplete`). */
  seeders?: number;
  leechers?: number;
}

export interface AnnounceListener {
  result(r: AnnounceResult): void;
  /** The torrent left the client: its results mean nothing any more. */
  gone(infoHash: string, dir: string): void;
}

interface TrackerClient {
  on(event: 'update', fn: (data: { announce?: string; complete?: number; incomplete?: number }) => void): void;
  on(event: 'warning', fn: (err: Error) => void): void;
}

/** Why a request failed, with the cause undici hides behind `fetch failed` (ECONNREFUSED, ...). */
function reasonOf(err: Error): string {
  const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
  const more = cause?.code ?? cause?.message;
  return more && !err.message.includes(more) ? `${err.message} (${more})` : err.message;
}

/** Calls the listener for every announce answer of every torrent the client gets from now on. */
export function watchAnnounces(client: BtClient, listener: AnnounceListener): void {
  client.wt.on('add', (torrent: Torrent) => {
    // The tracker client exists once the torrent is ready; its first answer comes later (a request).
    torrent.once('ready', () => {
      const discovery = (torrent as unknown as { discovery?: { tracker?: TrackerClient | null } | null }).discovery;
      if (typeof discovery !== 'object' || discovery === null || !('tracker' in discovery)) {
        // Not what this reads (another webtorrent): said, never thrown from a listener.
        client.log.warn(`bt: webtorrent's Torrent#discovery.tracker is missing: the tracker's answers for ${torrent.name} are not known`);
        return;
      }
      const tracker = discovery.tracker;
      if (!tracker) return; // no announce URL
      const base = () => ({ infoHash: torrent.infoHash, name: torrent.name, dir: torrent.path, tracker: (torrent as unknown as { announce?: string[] }).announce?.[0] ?? '' });
      tracker.on('update', (data) => {
        listener.result({ ...base(), ...(data.announce ? { tracker: data.announce } : {}), ok: true, seeders: Number(data.complete ?? 0), leechers: Number(data.incomplete ?? 0) });
      });
      tracker.on('warning', (err) => listener.result({ ...base(), ok: false, reason: reasonOf(err) }));
    });
    torrent.once('close', () => listener.gone(torrent.infoHash, torrent.path));
  });
}
