// The planner behind `bft2 plan` and `gentask --btobscdn auto` (SPEC §12): runs the
// delivery model (delivery-model.ts) for every candidate split — bt:obs:cdn in tenths,
// and quarters, each allocation once (a DCP of few reels can be split only so many ways) — under
// each policy, ranks them by cost, and picks the cheapest that meets the deadline; without
// a deadline it names the cheapest and the fastest. Every other candidate gets the reason
// it loses: late, or dearer (or as cheap but slower).
// Owns: the candidates, their ranking and the reasons. Pure: the start, prices and
// deadline are inputs; no I/O.
import { METHODS, type Method } from '../task/schema.ts';
import { coversWholeDay } from '../schedule/windows.ts';
import { money, type PriceList } from '../cost/cost-math.ts';
import { formatLocalTime } from '../util/time.ts';
import { CALIBRATION, type Calibration } from './calibration.ts';
import { dcpOf, fleetOf, splitShares, describeHosts, type ModelSources, type Policy } from './fleet-model.ts';
import { runDelivery, type Outcome } from './delivery-model.ts';
import type { Scenario } from './scenario.ts';

export interface PlanRequest {
  scenario: Scenario;
  prices: PriceList;
  /** The cinemas' hand-out. */
  start: Date;
  /** Every cinema must have the DCP by then. */
  deadline?: Date;
  /** Candidate splits (default: the grid in tenths plus the scenario's own). */
  splits?: string[];
  /** Candidate policies (default both; priortime only when some window closes). */
  policies?: Policy[];
  calibration?: Calibration;
  sources?: ModelSources;
}

export type Verdict = 'recommended' | 'cheapest' | 'fastest' | 'late' | 'dearer' | 'slower' | 'never';

export interface Tier {
  role: 'cacher' | 'cinema';
  hosts: string[];
  /** "cinema1-100". */
  label: string;
  /** Seconds from the cinemas' hand-out; null: not within the model's horizon. */
  finishS: number | null;
  bytesPerNode: Record<Method, number>;
}

/** One split under one policy, as the model predicts it (costs rounded to two decimals). */
export interface Candidate extends Omit<Outcome, 'classes'> {
  split: string;
  tiers: Tier[];
  meetsDeadline?: boolean;
  verdict: Verdict;
  /** Why it is chosen, or why it loses, in words. */
  why: string;
}

/** A class of identical cachers or cinemas (a tier), as the model sees it. */
export interface TierInfo {
  role: 'cacher' | 'cinema';
  label: string;
  hosts: string[];
  /** Link rates, bytes/s. */
  up: number;
  down: number;
}

