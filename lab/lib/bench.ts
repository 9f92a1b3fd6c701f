// The lab's benchmarks (`lab/lab bench`), each a scenario run through the same code
// as `lab/lab run`, summarised against its target:
// - hybrid (lab/scenarios/hybrid-bench.json): one cinema, each source link capped alike, the
//   cinema's downlink 4x that; the DCP delivered once per split of `benchSplits` (1:0:0,
//   0:1:0, 0:0:1, 1:1:1). Figure: time of 1:1:1 ÷ time of the best single method
//   (target ≤ 0.40; file-granular allocation alone gives about 0.57). A single-method run
//   is run with the cinema's `rebalance` off: with rebalancing on, the CDN (which reaches
//   every file) and BitTorrent (the full torrent) would take part of it, and it would not
//   be the time of one method.
// - swarm (lab/scenarios/swarm-bench.json): 1 centre, 2 cachers, 8 cinemas, 1:0:0, BitTorrent
//   only (the cinemas' rebalance `failed`, so no method the task gives no share can take
//   part, whatever the engine's rule), every node handed the task at once. Figures: the centre's BitTorrent
//   upload ÷ DCP size (target ≤ 3), and the slowest cinema's time. No head start for the
//   cachers here: it would flatter both figures (the cinemas' times leave the lead out).
//   lab/scenarios/swarm-lead.json is the same with one (pre-positioning), reported as such.
// Owns: the summaries; the runs are delivery.ts's.
import { formatTable, type RunReport } from './report.ts';
import type { Scenario } from './scenario.ts';

/** Whether a bt:obs:cdn split gives a share to one method only. */
export const isSingle = (split: string) => split.split(':').filter((n) => Number(n) > 0).length === 1;

/** The scenario a hybrid bench run uses for `split`: a single method runs alone (the cinemas' rebalance off). */
export function benchScenario(s: Scenario, split: string): Scenario {
  if (!isSingle(split)) return s;
  return { ...s, config: { ...s.config, cinemas: { ...s.config.cinemas, rebalance: 'off' } } };
}

const mb = (b: number) => (b / 1e6).toFixed(1);

export function hybridSummary(runs: RunReport[]): { text: string; ratio: number | null } {
  const time = (r: RunReport) => r.summary.slowestCinemaS;
  const singles = runs.filter((r) => isSingle(r.split) && r.ok && time(r) !== null);
  const best = singles.length ? Math.min(...singles.map((r) => time(r)!)) : null;
  const rows = runs.map((r) => {
    const cinema = r.rows.find((h) => h.role === 'cinema')!;
    const t = time(r);
    return [
      `${r.split}${isSingle(r.split) ? ' (alone)' : ''}`,
      t === null ? '-' : t.toFixed(1),
      t !== null && best ? (t / best).toFixed(2) : '-',
      mb(cinema.from.centre),
      mb(cinema.from.obs),
      mb(cinema.from.cdn),
      mb(cinema.rx),
      mb(cinema.rebalanced ?? 0),
      r.ok ? 'verified' : 'FAILED',
    ];
  });
  const hybrid = runs.find((r) => r.split.split(':').every((n) => Number(n) > 0) && r.ok);
  const ratio = hybrid && best && time(hybrid) !== null ? time(hybrid)! / best : null;
  const dcp = runs[0]?.dcp;
  const text = [
    `== bench hybrid: ${dcp ? `${mb(dcp.size)} MB in ${dcp.files} files` : ''}; time of the cinema's delivery per bt:obs:cdn`,
    formatTable(['bt:obs:cdn', 'time s', 'x best single', 'from centre MB', 'from obs MB', 'from cdn MB', 'cinema rx MB', 'rebalanced MB', 'result'], rows, [0, 8]),
    ratio === null
      ? 'hybrid ratio: not measured (a run failed)'
      : `hybrid ratio: ${hybrid!.split} took ${ratio.toFixed(2)} x the best single method (target <= 0.40; file-granular allocation alone: about 0.57)`,
  ].join('\n');
  return { text, ratio };
}

export function swarmSummary(r: RunReport): string {
  const s = r.summary;
  const rows = r.rows
    .filter((h) => h.role === 'cacher' || h.role === 'cinema')
    .map((h) => [h.host, h.timeS === null ? '-' : h.timeS.toFixed(1), h.result, mb(h.from.centre), mb(h.from.cachers), mb(h.btRx), mb(h.btTx)]);
  return [
    `== bench swarm: ${mb(s.dcpBytes)} MB, 1 centre, ${r.rows.filter((h) => h.role === 'cacher').length} cachers, ${s.cinemas} cinemas, bt:obs:cdn ${r.split}`,
    formatTable(['host', 'time s', 'result', 'from centre MB', 'from cachers MB', 'bt rx MB', 'bt tx MB'], rows, [0, 2]),
    `centre BitTorrent upload ${mb(s.centreBtBytes)} MB = ${s.centreBtPerDcp.toFixed(2)} x DCP size (all of its uplink: ${s.centreUplinkPerDcp.toFixed(2)} x); slowest cinema ${s.slowestCinemaS === null ? 'did not finish' : `${s.slowestCinemaS.toFixed(1)} s`}; verified ${s.verifiedCinemas}/${s.cinemas}`,
    r.cacherLeadS > 0
      ? `the cachers had a head start of ${r.cacherLeadS} s: the slowest cinema finished ${s.slowestCinemaFromFirstS === null ? '-' : s.slowestCinemaFromFirstS.toFixed(1)} s after the first hand-out, and the centre's upload includes what it sent during the lead`
      : 'all hand-outs at once (no head start for the cachers)',
  ].join('\n');
}
