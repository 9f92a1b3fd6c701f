// `gentask --btobscdn auto --deadline "YYYY-MM-DD HH:MM"` (SPEC §12): the split (and, when
// the call names no policy, the policy) the planner recommends for the fleet described in
// <root>/etc/bft2/fleet.json, for this DCP's own files, handed out now, with the sender's
// windows (the ones gentask writes into the task) and the fleet's prices, else the
// config's. When no split meets the deadline, the fastest, said to be late.
// Owns: that choice and the sentence the log gets. Must not touch the task (gentask.ts).
import { loadScenario, parseLocalMinute } from './scenario.ts';
import { plan } from './planner.ts';
import { planInputs } from './plan-inputs.ts';
import { formatDuration } from './planner.ts';
import { formatLocalTime } from '../util/time.ts';
import type { SizedFile } from '../task/allocate.ts';
import type { Config } from '../config/schema.ts';
import type { Policy } from './fleet-model.ts';

export interface AutoSplitRequest {
  fleetFile: string;
  /** The sender's config and its path (prices the fleet lacks; the windows). */
  config: Config;
  configFile: string;
  /** "YYYY-MM-DD HH:MM", as the caller gave it. */
  deadline: string;
  /** The DCP's files in torrent order. */
  files: SizedFile[];
  /** The policy the call names, if any: then only splits under it are weighed. */
  policy?: Policy;
  now: Date;
}

export interface AutoSplit {
  split: string;
  policy: Policy;
  /** No split meets the deadline: this is the fastest. */
  late: boolean;
  /** For the log: what was chosen, when every cinema has it, the predicted cost. */
  line: string;
}

/** Throws an Error whose message says what is wrong (no fleet file, a bad deadline, ...). */
export async function autoSplit(req: AutoSplitRequest): Promise<AutoSplit> {
  const deadline = parseLocalMinute(req.deadline);
  if (!deadline) throw new Error(`the deadline ${JSON.stringify(req.deadline)} must be a local time "YYYY-MM-DD HH:MM"`);
  if (deadline.getTime() <= req.now.getTime()) throw new Error(`the deadline ${req.deadline} has passed`);
  const fleet = await loadScenario(req.fleetFile).catch((err: Error) => {
    throw new Error(`auto needs the fleet in ${req.fleetFile} (bft2 plan's format, docs/plan.md): ${err.message}`);
  });
  const c = req.config;
  // The windows are the sender's: gentask writes them into the task.
  const s = { ...fleet, config: { ...fleet.config, centre: { ...fleet.config.centre, bttime: c.bttime, obstime: c.obstime, cdntime: c.cdntime } } };
  const inputs = planInputs(s, c, req.configFile);
  const p = plan({ scenario: s, prices: inputs.prices, start: req.now, deadline, policies: req.policy ? [req.policy] : undefined, sources: { ...inputs.sources, files: req.files } });
  const chosen = p.recommended ?? p.fastest;
  const by = chosen.lastCinemaS === null ? 'never' : formatLocalTime(new Date(req.now.getTime() + chosen.lastCinemaS * 1000)).slice(0, 16);
  const late = !p.recommended;
  const lateBy = late && chosen.lastCinemaS !== null ? `, ${formatDuration(chosen.lastCinemaS - (deadline.getTime() - req.now.getTime()) / 1000)} LATE: no split meets the deadline, this is the fastest` : late ? ', LATE: no split finishes' : '';
  return {
    split: chosen.split,
    policy: chosen.policy,
    late,
    line: `btobscdn auto: ${chosen.split} ${chosen.policy}, every cinema by ${by} (deadline ${req.deadline}${lateBy}), predicted cost ${chosen.totalCost.toFixed(2)} ${p.currency} (fleet ${req.fleetFile})`,
  };
}
