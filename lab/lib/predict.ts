// The plan checked against reality (`lab/lab run --predict`, issue 24 point 4): what the
// planner's delivery model (src/plan) predicts for the scenario, split and policy the lab
// runs, beside what the run measured — per host the time from its `recv` to its DCP
// stored (a cacher: its share seeding) and the bytes it received by each method — and
// the two figures the model is held to: the slowest cinema's time (±25%) and the bytes
// per method over all cinemas and cachers (±10%).
// Measured bytes per method are the nft counters (report.ts): BitTorrent = port 6881
// traffic in, OBS = from the OBS host, CDN = from the CDN edge. They count IP packets;
// the model counts payload, so they are scaled by PAYLOAD_PER_IP_BYTE.
// Owns: the comparison's arithmetic and layout. Must not touch the run.
import { fleetModel } from '../../src/plan/fleet-model.ts';
import { runDelivery, type Outcome } from '../../src/plan/delivery-model.ts';
import { CALIBRATION, type Calibration } from '../../src/plan/calibration.ts';
import { FREE } from '../../src/cost/cost-math.ts';
import { formatTable } from '../../src/util/text-table.ts';
import { LAB_POLICY } from './delivery.ts';
import { LAB_RECEIVER_KEYS } from './daemons.ts';
import type { Scenario } from './scenario.ts';
import type { RunReport } from './report.ts';

type Method = 'bt' | 'obs' | 'cdn';
const METHODS: Method[] = ['bt', 'obs', 'cdn'];

/** TCP payload per IP byte of a full segment on the lab's 1500-byte MTU with TCP timestamps (1448 / 1500). */
export const PAYLOAD_PER_IP_BYTE = 1448 / 1500;
/** The model's targets (issue 24 point 4). */
export const TIME_TARGET = 0.25;
export const BYTES_TARGET = 0.1;

export interface HostComparison {
  host: string;
  role: 'cacher' | 'cinema';
  predictedS: number | null;
  measuredS: number | null;
  predicted: Record<Method, number>;
  measured: Record<Method, number>;
}

export interface Comparison {
  split: string;
  policy: string;
  hosts: HostComparison[];
  slowestCinema: { predictedS: number | null; measuredS: number | null; error: number | null };
  /** Over every cinema and cacher. */
  bytes: Record<Method, { predicted: number; measured: number; error: number | null }>;
  /** The errors within the targets (null: something did not finish). */
  timeWithin: boolean | null;
  bytesWithin: boolean;
}

/**
 * The model's prediction for the lab's run of `split` (handed out now). `receiverKeys`: the
 * lab's own config keys of its cachers and cinemas (today's, or those a recorded run was made
 * with); they sit under the scenario's, as in the daemons' config.json.
 */
export function predict(s: Scenario, split: string, cal: Calibration = CALIBRATION, receiverKeys: Record<string, unknown> = LAB_RECEIVER_KEYS): Outcome {
  const asRun: Scenario = { ...s, config: { ...s.config, default: { ...receiverKeys, ...s.config.default } } };
  return runDelivery(fleetModel(asRun, split, cal), { policy: LAB_POLICY, start: new Date(), prices: FREE, calibration: cal });
}

const relError = (predicted: number | null, measured: number | null) => (predicted === null || measured === null || measured === 0 ? null : (predicted - measured) / measured);

export function compare(o: Outcome, r: RunReport): Comparison {
  const hosts: HostComparison[] = [];
  for (const c of o.classes) {
    for (const host of c.hosts) {
      const row = r.rows.find((h) => h.host === host);
      if (!row) continue;
      hosts.push({
        host,
        role: c.role,
        predictedS: c.finishS === null ? null : c.finishS - c.handOutS,
        measuredS: row.timeS,
        predicted: { ...c.bytes },
        measured: { bt: row.btRx * PAYLOAD_PER_IP_BYTE, obs: row.from.obs * PAYLOAD_PER_IP_BYTE, cdn: row.from.cdn * PAYLOAD_PER_IP_BYTE },
      });
    }
  }
  const cinemas = hosts.filter((h) => h.role === 'cinema');
  const all = <T>(xs: (T | null)[]) => (xs.every((x) => x !== null) ? (xs as T[]) : null);
  const predictedTimes = all(cinemas.map((h) => h.predictedS));
  const measuredTimes = all(cinemas.map((h) => h.measuredS));
  const slowestP = predictedTimes && predictedTimes.length ? Math.max(...predictedTimes) : null;
  const slowestM = measuredTimes && measuredTimes.length ? Math.max(...measuredTimes) : null;
  const bytes = Object.fromEntries(
    METHODS.map((m) => {
      const predicted = hosts.reduce((n, h) => n + h.predicted[m], 0);
      const measured = hosts.reduce((n, h) => n + h.measured[m], 0);
      return [m, { predicted, measured, error: relError(predicted, measured) }];
    }),
  ) as Comparison['bytes'];
  // A method that carried next to nothing has no meaningful relative error: it is held to
  // the same 10%, of all the bytes moved.
  const total = METHODS.reduce((n, m) => n + bytes[m].measured, 0);
  const bytesWithin = METHODS.every((m) => Math.abs(bytes[m].predicted - bytes[m].measured) <= BYTES_TARGET * Math.max(bytes[m].measured, 0.1 * total));
  const error = relError(slowestP, slowestM);
  return {
    split: r.split,
    policy: LAB_POLICY,
    hosts,
    slowestCinema: { predictedS: slowestP, measuredS: slowestM, error },
    bytes,
    timeWithin: error === null ? null : Math.abs(error) <= TIME_TARGET,
    bytesWithin,
  };
}

const secs = (s: number | null) => (s === null ? '-' : s.toFixed(1));
const mb = (b: number) => (b / 1e6).toFixed(1);
const pct = (e: number | null) => (e === null ? '-' : `${e >= 0 ? '+' : ''}${(e * 100).toFixed(0)}%`);

export function formatComparison(c: Comparison): string {
  const out: string[] = [];
  out.push(`== predicted (bft2 plan's model, ${c.split} ${c.policy}) against measured; bytes in MB (10^6) of payload (measured: nft IP bytes × ${PAYLOAD_PER_IP_BYTE.toFixed(4)})`);
  const headers = ['host', 'pred s', 'meas s', 'err', ...METHODS.flatMap((m) => [`${m} pred`, `${m} meas`])];
  const rows = c.hosts.map((h) => [h.host, secs(h.predictedS), secs(h.measuredS), pct(relError(h.predictedS, h.measuredS)), ...METHODS.flatMap((m) => [mb(h.predicted[m]), mb(h.measured[m])])]);
  out.push(formatTable(headers, rows));
  const s = c.slowestCinema;
  out.push(`slowest cinema: predicted ${secs(s.predictedS)} s, measured ${secs(s.measuredS)} s (${pct(s.error)}; target ±${TIME_TARGET * 100}%)${c.timeWithin === false ? '  OUTSIDE' : ''}`);
  out.push(`bytes per method, all cinemas and cachers: ${METHODS.map((m) => `${m} ${mb(c.bytes[m].predicted)} / ${mb(c.bytes[m].measured)} MB (${pct(c.bytes[m].error)})`).join(', ')} (target ±${BYTES_TARGET * 100}%)${c.bytesWithin ? '' : '  OUTSIDE'}`);
  return out.join('\n');
}
