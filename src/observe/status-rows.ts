// The rows of `bft2 status`: every task of every role on this root, one row per task and
// role, from the spool directories (which tasks exist) and the daemon's own answers
// (`progress`, `uploadprogress`, `cprogress`: where they are, how far, why they wait).
// A task filed twice (in history from an earlier run and live again) is one row: the
// API answers for the live one. Knows nothing of terminals or pages: the CLI's
// status-command.ts prints the rows, the daemon's status page (status-snapshot.ts) shows
// them; each passes its own way of asking the API (over HTTP, or in-process).
import { open, type FileHandle } from 'node:fs/promises';
import { existsSync, constants } from 'node:fs';
import { RECEIVER_STATES, SENDER_STATES, TASK_SUFFIX, type Paths, type Role } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { TaskSpool } from '../spool/task-spool.ts';
import { silentLogger } from '../log/logger.ts';
import { isBft2Error } from '../errors/catalogue.ts';
import type { ApiResponse } from '../api/envelope.ts';
import { formatBytes } from '../util/format-bytes.ts';

export interface StatusRow {
  /** `sender`, `receiver` or `cacher` (a cacher's tasks live in the receiver spool). */
  role: 'sender' | 'receiver' | 'cacher';
  /** The API's status (downloading, ready, seeding, ...), else the spool directory. */
  state: string;
  task: string;
  /** The directory the task file is in (`downloading`, ...). */
  dir: string;
  taskfile: string;
  /** `12.345%`, or `` when there is no figure. */
  percent: string;
  /** `3 MB/s`, or ``. */
  rate: string;
  /** Minutes to completion (receivers), seed minutes left (cachers); null when unknown. */
  etaMinutes: number | null;
  /** Why it waits or failed, in a few words; `` when it simply runs or is done. */
  reason: string;
  /** Stopped on an error or refused: an error state, or a `<task>.err` beside its file. */
  failed: boolean;
  /** Why a running task makes no progress (`progress`/`cprogress` field `stalled`, e.g. `no data for 45 s from cdn`); `` when it moves or is not running. */
  stalled: string;
  /** Peers connected to its torrent now (the API's `peers`); null when the answer has none. */
  peers: number | null;
  /** What the task's traffic cost (`cost 1.23 EUR`, a receiver's or cacher's bill) or what it sent (`sent bt 1.2 GiB, cdn 300 MiB`, a sender's); `` when nothing yet. */
  traffic: string;
  /** Per-method fraction done of that method's share (0..1), for bars. */
  methods: Partial<Record<'bt' | 'obs' | 'cdn', number>>;
  /** The API's return_content as answered; null when the API was not asked or not reached. */
  answer: Record<string, unknown> | null;
  /** The API's return_status. */
  ok: boolean | null;
}

export type AskApi = (method: string, params: Record<string, unknown>) => Promise<ApiResponse>;

export interface StatusResult {
  rows: StatusRow[];
  /** Set when the daemon could not be reached: rows then show the spool only. */
  unreachable?: string;
  /** Tasks left out by `historyLimit` (only in history, older than the ones shown). */
  omittedHistory?: number;
  /** How the daemon watches its directories (GET /health): `inotify`, or `polling (inotify limit)`. */
  watching?: string;
}

export interface CollectOptions {
  /** Per role, at most this many tasks that are only in history (the newest); default all. */
  historyLimit?: number;
}

const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
const pct = (v: unknown) => {
  const n = Number.parseFloat(s(v));
  return Number.isFinite(n) ? n : 0;
};
const firstLine = (t: string) => t.split('\n')[0].trim();

/** `1 h 05 min`, `12 min`, `` for unknown. */
export function formatEta(minutes: number | null): string {
  if (minutes === null || minutes < 0) return '';
  if (minutes < 60) return `${Math.round(minutes)} min`;
  return `${Math.floor(minutes / 60)} h ${String(Math.round(minutes % 60)).padStart(2, '0')} min`;
}

const ordinal = (n: number) => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

/**
 * The first line of a marker such as `<task>.err`, or '' when there is none. Read as a
 * spool entry (SPEC §4): never through a symlink, never a FIFO, at most the first 4 KiB,
 * so a planted link cannot show another file's first line on the status page.
 */
export async function readFirstLine(file: string): Promise<string> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    if (!(await fh.stat()).isFile()) return '';
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return firstLine(buf.subarray(0, bytesRead).toString('utf8'));
  } catch {
    return '';
  } finally {
    await fh?.close();
  }
}

