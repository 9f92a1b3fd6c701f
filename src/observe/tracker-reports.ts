// What the BitTorrent tracker last answered for each torrent of this node (issue 22): a
// refusal (`tracker error: <reason>`) is logged at warn level once per reason and counted
// in /metrics; its end is logged too. A receiver's `progress` says it beside `no peers`, a
// sender's `uploadprogress` beside its seeding, so an operator learns of a tracker that
// refuses a torrent (an opentracker whitelist) or cannot be reached without reading debug
// logs. Fed by the BitTorrent layer's announce events (transfer/bt/patches/announce-events.ts).
// Owns: the last answer per torrent. Must not touch the torrents or their announces.
import type { AnnounceListener, AnnounceResult } from '../transfer/bt/patches/announce-events.ts';
import type { Logger } from '../log/logger.ts';
import { formatLocalTime } from '../util/time.ts';

export interface TrackerAnswer extends AnnounceResult {
  at: Date;
}

export class TrackerReports implements AnnounceListener {
  private readonly last = new Map<string, TrackerAnswer>();

  constructor(
    private readonly log: Logger,
    /** Each answer, for the metrics. */
    private readonly counted: (ok: boolean) => void = () => {},
  ) {}

  result(r: AnnounceResult): void {
    const key = keyOf(r.infoHash, r.dir);
    const prev = this.last.get(key);
    this.last.set(key, { ...r, at: new Date() });
    this.counted(r.ok);
    if (!r.ok && (!prev || prev.ok || prev.reason !== r.reason)) this.log.warn(`bt: tracker error for ${r.name} (${r.infoHash}) at ${r.tracker}: ${r.reason}`);
    else if (r.ok && prev && !prev.ok) this.log.info(`bt: tracker ${r.tracker} answers for ${r.name} (${r.infoHash}) again: ${counts(r)}`);
  }

  gone(infoHash: string, dir: string): void {
    this.last.delete(keyOf(infoHash, dir));
  }

  /** The last answers for the torrents whose data is in `dir` (a download's assembly directory). */
  forDir(dir: string): TrackerAnswer[] {
    return [...this.last.values()].filter((a) => a.dir === dir);
  }

  forInfoHash(infoHash: string): TrackerAnswer[] {
    return [...this.last.values()].filter((a) => a.infoHash === infoHash);
  }

  /** Torrents whose last announce failed. */
  failing(): number {
    let n = 0;
    for (const a of this.last.values()) if (!a.ok) n++;
    return n;
  }
}

function keyOf(infoHash: string, dir: string): string {
  return `${infoHash} ${dir}`;
}

function counts(a: AnnounceResult): string {
  return `${a.seeders ?? 0} seeder${a.seeders === 1 ? '' : 's'}, ${a.leechers ?? 0} leecher${a.leechers === 1 ? '' : 's'}`;
}

/**
 * One line for progress and status: `tracker error: <reason>` when an answer says so, else
 * what the tracker answered last (`tracker answered 0 seeders, 1 leecher at 12:00:05`);
 * '' when there is no answer yet.
 */
export function describeTracker(answers: TrackerAnswer[]): string {
  const failed = answers.find((a) => !a.ok);
  if (failed) return `tracker error: ${failed.reason} (${failed.tracker}, ${formatLocalTime(failed.at)})`;
  const ok = answers[0];
  return ok ? `tracker answered ${counts(ok)} at ${formatLocalTime(ok.at)}` : '';
}

/**
 * Why BitTorrent brings nothing, as far as the peers and the tracker tell: `no peers` with
 * what the tracker answered, or its error; '' while peers are connected and it answers.
 */
export function describePeers(peers: number, answers: TrackerAnswer[]): string {
  const tracker = describeTracker(answers);
  if (tracker.startsWith('tracker error')) return peers === 0 ? `no peers; ${tracker}` : tracker;
  if (peers > 0) return '';
  return `no peers (${tracker || 'no answer from the tracker yet'})`;
}
