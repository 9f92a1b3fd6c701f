// The receiver's `progress` answer (SPEC §9, §8) as a function of what there is: the task
// file, its state directory, its `.err`, and — while it downloads — the download's snapshot
// (bytes per method, rates, windows, rebalanced bytes) or, for a stopped task, the bytes on
// disk. Percents, rates and the ETA (which counts the closed hours of each method's window)
// come from progress-math.ts. Owns nothing; reads only.
import { formatPercent, formatRate, etaMinutes, etaWithWindows } from './progress-math.ts';
import { formatLocalTime } from '../../util/time.ts';
import { METHODS, type Method, type Task } from '../../task/schema.ts';
import type { DownloadSnapshot } from '../../download/task-download.ts';

export function emptyProgress(status: string): Record<string, unknown> {
  return {
    status,
    taskfile: '',
    taskfullpath: '',
    dcppath: '',
    btstatus: 'nobtseeding',
    downerror: '',
    downloaded: 0,
    rate: '',
    totalpercent: '0.000%',
    totoalpercent: '0.000%',
    btrate: '',
    btpercent: '0.000%',
    obsrate: '',
    obspercent: '0.000%',
    cdnrate: '',
    cdnpercent: '0.000%',
    ecompletedtime: -1,
    bt2downpercent: '0.000%',
    obs2downpercent: '0.000%',
    cdn2downpercent: '0.000%',
    localsamepercent: '0.000%',
    btnext: '',
    obsnext: '',
    cdnnext: '',
    totalbytes: '0',
  };
}

export interface DownloadingView {
  t: Task;
  /** Each method's planned bytes (lists2 sizes). */
  shares: Record<Method, number>;
  localBytes: number;
  /** Bytes on disk per method (running: the snapshot's; stopped: what the part files hold). */
  bytes: Record<Method, number>;
  snapshot?: DownloadSnapshot;
  error?: string;
  retrying: string;
  /** Why a task in downloading is not running (another task works on the same DCP), when it is not. */
  waiting?: string;
  seeding: boolean;
  now?: Date;
}

/** The figures of a task in `downloading`. */
export function downloadingProgress(v: DownloadingView): Record<string, unknown> {
  const size = v.t.size;
  const s = v.snapshot;
  const downloaded = METHODS.reduce((n, m) => n + v.bytes[m], 0) + v.localBytes;
  const total = formatPercent(downloaded, size);
  const rateOf = (m: Method) => (s && (v.shares[m] > 0 || s.bytes[m] > 0) ? formatRate(s.rates[m]) : '');
  const next = (m: Method) => (s?.next[m] ? formatLocalTime(s.next[m]) : '');
  const waiting = s ? METHODS.map((m) => s.waiting[m]).filter(Boolean) : v.waiting ? [v.waiting] : [];
  const rate = s ? METHODS.reduce((n, m) => n + s.rates[m], 0) : 0;
  let eta = -1;
  if (!v.error && s) {
    // A method waiting for its window has no rate now: the one it had when it last ran counts.
    const lanes = METHODS.filter((m) => s.remaining[m] > 0).map((m) => ({ remaining: s.remaining[m], rate: s.rates[m] || s.lastRates[m], windows: s.windows[m] }));
    eta = lanes.length === 0 ? 0 : etaWithWindows(lanes, v.now ?? new Date());
  } else if (!v.error) eta = etaMinutes(size - downloaded, rate);
  const moved = s?.moved.filter((x) => x.bytes > 0).map((x) => `${x.to} took ${x.bytes} bytes from ${x.from}`) ?? [];
  return {
    status: v.error ? 'downloaderror' : 'downloading',
    btstatus: v.seeding ? 'btseeding' : 'nobtseeding',
    downerror: v.error ?? v.retrying,
    downloaded,
    rate: s ? formatRate(rate) : '',
    totalpercent: total,
    totoalpercent: total,
    btrate: rateOf('bt'),
    btpercent: formatPercent(v.bytes.bt, size),
    obsrate: rateOf('obs'),
    obspercent: formatPercent(v.bytes.obs, size),
    cdnrate: rateOf('cdn'),
    cdnpercent: formatPercent(v.bytes.cdn, size),
    ecompletedtime: eta,
    btnext: next('bt'),
    obsnext: next('obs'),
    cdnnext: next('cdn'),
    waiting: waiting.join('; '),
    rebalanced: moved.join('; '),
    rebalancedbytes: s?.moved.reduce((n, x) => n + x.bytes, 0) ?? 0,
    peers: s?.peers ?? 0,
    // Why a method moves nothing (failed for good, no peers, the tracker's error), and the stall once nothing lands for 30 s.
    notes: s ? METHODS.map((m) => s.notes[m]).filter(Boolean).join('; ') : '',
    stalled: s && !v.error ? s.stalled : '',
  };
}
