// The status page's data (`GET /status.json`): every task of every role as `bft2 status`
// gathers it (status-rows.ts, asking the API in-process), with per-method bars and the
// transfer windows that apply to each task, the first lines of the `.err` files, the
// daemon's recent warnings and errors, the disks and the hash table. Plain data: the page
// (status-page.ts) renders it, escaping every value.
// Owns nothing; reads the spools (task files and markers as spool entries: no symlink,
// no FIFO) and asks the API. Must not touch: any task or file.
import { readdir, lstat } from 'node:fs/promises';
import path from 'node:path';
import { RECEIVER_STATES, SENDER_STATES, type Paths, type Role } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { readTaskJson } from '../trust/confined-file.ts';
import { freeSpace } from '../schedule/disk-reserve.ts';
import { formatLocalTime } from '../util/time.ts';
import { collectStatus, formatEta, readFirstLine, type AskApi, type StatusRow } from './status-rows.ts';
import type { RecentLog, RecentLine } from './recent-log.ts';
import { watchMode } from '../spool/watch-health.ts';

const METHODS = ['bt', 'obs', 'cdn'] as const;
type M = (typeof METHODS)[number];

export interface MethodBar {
  method: M;
  /** This method's share of the task's bytes, 0..1 (of what is left to transfer for a receiver: lists2). */
  share: number;
  /** Fraction of the share done, 0..1; null when the role reports a state instead (a sender's seeding). */
  done: number | null;
  /** `3 MB/s` or ''. */
  rate: string;
  /** A sender's method status (`seeding`, `uncompleted 40%`, `available`), else ''. */
  status: string;
  /** The window this method downloads in (`00:00-06:00`), `fulltime`, or '' for a sender (publishing runs at all times). */
  window: string;
  /** Where the window comes from: the task's `<m>.priortime` or the config's `<m>time`. */
  windowFrom: 'task' | 'config' | '';
  /** The next opening when it waits for its window (progress `<m>next`), else ''. */
  next: string;
}

export interface TaskView {
  role: StatusRow['role'];
  state: string;
  dir: string;
  task: string;
  /** `12.345%` or ''. */
  percent: string;
  rate: string;
  /** `1 h 05 min`, `12 min` or ''. */
  eta: string;
  etaMinutes: number | null;
  reason: string;
  /** Stopped on an error or refused (shown in red). */
  failed: boolean;
  /** Why a running task makes no progress, or ''. */
  stalled: string;
  /** Peers connected to its torrent, or null when the role's answer has none. */
  peers: number | null;
  /** The task's bill or what it sent (StatusRow.traffic). */
  traffic: string;
  /** The task's policy (`fulltime`/`priortime`), the config's when it names none; '' when unreadable. */
  policy: string;
  size: number | null;
  methods: MethodBar[];
}

export interface ErrFile {
  role: Role;
  state: string;
  task: string;
  /** The .err file's mtime, local time. */
  time: string;
  /** Its first line: the reason. */
  reason: string;
}

export interface StatusSnapshot {
  now: string;
  version: string;
  node: { servertype: string; root: string; apilisten: string; metricslisten: string; watching: string };
  /** The config's windows and default policy. */
  windows: { priorpolicy: string; bttime: string; obstime: string; cdntime: string };
  tasks: TaskView[];
  /** History tasks left out (only the newest are shown). */
  omittedHistory: number;
  errors: ErrFile[];
  log: RecentLine[];
  disks: { area: string; path: string; free: number; total: number }[];
  /** Set when the API could not answer (the rows then show the spool only). */
  unreachable?: string;
}

export interface SnapshotDeps {
  paths: Paths;
  config(): Config;
  version: string;
  ask: AskApi;
  recentLog: RecentLog;
  /** Per role, history tasks shown (newest first); default 50. */
  historyLimit?: number;
}

const MAX_ERR_FILES = 50;

export async function statusSnapshot(deps: SnapshotDeps): Promise<StatusSnapshot> {
  const config = deps.config();
  const result = await collectStatus(deps.paths, config, deps.ask, { historyLimit: deps.historyLimit ?? 50 });
  const tasks = await Promise.all(result.rows.map((r) => taskView(r, config)));
  return {
    now: formatLocalTime(),
    version: deps.version,
    node: { servertype: config.servertype, root: deps.paths.root, apilisten: config.apilisten, metricslisten: config.metricslisten, watching: watchMode() },
    windows: { priorpolicy: config.priorpolicy, bttime: config.bttime, obstime: config.obstime, cdntime: config.cdntime },
    tasks,
    omittedHistory: result.omittedHistory ?? 0,
    errors: await errFiles(deps.paths),
    log: deps.recentLog.recent(50),
    disks: await disks(deps.paths, config),
    ...(result.unreachable ? { unreachable: result.unreachable } : {}),
  };
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown) => {
  const n = typeof v === 'number' ? v : Number.parseFloat(str(v));
  return Number.isFinite(n) ? n : 0;
};
/** A list field of a task (`[""]` is empty); undefined when absent or not a list. */
const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((f): f is string => typeof f === 'string' && f !== '') : undefined);

