// After a tracker refuses a torrent (an opentracker whitelist without its hash) or cannot be
// reached, webtorrent announces again only at its regular interval, 30 minutes: a hash the
// operator whitelists a minute later stays unknown to the swarm for half an hour. This
// listener to the announce answers (patches/announce-events.ts) announces again 30 s after a
// failure, the delay doubling on each further failure up to 10 minutes, and back to 30 s
// once the tracker answers.
// Owns: one timer per failing torrent. Must not touch a torrent that answers, nor the
// regular announces.
import type { BtClient } from './bt-client.ts';
import type { AnnounceListener, AnnounceResult } from './patches/announce-events.ts';
import { reannounce } from './patches/reannounce.ts';
import { messageOf } from '../../errors/catalogue.ts';

export const FIRST_RETRY_MS = 30_000;
export const LAST_RETRY_MS = 10 * 60_000;

/** The delay before the next announce after `failures` failures in a row (1 = the first). */
export function announceRetryDelay(failures: number): number {
  return Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

export class AnnounceRetry implements AnnounceListener {
  private readonly failing = new Map<string, { failures: number; timer?: NodeJS.Timeout }>();

  constructor(private readonly client: BtClient) {}

  result(r: AnnounceResult): void {
    const key = `${r.infoHash} ${r.dir}`;
    if (r.ok) {
      this.clear(key);
      return;
    }
    const state = this.failing.get(key) ?? { failures: 0 };
    this.failing.set(key, state);
    // One answer per tracker: a torrent with two failing trackers counts one failure per round.
    if (state.timer) return;
    state.failures++;
    const delay = announceRetryDelay(state.failures);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      const torrent = this.client.wt.torrents.find((t) => t.infoHash === r.infoHash && t.path === r.dir);
      if (!torrent) return this.clear(key);
      try {
        reannounce(torrent);
        this.client.log.debug(`bt: announcing ${r.name} (${r.infoHash}) again after ${state.failures} failed announce(s)`);
      } catch (err) {
        this.client.log.warn(`bt: cannot announce ${r.name} again: ${messageOf(err)}`);
      }
    }, delay);
    state.timer.unref();
  }

  gone(infoHash: string, dir: string): void {
    this.clear(`${infoHash} ${dir}`);
  }

  private clear(key: string): void {
    const state = this.failing.get(key);
    if (state?.timer) clearTimeout(state.timer);
    this.failing.delete(key);
  }
}
