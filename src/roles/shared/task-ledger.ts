// The cost ledger of one receiver or cacher task (SPEC §12, src/cost/cost-ledger.ts) with
// this node's prices and the task's windows: the config's prices are read at each record
// (reloadconf prices what arrives after it), the windows are the task's `<m>.priortime`,
// else the config's `<m>time`. Kept in the task file under `accounting` when the task
// ends (and beside its progress while it runs: the download engine saves it with its part
// records), so a restart loses nothing and `history` keeps the bill.
// Owns nothing on disk.
import { CostLedger } from '../../cost/cost-ledger.ts';
import { priceList, type PriceList } from '../../cost/cost-math.ts';
import { parseWindows } from '../../schedule/windows.ts';
import { METHODS, type Task } from '../../task/schema.ts';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';

/** The task file's key for the ledger. */
export const LEDGER_KEY = 'accounting';

const parsed = new WeakMap<Config, PriceList>();
/** The prices of a config, parsed once per config (a reload makes a new one). */
function pricesOf(config: Config): PriceList {
  let p = parsed.get(config);
  if (!p) parsed.set(config, (p = priceList(config)));
  return p;
}

/** A task's ledger from what was saved (the download's record, else the task file's), checked; a broken one is logged and starts empty. */
export function taskLedger(saved: unknown, t: Task, config: () => Config, log: Logger, task: string): CostLedger {
  const windows = Object.fromEntries(METHODS.map((m) => [m, parseWindows(t[m].priortime || config()[`${m}time`])])) as Record<(typeof METHODS)[number], ReturnType<typeof parseWindows>>;
  const { ledger, problem } = CostLedger.restore(saved, { prices: () => pricesOf(config()), windows: () => windows });
  if (problem) log.warn(`${task}: ${problem}`);
  return ledger;
}
