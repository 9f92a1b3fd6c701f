// How a plan is shown: the table `bft2 plan` prints (sorted by cost, the chosen split
// marked, each other split's reason to lose in words) and the JSON of `--json`.
// Owns: layout and units only (1 GB = 1024^3 bytes, as prices count). Must not touch the
// figures: they come from planner.ts as they are.
import { METHODS, type Method } from '../task/schema.ts';
import { formatTable } from '../util/text-table.ts';
import { formatLocalTime } from '../util/time.ts';
import { formatDuration, type Candidate, type Plan } from './planner.ts';

/** Where each price came from, for the header ("scenario", the config's path, "default"). */
export type PriceSources = Record<Method, { spec: string; from: string }>;

export interface ReportContext {
  file: string;
  prices: PriceSources;
  /** Where the windows came from. */
  windowsFrom: string;
  /** List every candidate, not only the first ones. */
  all?: boolean;
}

const UNITS: [number, string][] = [
  [1024 ** 4, 'TB'],
  [1024 ** 3, 'GB'],
  [1024 ** 2, 'MB'],
];
const unitFor = (bytes: number): [number, string] => UNITS.find(([u]) => bytes >= u) ?? UNITS[2];
/** "160.0 MB", "250.0 GB". */
export function formatBytes(bytes: number): string {
  if (bytes < 0.5) return '0';
  const [u, name] = unitFor(bytes);
  return `${(bytes / u).toFixed(1)} ${name}`;
}
/** Three figures in one unit: "160/160/320 MB". */
function triple(v: Record<Method, number>): string {
  const [u, name] = unitFor(Math.max(v.bt, v.obs, v.cdn));
  const f = (x: number) => {
    const n = x / u;
    return n === 0 ? '0' : n >= 100 ? n.toFixed(0) : n.toFixed(1);
  };
  return `${METHODS.map((m) => f(v[m])).join('/')} ${name}`;
}
const rate = (bps: number) => `${+(bps / 1e6).toFixed(1)} MB/s`;
const minute = (d: Date) => formatLocalTime(d).slice(0, 16);
const tierName = (i: number) => String.fromCharCode(65 + (i % 26)) + (i >= 26 ? String(Math.floor(i / 26)) : '');
const money = (x: number) => x.toFixed(2);

/** Rows shown without --all: enough to see the choice and what it beat. */
const ROWS_SHOWN = 20;

export function formatPlan(plan: Plan, ctx: ReportContext): string {
  const out: string[] = [];
  const cinemaTiers = plan.tiers.filter((t) => t.role === 'cinema');
  const cacherTiers = plan.tiers.filter((t) => t.role === 'cacher');
  const count = (tiers: typeof plan.tiers) => tiers.reduce((n, t) => n + t.hosts.length, 0);
  out.push(
    `Plan for ${ctx.file}: ${count(cinemaTiers)} cinemas in ${cinemaTiers.length} tier${cinemaTiers.length === 1 ? '' : 's'}, ${count(cacherTiers)} cacher${count(cacherTiers) === 1 ? '' : 's'}; a DCP of ${formatBytes(plan.dcpBytes)}.`,
    `Hand-out ${minute(plan.start)}${plan.deadline ? `; deadline ${minute(plan.deadline)} (${formatDuration((plan.deadline.getTime() - plan.start.getTime()) / 1000)} later), for every cinema` : '; no deadline'}.`,
    `Prices per GB (1 GB = 1024^3 bytes) in ${plan.currency}: ${METHODS.map((m) => `${m} ${ctx.prices[m].spec || '0'} (${ctx.prices[m].from})`).join('; ')}.`,
    `Windows kept under priortime: ${METHODS.map((m) => `${m} ${plan.windows[m]}`).join(', ')} (${ctx.windowsFrom}).`,
    `Tiers: ${[...cinemaTiers.map((t, i) => `${tierName(i)} = ${t.label} (down ${rate(t.down)}, up ${rate(t.up)})`), ...cacherTiers.map((t) => `cachers ${t.label} (down ${rate(t.down)}, up ${rate(t.up)})`)].join('; ')}.`,
    '',
  );
  const perTier = cinemaTiers.length > 1 && cinemaTiers.length <= 6;
  const headers = ['', 'split', 'policy', 'per cinema bt/obs/cdn', ...(perTier ? cinemaTiers.map((_, i) => tierName(i)) : []), 'all cinemas', 'by', 'fleet bt/obs/cdn', `cost ${plan.currency}`, 'why'];
  const marked = new Set([plan.recommended, plan.cheapest, plan.fastest].filter(Boolean));
  const shown = ctx.all || plan.candidates.length <= ROWS_SHOWN + 4 ? plan.candidates : plan.candidates.filter((c, i) => i < ROWS_SHOWN || marked.has(c));
  const tierFinish = (c: Candidate, label: string) => c.tiers.find((t) => t.role === 'cinema' && t.label === label)?.finishS ?? null;
  const rows = shown.map((c) => [
    c.verdict === 'recommended' ? '>>' : c.verdict === 'cheapest' || c.verdict === 'fastest' ? '>' : '',
    c.split,
    c.policy,
    triple(c.shares),
    ...(perTier ? cinemaTiers.map((t) => finishText(tierFinish(c, t.label))) : []),
    finishText(c.lastCinemaS),
    c.lastCinemaS === null ? '-' : minute(new Date(plan.start.getTime() + c.lastCinemaS * 1000)),
    triple(c.bytes),
    money(c.totalCost),
    c.why,
  ]);
  out.push(formatTable(headers, rows, [0, 1, 2, headers.length - 1]));
  if (shown.length < plan.candidates.length) out.push(`(${plan.candidates.length - shown.length} dearer candidates left out; --all lists them)`);
  const merged = Object.keys(plan.sameAs).length;
  if (merged) out.push(`(${merged} other split${merged === 1 ? ' gives' : 's give'} the same files to the same methods as one above, and the same outcome.)`);
  if (plan.samePolicies) out.push(`(${plan.samePolicies} split${plan.samePolicies === 1 ? ' gives' : 's give'} the same under priortime as under fulltime: shown once, as fulltime.)`);
  out.push('', plan.summary);
  for (const c of [plan.recommended ?? plan.cheapest, ...(plan.recommended ? [] : [plan.fastest])].filter((c, i, a) => a.indexOf(c) === i)) out.push(...details(c, plan));
  return out.join('\n');
}