async function readErr(paths: Paths, role: Role, dir: string, task: string): Promise<string> {
  return readFirstLine(paths.marker(role, dir, task, '.err'));
}

interface Found {
  task: string;
  /** States holding a file of this name, in spool order. */
  dirs: string[];
}

/** Task names per directory; in the active directory only those holding a slot (no `.err`). */
type ByDir = Map<string, string[]>;

async function listSpool(paths: Paths, role: Role, states: readonly string[], active: string): Promise<{ found: Found[]; byDir: ByDir }> {
  const spool = new TaskSpool(paths, role, states, silentLogger());
  const byTask = new Map<string, Found>();
  const byDir: ByDir = new Map();
  for (const state of states) {
    const tasks = await spool.list(state);
    // A task stopped on an error stays in the active directory but holds no slot.
    byDir.set(state, state === active ? tasks.filter((t) => !existsSync(paths.marker(role, state, t, '.err'))) : tasks);
    for (const task of tasks) {
      const f = byTask.get(task) ?? { task, dirs: [] };
      f.dirs.push(state);
      byTask.set(task, f);
    }
  }
  return { found: [...byTask.values()], byDir };
}

/** Where a task lives now: the first live directory, else history, else tmp. */
function liveDir(dirs: string[]): string {
  return dirs.find((d) => d !== 'tmp' && d !== 'history') ?? (dirs.includes('history') ? 'history' : dirs[0]);
}

/** At most `n` calls at once (a big history must not flood the daemon). */
async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/** The newest `limit` of the tasks whose place is history (listings are oldest first), and the rest's count. */
function trimHistory(found: Found[], limit: number | undefined): { found: Found[]; omitted: number } {
  if (limit === undefined) return { found, omitted: 0 };
  const old = found.filter((f) => liveDir(f.dirs) === 'history');
  const drop = new Set(old.slice(0, Math.max(0, old.length - limit)));
  return { found: found.filter((f) => !drop.has(f)), omitted: drop.size };
}

export async function collectStatus(paths: Paths, config: Config, ask: AskApi, opts: CollectOptions = {}): Promise<StatusResult> {
  let unreachable: string | undefined;
  const call = async (method: string, task: string): Promise<ApiResponse | undefined> => {
    if (unreachable) return undefined;
    try {
      return await ask(method, { taskfile: task + TASK_SUFFIX });
    } catch (err) {
      if (isBft2Error(err) && err.code === 'API_UNREACHABLE') {
        unreachable = err.message;
        return undefined;
      }
      throw err;
    }
  };
  const rows: StatusRow[] = [];

  let omittedHistory = 0;
  const trimmed = (found: Found[]) => {
    const t = trimHistory(found, opts.historyLimit);
    omittedHistory += t.omitted;
    return t.found;
  };

  const sender = await listSpool(paths, 'sender', SENDER_STATES, 'uploading');
  rows.push(
    ...(await mapLimit(trimmed(sender.found), 8, async (f) => {
      const dir = liveDir(f.dirs);
      const base = blank('sender', f.task, dir, paths.taskFile('sender', dir, f.task));
      if (dir === 'tmp') {
        const err = await readErr(paths, 'sender', 'tmp', f.task);
        return { ...base, reason: err || (config.servertype !== 'sender' ? `in tmp; this node is a ${config.servertype}` : config.autosend ? 'waiting for autosend' : 'waiting for send (autosend is off)') };
      }
      return senderRow(base, await call('uploadprogress', f.task), sender.byDir, config);
    })),
  );

  const receiverRole = config.servertype === 'cacher' ? 'cacher' : 'receiver';
  const receiver = await listSpool(paths, 'receiver', RECEIVER_STATES, 'downloading');
  rows.push(
    ...(await mapLimit(trimmed(receiver.found), 8, async (f) => {
      const dir = liveDir(f.dirs);
      const base = blank(receiverRole, f.task, dir, paths.taskFile('receiver', dir, f.task));
      if (dir === 'tmp') {
        const err = await readErr(paths, 'receiver', 'tmp', f.task);
        return { ...base, reason: err || 'in tmp: being checked by recv' };
      }
      if (receiverRole === 'cacher') return cacherRow(base, await call('cprogress', f.task));
      return receiverRow(base, await call('progress', f.task), receiver.byDir, config);
    })),
  );
  if (unreachable) for (const r of rows) if (r.answer === null && !r.reason) r.reason = 'daemon not reachable';
  for (const r of rows) {
    const c = r.answer ?? {};
    const peers = Number(c.peers);
    r.peers = c.peers !== undefined && c.peers !== '' && Number.isFinite(peers) ? peers : null;
    r.stalled = typeof c.stalled === 'string' ? firstLine(c.stalled) : '';
    // A refused task keeps its directory (queues, tmp) and gets a .err beside it.
    r.failed = /error/.test(r.state) || (r.dir !== 'history' && existsSync(paths.marker(r.role === 'sender' ? 'sender' : 'receiver', r.dir, r.task, '.err')));
  }
  return { rows, unreachable, ...(omittedHistory ? { omittedHistory } : {}) };
}

