// The accounting of what a delivery costs, as pure functions (SPEC §12, "Prices"): bytes
// received per method at instants or over spans, split into price periods and into
// inside/outside the method's transfer window, summed into a cost per method and in
// total. The ledger of a running task (cost-ledger.ts) and the planner (src/plan) both
// count with these, so a plan and a bill agree on what a byte costs.
// Owns: that arithmetic and money rounding. Must not touch: I/O, clocks, the config.
import { METHODS, type Method } from '../task/schema.ts';
import { BYTES_PER_GB, nextPriceChange, parsePriceSpec, pricePeriodAt, type PriceTable } from '../schedule/price.ts';
import { coversWholeDay, isOpen, nextClosing, nextOpening, type Window } from '../schedule/windows.ts';

/** The prices of the three methods and the label they are shown in. */
export interface PriceList {
  bt: PriceTable;
  obs: PriceTable;
  cdn: PriceTable;
  currency: string;
}

/** The price list of config.json's (or a scenario's) `btprice`, `obsprice`, `cdnprice`, `currency`. */
export function priceList(spec: { btprice: string; obsprice: string; cdnprice: string; currency: string }): PriceList {
  return { bt: parsePriceSpec(spec.btprice), obs: parsePriceSpec(spec.obsprice), cdn: parsePriceSpec(spec.cdnprice), currency: spec.currency };
}

export const FREE: PriceList = Object.freeze({ bt: [{ minute: 0, value: 0 }], obs: [{ minute: 0, value: 0 }], cdn: [{ minute: 0, value: 0 }], currency: 'CNY' });

/** Bytes of one method at one price, inside or outside the method's window. */
export interface PeriodBytes {
  method: Method;
  /** "HH:MM": the start of the price's timetable entry. */
  from: string;
  /** Price per GB in force then. */
  perGB: number;
  /** Received while the method's transfer window was open (always, for a method without windows). */
  inWindow: boolean;
  bytes: number;
}

/** Windows per method; an empty list means the method has no window (all its bytes count as inside). */
export type MethodWindows = Record<Method, Window[]>;
export const NO_WINDOWS: MethodWindows = Object.freeze({ bt: [], obs: [], cdn: [] });

const insideWindow = (windows: Window[], at: Date) => windows.length === 0 || isOpen(windows, at);

/** The next instant after `at` at which the window opens or closes; undefined when it never does. */
function nextWindowEdge(windows: Window[], at: Date): Date | undefined {
  if (windows.length === 0 || coversWholeDay(windows)) return undefined;
  return isOpen(windows, at) ? nextClosing(windows, at) : nextOpening(windows, at);
}

/** The bucket of bytes that arrive at `at`. */
export function periodAt(method: Method, prices: PriceList, windows: MethodWindows, at: Date, bytes: number): PeriodBytes {
  const p = pricePeriodAt(prices[method], at);
  return { method, from: p.from, perGB: p.perGB, inWindow: insideWindow(windows[method], at), bytes };
}

/**
 * Bytes that arrived evenly over [from, to), split where the price or the window changes
 * (a sample taken every few seconds can straddle 08:00). A span of no length is an instant.
 */
export function splitSpan(method: Method, bytes: number, from: Date, to: Date, prices: PriceList, windows: MethodWindows): PeriodBytes[] {
  const a = from.getTime();
  const b = to.getTime();
  if (b <= a || bytes === 0) return [periodAt(method, prices, windows, from, bytes)];
  const out: PeriodBytes[] = [];
  let t = a;
  while (t < b) {
    const here = new Date(t);
    const edges = [nextPriceChange(prices[method], here), nextWindowEdge(windows[method], here)].filter((d): d is Date => d !== undefined).map((d) => d.getTime());
    const end = Math.min(b, ...edges.filter((e) => e > t));
    out.push(periodAt(method, prices, windows, here, (bytes * (end - t)) / (b - a)));
    t = end;
  }
  return mergePeriods([], out);
}

const sameBucket = (x: PeriodBytes, y: PeriodBytes) => x.method === y.method && x.from === y.from && x.perGB === y.perGB && x.inWindow === y.inWindow;

/** `into` with `add` summed in, bucket by bucket (a new array; neither input changes). */
export function mergePeriods(into: readonly PeriodBytes[], add: readonly PeriodBytes[]): PeriodBytes[] {
  const out = into.map((p) => ({ ...p }));
  for (const p of add) {
    const same = out.find((q) => sameBucket(q, p));
    if (same) same.bytes += p.bytes;
    else out.push({ ...p });
  }
  return out;
}

/** Money to two decimals (half away from zero, robust to 0.1 + 0.2 style float error). */
export const money = (x: number) => Math.round((x + Math.sign(x) * 1e-9) * 100) / 100;

export interface MethodTotals {
  bytes: number;
  inWindowBytes: number;
  outWindowBytes: number;
  /** Unrounded. */
  cost: number;
}

export interface CostSummary {
  currency: string;
  methods: Record<Method, MethodTotals>;
  /** Per method, two decimals. */
  cost: Record<Method, number>;
  /** The sum of the three rounded costs, so the figures shown add up. */
  totalCost: number;
  totalBytes: number;
}

/** Sums the buckets: bytes per method inside/outside the window, cost per method and in total. */
export function summarise(periods: readonly PeriodBytes[], currency: string): CostSummary {
  const methods = Object.fromEntries(METHODS.map((m) => [m, { bytes: 0, inWindowBytes: 0, outWindowBytes: 0, cost: 0 }])) as Record<Method, MethodTotals>;
  for (const p of periods) {
    const t = methods[p.method];
    t.bytes += p.bytes;
    if (p.inWindow) t.inWindowBytes += p.bytes;
    else t.outWindowBytes += p.bytes;
    t.cost += (p.bytes / BYTES_PER_GB) * p.perGB;
  }
  const cost = Object.fromEntries(METHODS.map((m) => [m, money(methods[m].cost)])) as Record<Method, number>;
  return {
    currency,
    methods,
    cost,
    totalCost: money(cost.bt + cost.obs + cost.cdn),
    totalBytes: methods.bt.bytes + methods.obs.bytes + methods.cdn.bytes,
  };
}

/** Receipts (bytes of a method at an instant) to buckets, then summed: the whole accounting in one call. */
export function costOfReceipts(receipts: readonly { method: Method; bytes: number; at: Date }[], prices: PriceList, windows: MethodWindows = NO_WINDOWS): CostSummary {
  return summarise(
    mergePeriods(
      [],
      receipts.map((r) => periodAt(r.method, prices, windows, r.at, r.bytes)),
    ),
    prices.currency,
  );
}

/** The cost of `bytes` received evenly over [from, to) by `method` (unrounded): what the planner charges a step. */
export function costOfSpan(method: Method, bytes: number, from: Date, to: Date, prices: PriceList): number {
  let cost = 0;
  for (const p of splitSpan(method, bytes, from, to, prices, NO_WINDOWS)) cost += (p.bytes / BYTES_PER_GB) * p.perGB;
  return cost;
}