interface TaskPlan {
  size: number;
  policy: string;
  /** Bytes of each method's list (lists2 when the receiver rewrote the task, else lists). */
  bytes: Record<M, number>;
  priortime: Record<M, string>;
}

/** The few task fields the page shows, read leniently (a task that fails its checks still shows). */
function taskPlan(raw: unknown): TaskPlan | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const t = raw as Record<string, unknown>;
  const sizes = new Map<string, number>();
  for (const f of Array.isArray(t.filelist) ? t.filelist : []) {
    if (f && typeof f === 'object' && typeof (f as { file?: unknown }).file === 'string') sizes.set((f as { file: string }).file, num((f as { size?: unknown }).size));
  }
  const bytes = {} as Record<M, number>;
  const priortime = {} as Record<M, string>;
  for (const m of METHODS) {
    const files = list(t[`${m}list2`]) ?? list(t[`${m}list`]) ?? [];
    bytes[m] = files.reduce((s, f) => s + (sizes.get(f) ?? 0), 0);
    const sub = t[m];
    priortime[m] = sub && typeof sub === 'object' ? str((sub as Record<string, unknown>).priortime) : '';
  }
  return { size: num(t.size), policy: str(t.policy), bytes, priortime };
}

async function readPlan(row: StatusRow): Promise<TaskPlan | undefined> {
  if (!row.taskfile) return undefined;
  try {
    return taskPlan((await readTaskJson(row.taskfile)).raw);
  } catch {
    return undefined;
  }
}

async function taskView(row: StatusRow, config: Config): Promise<TaskView> {
  // History holds finished work: its task file is not read on every refresh.
  const plan = row.dir === 'history' ? undefined : await readPlan(row);
  const policy = plan ? plan.policy || config.priorpolicy : '';
  const c = row.answer ?? {};
  const methods: MethodBar[] = [];
  // A task refused at admission never ran: its own figures (a size that does not add up) mean nothing.
  const refused = row.failed && (row.dir === 'queues' || row.dir === 'tmp');
  for (const m of refused ? [] : METHODS) {
    const fraction = row.methods[m];
    const bytes = plan?.bytes[m] ?? 0;
    const shareFromAnswer = num(c[`${m}2downpercent`]) / 100;
    if (!bytes && fraction === undefined && !shareFromAnswer) continue;
    const share = shareFromAnswer || (plan && plan.size > 0 ? bytes / plan.size : 0);
    const sender = row.role === 'sender';
    const taskWindow = plan?.priortime[m] ?? '';
    const window = sender || !plan ? '' : policy === 'fulltime' ? 'fulltime' : taskWindow || config[`${m}time`];
    methods.push({
      method: m,
      share,
      done: fraction ?? (sender ? null : 0),
      rate: str(c[`${m}rate`]),
      status: sender ? str(c[`${m}status`]) : '',
      window,
      windowFrom: !window || window === 'fulltime' ? '' : taskWindow ? 'task' : 'config',
      next: str(c[`${m}next`]),
    });
  }
  return {
    role: row.role,
    state: row.state,
    dir: row.dir,
    task: row.task,
    percent: row.percent,
    rate: row.rate,
    eta: formatEta(row.etaMinutes),
    etaMinutes: row.etaMinutes,
    reason: row.reason,
    failed: row.failed,
    stalled: row.stalled,
    peers: row.peers,
    traffic: row.traffic,
    policy,
    size: plan ? plan.size : num(c.totalbytes) || null,
    methods,
  };
}

/** The newest `.err` files of both spools with their first line. */
async function errFiles(paths: Paths): Promise<ErrFile[]> {
  const found: (ErrFile & { mtime: number })[] = [];
  const spools: [Role, readonly string[]][] = [
    ['sender', SENDER_STATES],
    ['receiver', RECEIVER_STATES],
  ];
  for (const [role, states] of spools) {
    for (const state of states) {
      const dir = paths.spoolDir(role, state);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const n of names) {
        if (!n.endsWith('.err') || n.startsWith('.')) continue;
        const file = path.join(dir, n);
        const st = await lstat(file).catch(() => undefined);
        if (!st?.isFile()) continue;
        found.push({ role, state, task: n.slice(0, -'.err'.length), time: formatLocalTime(st.mtime), mtime: st.mtimeMs, reason: '' });
      }
    }
  }
  found.sort((a, b) => b.mtime - a.mtime);
  const newest = found.slice(0, MAX_ERR_FILES);
  for (const e of newest) e.reason = await readFirstLine(paths.marker(e.role, e.state, e.task, '.err'));
  return newest.map(({ mtime: _, ...e }) => e);
}

async function disks(paths: Paths, config: Config): Promise<StatusSnapshot['disks']> {
  const out: StatusSnapshot['disks'] = [];
  for (const [area, p] of [
    ['store', paths.basedata(config)],
    ['transfer', paths.transferDir],
  ] as const) {
    const s = await freeSpace(p).catch(() => undefined);
    if (s) out.push({ area, path: p, ...s });
  }
  return out;
}