function blank(role: StatusRow['role'], task: string, dir: string, taskfile: string): StatusRow {
  return { role, state: dir, task, dir, taskfile, percent: '', rate: '', etaMinutes: null, reason: '', failed: false, stalled: '', peers: null, traffic: '', methods: {}, answer: null, ok: null };
}

function queuePosition(byDir: ByDir, task: string, active: string, limitName: string, limit: number): string {
  const queue = byDir.get('queues') ?? [];
  const running = (byDir.get(active) ?? []).length;
  const i = queue.indexOf(task);
  return `waiting for a free slot: ${ordinal(i + 1)} of ${queue.length} in queue, ${running} ${active} (${limitName} ${limit})`;
}

function receiverRow(row: StatusRow, a: ApiResponse | undefined, byDir: ByDir, config: Config): StatusRow {
  if (!a) return row;
  const c = a.return_content ?? {};
  row.answer = c;
  row.ok = a.return_status === 'true';
  if (!row.ok && !c.status) {
    row.reason = firstLine(s(c.desc));
    if (s(c.desc).startsWith('task in queues')) row.reason = queuePosition(byDir, row.task, 'downloading', 'downloadingnum', config.downloadingnum);
    return row;
  }
  row.state = s(c.status) || row.dir;
  row.taskfile = s(c.taskfullpath || c.taskfile) || row.taskfile;
  row.traffic = trafficOf(c);
  row.percent = s(c.totalpercent ?? c.totoalpercent);
  row.rate = s(c.rate);
  const eta = Number(c.ecompletedtime);
  row.etaMinutes = Number.isFinite(eta) && eta >= 0 && row.state === 'downloading' ? eta : null;
  for (const m of ['bt', 'obs', 'cdn'] as const) {
    const share = pct(c[`${m}2downpercent`]);
    // A downloaded task has every share done, whatever per-method figures its answer keeps.
    if (share > 0) row.methods[m] = row.state === 'downloaded' ? 1 : Math.min(1, pct(c[`${m}percent`]) / share);
  }
  const waits = (['bt', 'obs', 'cdn'] as const).filter((m) => s(c[`${m}next`])).map((m) => `${m} waits for its window (opens ${s(c[`${m}next`])})`);
  switch (row.state) {
    case 'queues':
      // Its .err, else why it may not start (the disk reserve), else its place in the queue.
      row.reason = s(c.downerror) ? firstLine(s(c.downerror)) : s(c.waiting) || queuePosition(byDir, row.task, 'downloading', 'downloadingnum', config.downloadingnum);
      break;
    case 'downloaderror':
      row.reason = firstLine(s(c.downerror || c.desc));
      break;
    case 'downloading':
      // A method retrying after a failure, and what the others wait for (a window, disk space).
      row.reason = [firstLine(s(c.downerror)), s(c.waiting) || waits.join('; '), s(c.notes)].filter(Boolean).join('; ');
      break;
    case 'downloaded':
      row.reason = s(c.btstatus) === 'btseeding' ? 'seeding its BT share' : '';
      break;
    default:
      row.reason = firstLine(s(c.desc));
  }
  return row;
}

