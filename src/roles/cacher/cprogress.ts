// The `cprogress` answer (SPEC §5 cacher, seed §4.3.4) as a pure function of a task's
// state: where its file is, whether its share is in the BitTorrent client, its `.err`.
// Owns the answer's fields and texts. No I/O.
import { formatPercentDone, formatRate } from '../receiver/progress-math.ts';

export type SeedStatus = 'seeding' | 'noseeding' | 'seeding error' | 'noseeding error';

export interface CprogressState {
  /** The spool directory the task file is in (never tmp). */
  state: 'queues' | 'downloading' | 'downloaded' | 'history';
  taskfile: string;
  /** `data/transfer/bt/<basesubdir>/<torrent name>`. */
  dataDir: string;
  /** First line of `<task>.err`, if any. */
  err?: string;
  cancelled?: boolean;
  /** The share in the client (absent: not added yet, stopped, or the task is not downloading). */
  share?: { servable: boolean; verifiedBytes: number; totalBytes: number; uploaded: number; peers: number };
  seedleftMinutes: number;
  /** While its share downloads: the rate, why BitTorrent brings nothing, and the stall (see task-download.ts). */
  download?: { rate: number; notes: string; stalled: string };
}

export function cprogressAnswer(s: CprogressState): Record<string, unknown> {
  // Seeding: in the client with something to serve (a cacher serves while it downloads).
  const seeding = s.state === 'downloading' && s.share?.servable === true;
  const status: SeedStatus = `${seeding ? 'seeding' : 'noseeding'}${s.err ? ' error' : ''}` as SeedStatus;
  let desc: string;
  if (s.err) desc = s.err;
  else if (s.state === 'queues') desc = 'task in queues, no seeding now.';
  else if (s.state === 'downloading') desc = `btseeding dir:${s.dataDir}`;
  else if (s.cancelled) desc = `cancelled, data deleted: ${s.dataDir}`;
  else desc = `seed time over, data deleted: ${s.dataDir}`;
  const share = s.state === 'downloading' ? s.share : undefined;
  return {
    status,
    Status: status,
    desc,
    taskfile: s.taskfile,
    seedleft: s.state === 'downloaded' || s.state === 'history' ? 0 : s.seedleftMinutes,
    uploaded: share?.uploaded ?? 0,
    peers: share?.peers ?? 0,
    percent: share ? formatPercentDone(share.verifiedBytes, share.totalBytes) : '0.000%',
    ...(s.state === 'downloading' && s.download && !s.err ? { rate: formatRate(s.download.rate), notes: s.download.notes, stalled: s.download.stalled } : {}),
  };
}