function finishText(s: number | null): string {
  return s === null ? 'never' : `+${formatDuration(s)}`;
}

function details(c: Candidate, plan: Plan): string[] {
  const lines = [``, `${c.split} (${c.policy}) in detail:`];
  lines.push(`  the split gives each cinema bt ${formatBytes(c.shares.bt)}, obs ${formatBytes(c.shares.obs)}, cdn ${formatBytes(c.shares.cdn)}; a method done with its share takes over from a slower one (rebalance idle)`);
  const cinemaLabels = plan.tiers.filter((x) => x.role === 'cinema').map((x) => x.label);
  for (const t of c.tiers) {
    const name = t.role === 'cinema' ? `tier ${tierName(cinemaLabels.indexOf(t.label))}` : 'cachers';
    lines.push(`  ${name} (${t.label}): ${t.finishS === null ? 'does not finish' : `done +${formatDuration(t.finishS)}`}, each received ${METHODS.filter((m) => t.bytesPerNode[m] > 0).map((m) => `${m} ${formatBytes(t.bytesPerNode[m])}`).join(', ') || 'nothing'}`);
  }
  lines.push(`  the fleet receives ${METHODS.map((m) => `${m} ${formatBytes(c.bytes[m])}`).join(', ')}; the centre's uplink carries ${formatBytes(c.centreUpBytes)}`);
  lines.push(`  cost ${money(c.totalCost)} ${plan.currency}: ${METHODS.map((m) => `${m} ${money(c.cost[m])}`).join(', ')}`);
  return lines;
}

/** The plan as JSON for scripts: times as local "YYYY-MM-DD HH:MM:SS" and seconds from the hand-out. */
export function planJson(plan: Plan): Record<string, unknown> {
  const when = (s: number | null) => (s === null ? null : formatLocalTime(new Date(plan.start.getTime() + s * 1000)));
  const candidate = (c: Candidate) => ({
    split: c.split,
    policy: c.policy,
    verdict: c.verdict,
    why: c.why,
    sharesPerCinema: c.shares,
    lastCinemaS: c.lastCinemaS === null ? null : +c.lastCinemaS.toFixed(1),
    lastCinemaAt: when(c.lastCinemaS),
    meetsDeadline: c.meetsDeadline,
    tiers: c.tiers.map((t) => ({ role: t.role, hosts: t.label, count: t.hosts.length, finishS: t.finishS === null ? null : +t.finishS.toFixed(1), finishAt: when(t.finishS), bytesPerNode: roundBytes(t.bytesPerNode) })),
    bytes: roundBytes(c.bytes),
    cost: c.cost,
    totalCost: c.totalCost,
    centreUpBytes: Math.round(c.centreUpBytes),
    ...(c.stuck ? { stuck: c.stuck } : {}),
  });
  return {
    scenario: plan.scenario,
    dcpBytes: plan.dcpBytes,
    start: formatLocalTime(plan.start),
    deadline: plan.deadline ? formatLocalTime(plan.deadline) : null,
    currency: plan.currency,
    windows: plan.windows,
    tiers: plan.tiers.map((t) => ({ role: t.role, hosts: t.label, count: t.hosts.length, upBps: t.up, downBps: t.down })),
    recommended: plan.recommended ? { split: plan.recommended.split, policy: plan.recommended.policy } : null,
    cheapest: { split: plan.cheapest.split, policy: plan.cheapest.policy },
    fastest: { split: plan.fastest.split, policy: plan.fastest.policy },
    summary: plan.summary,
    candidates: plan.candidates.map(candidate),
    sameAs: plan.sameAs,
  };
}

const roundBytes = (v: Record<Method, number>) => Object.fromEntries(METHODS.map((m) => [m, Math.round(v[m])])) as Record<Method, number>;