function senderRow(row: StatusRow, a: ApiResponse | undefined, byDir: ByDir, config: Config): StatusRow {
  if (!a) return row;
  const c = a.return_content ?? {};
  row.answer = c;
  row.ok = a.return_status === 'true';
  if (!row.ok && (!c.status || c.status === 'unknown')) {
    row.reason = firstLine(s(c.desc));
    return row;
  }
  row.state = s(c.status) || row.dir;
  row.taskfile = s(c.taskfile) || row.taskfile;
  row.traffic = trafficOf(c);
  const obs = s(c.obsstatus);
  const upl = /^uncompleted (\d+)%$/.exec(obs);
  if (upl) row.methods.obs = Number(upl[1]) / 100;
  else if (obs === 'completed') row.methods.obs = 1;
  if (['ready', 'finished'].includes(row.state)) row.percent = '100%';
  else if (upl) row.percent = `${upl[1]}%`;
  const notReady = [
    obs && obs !== 'completed' ? `obs ${obs}` : '',
    s(c.cdnstatus) === 'unavailable' ? 'cdn unavailable' : '',
    s(c.btstatus) === 'noseeding' && row.state !== 'finished' ? 'bt not seeding' : '',
    s(c.bttracker).startsWith('tracker error') ? `bt: ${s(c.bttracker)}` : '',
  ].filter(Boolean);
  switch (row.state) {
    case 'queues':
      row.reason = queuePosition(byDir, row.task, 'uploading', 'uploadingnum', config.uploadingnum);
      break;
    case 'error':
      row.reason = firstLine(s(c.desc));
      break;
    case 'uploading':
    case 'uploaded':
      row.reason = notReady.join(', ');
      break;
    case 'ready':
      row.reason = [s(c.btstatus) === 'seeding' ? 'seeding' : '', s(c.bttracker).startsWith('tracker error') ? `bt: ${s(c.bttracker)}` : ''].filter(Boolean).join(', ');
      break;
    default:
      row.reason = firstLine(s(c.desc));
  }
  return row;
}

function cacherRow(row: StatusRow, a: ApiResponse | undefined): StatusRow {
  if (!a) return row;
  const c = a.return_content ?? {};
  row.answer = c;
  row.ok = a.return_status === 'true';
  const status = s(c.status ?? c.Status);
  if (!row.ok && !status) {
    row.reason = firstLine(s(c.desc));
    return row;
  }
  row.state = status || row.dir;
  row.traffic = trafficOf(c);
  row.percent = s(c.percent);
  row.rate = s(c.rate);
  if (row.percent) row.methods.bt = pct(row.percent) / 100;
  const left = Number(c.seedleft);
  row.etaMinutes = Number.isFinite(left) && c.seedleft !== undefined && c.seedleft !== '' ? left : null;
  const peers = c.peers === undefined ? '' : `, ${s(c.peers)} peers`;
  row.reason = status.endsWith('error') ? firstLine(s(c.desc)) : status === 'seeding' ? `seeding${row.etaMinutes !== null ? `, ${formatEta(row.etaMinutes)} left` : ''}${peers}` : firstLine(s(c.desc));
  if (s(c.notes) && !status.endsWith('error')) row.reason = [row.reason, s(c.notes)].filter(Boolean).join('; ');
  return row;
}

/**
 * A task's traffic in a few words, from its API answer: the bill of a receiver's or cacher's
 * task (`totalcost`, `currency`) once it costs something, or the bytes a sender's task sent
 * per method (`btuploaded`, `obsuploaded`, `cdnuploaded`); `` when there is neither.
 */
export function trafficOf(c: Record<string, unknown>): string {
  const cost = Number(c.totalcost);
  if (Number.isFinite(cost) && cost > 0) return `cost ${cost.toFixed(2)} ${s(c.currency)}`.trim();
  const sent = (['bt', 'obs', 'cdn'] as const).map((m) => [m, Number(c[`${m}uploaded`])] as const).filter(([, n]) => Number.isFinite(n) && n > 0);
  return sent.length ? `sent ${sent.map(([m, n]) => `${m} ${formatBytes(n)}`).join(', ')}` : '';
}

/** The plain table: role/state, task, percent, rate, ETA, peers (BitTorrent tasks), traffic (cost or bytes sent), reason (a stall first); trailing blanks trimmed. */
export function formatRows(rows: StatusRow[]): string[] {
  const cells = rows.map((r) => [
    `${r.role}/${r.state}`,
    r.task,
    r.percent,
    r.rate,
    formatEta(r.etaMinutes),
    r.peers !== null && r.methods.bt !== undefined ? `${r.peers} peer${r.peers === 1 ? '' : 's'}` : '',
    r.traffic,
    [r.stalled ? `stalled: ${r.stalled}` : '', r.reason].filter(Boolean).join('; '),
  ]);
  const widths = [0, 1, 2, 3, 4, 5, 6].map((i) => Math.max(0, ...cells.map((c) => c[i].length)));
  return cells.map((c) => {
    const parts = [c[0].padEnd(widths[0]), c[1].padEnd(widths[1]), c[2].padStart(widths[2]), c[3].padEnd(widths[3]), c[4].padEnd(widths[4]), c[5].padEnd(widths[5]), c[6].padEnd(widths[6]), c[7]];
    // Empty columns take no room, so a line reads `state task percent rate` when that is all.
    return parts.filter((p, i) => widths[i] > 0 || i === 7).join('  ').replace(/\s+$/, '');
  });
}