export interface Plan {
  scenario: string;
  dcpBytes: number;
  tiers: TierInfo[];
  /** The windows a priortime delivery keeps, as written. */
  windows: Record<Method, string>;
  start: Date;
  deadline?: Date;
  currency: string;
  candidates: Candidate[];
  /** With a deadline: the cheapest that meets it (none when no candidate does). */
  recommended?: Candidate;
  cheapest: Candidate;
  fastest: Candidate;
  /** A sentence for the reader: what to choose, or why nothing fits. */
  summary: string;
  /** Candidates whose allocation another, simpler split already gives (bt:obs:cdn → that split). */
  sameAs: Record<string, string>;
  /** Splits for which priortime gives what fulltime gives (shown once, as fulltime). */
  samePolicies: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const simplest = (r: number[]) => {
  const g = r.reduce((a, b) => gcd(a, b));
  return r.map((x) => x / g).join(':');
};

/** bt:obs:cdn in tenths and in quarters (2:1:1, the config's default, is not in tenths), each in lowest terms, the simplest first. */
export function splitGrid(): string[] {
  const out = new Set<string>();
  for (const whole of [10, 4]) for (let bt = 0; bt <= whole; bt++) for (let obs = 0; obs <= whole - bt; obs++) out.add(simplest([bt, obs, whole - bt - obs]));
  return [...out].sort((a, b) => sumOf(a) - sumOf(b) || (a < b ? -1 : 1));
}
const sumOf = (split: string) => split.split(':').reduce((n, x) => n + Number(x), 0);

/** A duration for people: 42.3 s, 37 min, 5 h 12 min, 2 d 3 h. */
export function formatDuration(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  const m = Math.round(s / 60);
  if (s < 2 * 86400) return `${Math.floor(m / 60)} h ${m % 60} min`;
  const h = Math.round(s / 3600);
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const money2 = (x: number) => x.toFixed(2);

export function plan(req: PlanRequest): Plan {
  const cal = req.calibration ?? CALIBRATION;
  const s = req.scenario;
  // Each allocation once, under its simplest split.
  const grid = [...new Set([...(req.splits ?? splitGrid()), ...(req.splits ? [] : [s.split])])];
  const byShares = new Map<string, { split: string; shares: Record<Method, number> }>();
  const sameAs: Record<string, string> = {};
  const files = dcpOf(s, req.sources);
  for (const split of grid) {
    const shares = splitShares(files, split);
    const key = JSON.stringify(shares);
    const first = byShares.get(key);
    if (first === undefined) byShares.set(key, { split, shares });
    else sameAs[split] = first.split;
  }
  const fleet = fleetOf(s, cal, req.sources);
  // Priortime differs from fulltime only when some method's window closes.
  const windowsMatter = METHODS.some((m) => !coversWholeDay(fleet.windows[m]));
  const policies = req.policies ?? (windowsMatter ? (['fulltime', 'priortime'] as Policy[]) : (['fulltime'] as Policy[]));

  const candidates: Candidate[] = [];
  const labels = fleet.classes.map((c) => describeHosts(c.hosts));
  let samePolicies = 0;
  for (const { split, shares } of byShares.values()) {
    const model = { ...fleet, shares };
    const outcomes = policies.map((policy) => runDelivery(model, { policy, start: req.start, prices: req.prices, calibration: cal }));
    // A split whose methods never meet a closed window gives the same under both policies: shown once, as fulltime.
    const same = outcomes.length === 2 && outcomes[0].lastCinemaS === outcomes[1].lastCinemaS && money(outcomes[0].totalCost) === money(outcomes[1].totalCost);
    if (same) samePolicies++;
    for (const o of same ? outcomes.slice(0, 1) : outcomes) candidates.push(candidateOf(split, o, labels));
  }
  const deadlineS = req.deadline ? (req.deadline.getTime() - req.start.getTime()) / 1000 : undefined;
  const finish = (c: Candidate) => c.lastCinemaS ?? Infinity;
  // Finishes this close are a tie (the model is no finer): then the cheaper, then the simpler split, fulltime first.
  const sooner = (a: Candidate, b: Candidate) => {
    const d = finish(a) - finish(b);
    return Math.abs(d) <= Math.max(1, 0.001 * Math.min(finish(a), finish(b))) ? 0 : d;
  };
  const simpler = (a: Candidate, b: Candidate) => sumOf(a.split) - sumOf(b.split) || (a.policy === b.policy ? 0 : a.policy === 'fulltime' ? -1 : 1);
  candidates.sort((a, b) => a.totalCost - b.totalCost || sooner(a, b) || simpler(a, b));
  const cheapest = candidates[0];
  const fastest = [...candidates].sort((a, b) => sooner(a, b) || a.totalCost - b.totalCost || simpler(a, b))[0];
  const at = (c: Candidate) => (c.lastCinemaS === null ? 'never' : `${formatDuration(c.lastCinemaS)} after the hand-out (${formatLocalTime(new Date(req.start.getTime() + c.lastCinemaS * 1000)).slice(0, 16)})`);
  const currency = req.prices.currency;
  let recommended: Candidate | undefined;
  let summary: string;
  if (deadlineS !== undefined) {
    for (const c of candidates) c.meetsDeadline = c.lastCinemaS !== null && c.lastCinemaS <= deadlineS;
    recommended = candidates.find((c) => c.meetsDeadline);
    for (const c of candidates) {
      if (c === recommended) {
        c.verdict = 'recommended';
        c.why = 'the cheapest that meets the deadline';
      } else if (c.lastCinemaS === null) {
        c.verdict = 'never';
        c.why = `never finishes: ${c.stuck}`;
      } else if (!c.meetsDeadline) {
        c.verdict = 'late';
        c.why = `late by ${formatDuration(c.lastCinemaS - deadlineS)}`;
      } else if (c.totalCost > recommended!.totalCost) {
        c.verdict = 'dearer';
        const earlier = sooner(recommended!, c) > 0;
        c.why = `dearer by ${money2(c.totalCost - recommended!.totalCost)} ${currency}${earlier ? `, though ${formatDuration(recommended!.lastCinemaS! - c.lastCinemaS)} sooner` : ''}`;
      } else {
        c.verdict = 'slower';
        c.why = sooner(c, recommended!) === 0 ? 'as cheap and as fast: the same delivery by another split' : `as cheap, but ${formatDuration(c.lastCinemaS - recommended!.lastCinemaS!)} later`;
      }
    }
    summary = recommended
      ? `Choose ${recommended.split} (${recommended.policy}): every cinema has the DCP ${at(recommended)}, ${formatDuration(deadlineS - recommended.lastCinemaS!)} before the deadline, for ${money2(recommended.totalCost)} ${currency}.`
      : `No split meets the deadline: the fastest, ${fastest.split} (${fastest.policy}), ${fastest.lastCinemaS === null ? 'never finishes' : `is ${formatDuration(fastest.lastCinemaS - deadlineS)} late`} and costs ${money2(fastest.totalCost)} ${currency}.`;
  } else {
    for (const c of candidates) {
      if (c === cheapest && c === fastest) {
        c.verdict = 'cheapest';
        c.why = 'the cheapest, and the fastest too';
      } else if (c === cheapest) {
        c.verdict = 'cheapest';
        c.why = 'the cheapest';
      } else if (c === fastest) {
        c.verdict = 'fastest';
        c.why = `the fastest; ${money2(c.totalCost - cheapest.totalCost)} ${currency} dearer than the cheapest`;
      } else if (c.lastCinemaS === null) {
        c.verdict = 'never';
        c.why = `never finishes: ${c.stuck}`;
      } else {
        c.verdict = c.totalCost > cheapest.totalCost ? 'dearer' : 'slower';
        const slower = sooner(c, fastest) > 0 ? `${formatDuration(c.lastCinemaS - (fastest.lastCinemaS ?? 0))} slower than the fastest` : 'as fast as the fastest';
        c.why = `${c.totalCost > cheapest.totalCost ? `dearer than the cheapest by ${money2(c.totalCost - cheapest.totalCost)} ${currency}` : 'as cheap as the cheapest'}, ${slower}`;
      }
    }
    summary =
      cheapest === fastest
        ? `Choose ${cheapest.split} (${cheapest.policy}): the cheapest and the fastest, every cinema done ${at(cheapest)}, for ${money2(cheapest.totalCost)} ${currency}.`
        : `The cheapest is ${cheapest.split} (${cheapest.policy}): every cinema done ${at(cheapest)}, for ${money2(cheapest.totalCost)} ${currency}. The fastest is ${fastest.split} (${fastest.policy}): ${at(fastest)}, for ${money2(fastest.totalCost)} ${currency}. Give a deadline (--deadline) to choose between them.`;
  }
  const tiers = fleet.classes.map((c, i) => ({ role: c.role, label: labels[i], hosts: c.hosts, up: c.up, down: c.down }));
  const windows = Object.fromEntries(METHODS.map((m) => [m, fleet.windows[m].map((w) => w.text).join(',')])) as Record<Method, string>;
  return { scenario: s.name, dcpBytes: fleet.dcpBytes, tiers, windows, start: req.start, deadline: req.deadline, currency, candidates, recommended, cheapest, fastest, summary, sameAs, samePolicies };
}

/** `labels`: each class's hosts in words, in the fleet's class order (the outcome's). */
function candidateOf(split: string, o: Outcome, labels: string[]): Candidate {
  const { classes, ...rest } = o;
  const cost = Object.fromEntries(METHODS.map((m) => [m, money(o.cost[m])])) as Record<Method, number>;
  return {
    ...rest,
    split,
    tiers: classes.map((c, i) => ({ role: c.role, hosts: c.hosts, label: labels[i], finishS: c.finishS, bytesPerNode: c.bytes })),
    cost,
    totalCost: money(cost.bt + cost.obs + cost.cdn),
    verdict: 'dearer',
    why: '',
  };
}
