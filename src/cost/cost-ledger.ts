// The cost ledger of one receiver or cacher task (SPEC §12, issue 24 point 2): the bytes
// each method received, per price period and inside/outside the method's window, kept as
// a small JSON object in the task file so that a restart loses nothing and `history`
// keeps the bill with the task. Answers the `progress` fields btcost, obscost, cdncost,
// totalcost, currency and the bytes per method inside/outside its window.
// Owns: that object (its JSON form and its checks). Must not touch: the task file (the
// pipeline stores `toJSON()` where it keeps the task's progress), clocks (callers pass
// the instant), the config (prices and windows come through the callbacks, read at each
// record, so a `reloadconf` prices what arrives after it).
import { z } from 'zod';
import { METHODS, type Method } from '../task/schema.ts';
import { mergePeriods, periodAt, splitSpan, summarise, NO_WINDOWS, type CostSummary, type MethodWindows, type PeriodBytes, type PriceList } from './cost-math.ts';

/** The JSON form kept in the task file (under the key the pipeline chooses, e.g. `accounting`). */
export interface CostLedgerJson {
  version: 1;
  currency: string;
  periods: PeriodBytes[];
}

/** The fields `progress` gains (numbers; costs to two decimals). */
export interface CostProgress {
  btcost: number;
  obscost: number;
  cdncost: number;
  totalcost: number;
  currency: string;
  btinwindowbytes: number;
  btoutwindowbytes: number;
  obsinwindowbytes: number;
  obsoutwindowbytes: number;
  cdninwindowbytes: number;
  cdnoutwindowbytes: number;
}

export interface CostLedgerOptions {
  /** The prices now (config.json's, re-read at each record). */
  prices: () => PriceList;
  /** The task's windows per method (its `priortime`, else the config's); empty = no window. */
  windows?: () => MethodWindows;
}

const periodSchema = z
  .object({
    method: z.enum(METHODS),
    from: z.string().regex(/^\d\d:\d\d$/, 'must be HH:MM'),
    perGB: z.number().nonnegative().finite(),
    inWindow: z.boolean(),
    bytes: z.number().nonnegative().finite(),
  })
  .strict();
const ledgerSchema = z.object({ version: z.literal(1), currency: z.string(), periods: z.array(periodSchema) }).strict();

export class CostLedger {
  private periods: PeriodBytes[];
  private currency: string;

  constructor(
    private readonly opts: CostLedgerOptions,
    saved?: CostLedgerJson,
  ) {
    this.periods = saved ? saved.periods.map((p) => ({ ...p })) : [];
    this.currency = saved?.currency ?? opts.prices().currency;
  }

  /**
   * The ledger a task file holds, checked (it is data from outside). A missing one starts
   * empty; a broken one starts empty too, with `problem` naming what was wrong, for the log.
   */
  static restore(raw: unknown, opts: CostLedgerOptions): { ledger: CostLedger; problem?: string } {
    if (raw === undefined) return { ledger: new CostLedger(opts) };
    const r = ledgerSchema.safeParse(raw);
    if (r.success) return { ledger: new CostLedger(opts, r.data) };
    const problem = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    return { ledger: new CostLedger(opts), problem: `the task's cost ledger is unreadable and starts again from nothing (${problem})` };
  }

  /** `bytes` of `method` arrived at `at`. */
  record(method: Method, bytes: number, at: Date): void {
    if (!(bytes > 0)) return;
    const prices = this.opts.prices();
    this.currency = prices.currency;
    this.periods = mergePeriods(this.periods, [periodAt(method, prices, this.windows(), at, bytes)]);
  }

  /** `bytes` of `method` arrived evenly over [from, to): split where the price or the window changed. */
  recordSpan(method: Method, bytes: number, from: Date, to: Date): void {
    if (!(bytes > 0)) return;
    const prices = this.opts.prices();
    this.currency = prices.currency;
    this.periods = mergePeriods(this.periods, splitSpan(method, bytes, from, to, prices, this.windows()));
  }

  /**
   * After a crash the task file can hold fewer bytes than the part files (the last save
   * came before the last bytes): what a method has on disk beyond what the ledger counts
   * is recorded now, at `at`'s price, so no received byte goes unbilled.
   */
  catchUp(method: Method, bytesOnDisk: number, at: Date): void {
    const missing = bytesOnDisk - this.summary().methods[method].bytes;
    if (missing > 0) this.record(method, missing, at);
  }

  summary(): CostSummary {
    return summarise(this.periods, this.currency);
  }

  progress(): CostProgress {
    const s = this.summary();
    return {
      btcost: s.cost.bt,
      obscost: s.cost.obs,
      cdncost: s.cost.cdn,
      totalcost: s.totalCost,
      currency: s.currency,
      btinwindowbytes: Math.round(s.methods.bt.inWindowBytes),
      btoutwindowbytes: Math.round(s.methods.bt.outWindowBytes),
      obsinwindowbytes: Math.round(s.methods.obs.inWindowBytes),
      obsoutwindowbytes: Math.round(s.methods.obs.outWindowBytes),
      cdninwindowbytes: Math.round(s.methods.cdn.inWindowBytes),
      cdnoutwindowbytes: Math.round(s.methods.cdn.outWindowBytes),
    };
  }

  toJSON(): CostLedgerJson {
    return { version: 1, currency: this.currency, periods: this.periods.map((p) => ({ ...p })) };
  }

  private windows(): MethodWindows {
    return this.opts.windows?.() ?? NO_WINDOWS;
  }
}
