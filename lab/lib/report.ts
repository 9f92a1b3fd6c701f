// The report of one lab run: a row per host (time, result, link bytes, bytes by source,
// BitTorrent bytes, rebalanced bytes) and the summary figures (slowest cinema, centre
// uplink per cinema and per DCP size), as a table for people and as JSON for tests and
// the benchmarks. Bytes are the delivery's alone (counters after minus before hand-out).
// Owns: the arithmetic of the figures and their layout; no I/O.
import type { HostPlan } from './scenario.ts';
import type { DeliveryResult } from './delivery.ts';
import { describeShape } from './shaping.ts';
import { formatTable } from '../../src/util/text-table.ts';

export { formatTable };

export interface HostRow {
  host: string;
  role: HostPlan['role'];
  /** Its BitTorrent client (bft2, or a cinema's foreign one). */
  client: HostPlan['client'];
  link: string;
  timeS: number | null;
  result: string;
  /** Interface counters of its data link (Ethernet bytes). */
  rx: number;
  tx: number;
  /** nft counters: IP bytes received from each kind of source. */
  from: { centre: number; cachers: number; cinemas: number; obs: number; cdn: number };
  btRx: number;
  btTx: number;
  /** BitTorrent connections the host opened (SYN-ACKs it received from port 6881), and its dials (SYNs it sent, retries counted). */
  btOpened: number;
  btDials: number;
  /**
   * A cinema's physical limit, seconds: the larger of its DCP ÷ its downlink and all the
   * cinemas' bytes ÷ the sources' total uplink (null when a link it needs is unshaped).
   */
  limitS?: number | null;
  /** bft2's view (progress); only for receivers that reported while downloading. */
  bft2?: { bt: number; obs: number; cdn: number };
  /** Progress `rebalancedbytes` / `rebalanced` of a cinema (the last sample while downloading). */
  rebalanced?: number;
  rebalancedText?: string;
  /** A cinema's progress samples while downloading (seconds since its recv; bytes per method). */
  timeline?: { t: number; bt: number; obs: number; cdn: number }[];
}

export interface Summary {
  dcpBytes: number;
  cinemas: number;
  verifiedCinemas: number;
  slowestCinemaS: number | null;
  meanCinemaS: number | null;
  /**
   * The slowest cinema's end in seconds from the first hand-out: with a cacher lead
   * (cacherLeadS) the cinemas' own times leave the lead out, this figure does not.
   */
  slowestCinemaFromFirstS: number | null;
  /** The centre's data link, outbound, during the delivery. */
  centreUplinkBytes: number;
  centreUplinkPerCinema: number;
  /** centreUplinkBytes ÷ DCP size. */
  centreUplinkPerDcp: number;
  /** BitTorrent bytes the centre sent (port 6881 either end), ÷ DCP size. */
  centreBtBytes: number;
  centreBtPerDcp: number;
  obsUplinkBytes: number;
  cdnUplinkBytes: number;
  /** Bytes the edge fetched from the centre during the delivery (cache misses). */
  cdnFillBytes: number;
  rebalancedBytes: number;
  /** The slowest cinema's time ÷ its physical limit (HostRow.limitS), and the largest such ratio of any cinema. */
  slowestOverLimit: number | null;
  worstOverLimit: number | null;
  /** The sources' total uplink in bytes/s (centre, cachers, and OBS and CDN when they carry a share); null if one is unshaped. */
  sourcesUplinkBps: number | null;
  /** BitTorrent connections each cinema opened (answered) and dialled: min, median, max. */
  cinemaConnections: { opened: [number, number, number]; dials: [number, number, number] } | null;
}

export interface RunReport {
  scenario: string;
  /** The run's id: its namespaces were bft2lab-<runId>-*. */
  runId: string;
  split: string;
  task: string;
  /** Seconds the cachers were handed the task before the cinemas (0: all at once). */
  cacherLeadS: number;
  dcp: DeliveryResult['dcp'];
  shares: DeliveryResult['shares'];
  publishS: number;
  warmS: number | null;
  events: DeliveryResult['events'];
  rows: HostRow[];
  summary: Summary;
  resources?: DeliveryResult['resources'];
  ok: boolean;
  problems: string[];
}

export function makeReport(scenario: string, runId: string, hosts: HostPlan[], d: DeliveryResult): RunReport {
  const c = d.counters;
  const byRole = (role: HostPlan['role']) => hosts.filter((h) => h.role === role).map((h) => h.name);
  const sumFrom = (host: string, peers: string[]) => peers.reduce((s, p) => s + (c.nft[host]?.[`rx_${p}`] ?? 0), 0);
  const size = d.dcp.size;
  const cinemaHosts = hosts.filter((h) => h.role === 'cinema');
  const sources = hosts.filter((h) => h.role === 'centre' || h.role === 'cacher' || (h.role === 'obs' && d.shares.obs > 0) || (h.role === 'cdn' && d.shares.cdn > 0));
  const sourcesUplinkBps = sources.every((h) => h.shape.upBps !== null) ? sources.reduce((n, h) => n + h.shape.upBps!, 0) : null;
  const limitOf = (h: HostPlan): number | null => {
    if (h.shape.downBps === null || sourcesUplinkBps === null) return null;
    return Math.max(size / h.shape.downBps, (cinemaHosts.length * size) / sourcesUplinkBps);
  };
  const rows: HostRow[] = hosts.map((h) => {
    const o = d.receivers.find((r) => r.host === h.name);
    return {
      host: h.name,
      role: h.role,
      client: h.client,
      link: describeShape(h),
      timeS: o?.timeS ?? null,
      result: o?.result ?? '',
      rx: c.link[h.name]?.rx ?? 0,
      tx: c.link[h.name]?.tx ?? 0,
      from: {
        centre: sumFrom(h.name, ['centre']),
        cachers: sumFrom(h.name, byRole('cacher')),
        cinemas: sumFrom(h.name, byRole('cinema')),
        obs: sumFrom(h.name, ['obs']),
        cdn: sumFrom(h.name, ['cdn']),
      },
      btRx: c.nft[h.name]?.bt_rx ?? 0,
      btTx: c.nft[h.name]?.bt_tx ?? 0,
      btOpened: c.nftPackets?.[h.name]?.bt_opened ?? 0,
      btDials: c.nftPackets?.[h.name]?.bt_dials ?? 0,
      ...(h.role === 'cinema' ? { limitS: limitOf(h) } : {}),
      bft2: o?.bft2,
      rebalanced: o?.rebalanced,
      rebalancedText: o?.rebalancedText,
      timeline: o?.timeline,
    };
  });
  const cinemaRows = rows.filter((r) => r.role === 'cinema');
  const times = cinemaRows.map((r) => r.timeS).filter((t): t is number => t !== null);
  const fromFirst = d.receivers.filter((o) => o.role === 'cinema').map((o) => o.fromFirstS).filter((t): t is number => t !== undefined);
  const ratios = cinemaRows.map((r) => (r.timeS !== null && r.limitS ? r.timeS / r.limitS : null));
  const slowestRow = times.length === cinemaRows.length && times.length ? cinemaRows.find((r) => r.timeS === Math.max(...times)) : undefined;
  const spread = (xs: number[]): [number, number, number] => {
    const v = [...xs].sort((a, b) => a - b);
    return [v[0], v[Math.floor((v.length - 1) / 2)], v[v.length - 1]];
  };
  const centre = rows.find((r) => r.role === 'centre')!;
  const summary: Summary = {
    dcpBytes: size,
    cinemas: cinemaRows.length,
    verifiedCinemas: cinemaRows.filter((r) => r.result === 'verified').length,
    slowestCinemaS: times.length === cinemaRows.length && times.length ? Math.max(...times) : null,
    meanCinemaS: times.length ? times.reduce((a, b) => a + b, 0) / times.length : null,
    slowestCinemaFromFirstS: fromFirst.length === cinemaRows.length && fromFirst.length ? Math.max(...fromFirst) : null,
    centreUplinkBytes: centre.tx,
    centreUplinkPerCinema: centre.tx / Math.max(1, cinemaRows.length),
    centreUplinkPerDcp: centre.tx / size,
    centreBtBytes: centre.btTx,
    centreBtPerDcp: centre.btTx / size,
    obsUplinkBytes: rows.find((r) => r.role === 'obs')!.tx,
    cdnUplinkBytes: rows.find((r) => r.role === 'cdn')!.tx,
    cdnFillBytes: rows.find((r) => r.role === 'cdn')!.from.centre,
    rebalancedBytes: rows.reduce((s, r) => s + (r.rebalanced ?? 0), 0),
    slowestOverLimit: slowestRow?.limitS ? slowestRow.timeS! / slowestRow.limitS : null,
    worstOverLimit: ratios.every((x) => x !== null) && ratios.length ? Math.max(...(ratios as number[])) : null,
    sourcesUplinkBps,
    cinemaConnections: cinemaRows.length ? { opened: spread(cinemaRows.map((r) => r.btOpened)), dials: spread(cinemaRows.map((r) => r.btDials)) } : null,
  };
  return {
    scenario,
    runId,
    split: d.split,
    task: d.task,
    cacherLeadS: d.cacherLeadS,
    dcp: d.dcp,
    shares: d.shares,
    publishS: d.publishS,
    warmS: d.warmS,
    events: d.events,
    rows,
    summary,
    resources: d.resources,
    ok: d.problems.length === 0 && summary.verifiedCinemas === summary.cinemas,
    problems: d.problems,
  };
}

/** The run's memory and CPU, in three lines. */
export function formatResources(x: NonNullable<RunReport['resources']>): string {
  const m = (v: number | null) => (v === null ? '-' : v.toFixed(0));
  const byRole = (prefix: string) => x.daemons.filter((d) => d.host.startsWith(prefix));
  const range = (ds: typeof x.daemons, f: (d: (typeof x.daemons)[number]) => number | null) => {
    const v = ds.map(f).filter((n): n is number => n !== null);
    return v.length ? `${m(Math.min(...v))}-${m(Math.max(...v))}` : '-';
  };
  const roles = ['centre', 'cacher', 'cinema'].filter((p) => byRole(p).length);
  return [
    `memory (RSS, MB): idle ${roles.map((p) => `${p} ${range(byRole(p), (d) => d.idleRssMB)}`).join(', ')}; peak ${roles.map((p) => `${p} ${range(byRole(p), (d) => d.peakRssMB)}`).join(', ')}; all ${x.daemons.length} daemons: ${m(x.idleTotalRssMB)} idle, ${m(x.peakTotalRssMB)} at the peak`,
    `CPU: the daemons used ${x.daemonCpuS.toFixed(0)} s in ${x.wallS.toFixed(0)} s (${x.daemonCores.toFixed(2)} of ${x.cores} cores); the machine was ${(x.machineBusy * 100).toFixed(0)}% busy (every process, also others'); load average ${x.loadAverage.start[0].toFixed(1)} -> ${x.loadAverage.end[0].toFixed(1)}`,
  ].join('\n');
}

const mb = (b: number | undefined) => (b === undefined ? '-' : (b / 1e6).toFixed(1));
const secs = (s: number | null) => (s === null ? '-' : s.toFixed(1));

export function formatReport(r: RunReport): string {
  const out: string[] = [];
  const s = r.summary;
  out.push(
    `== ${r.scenario}: ${r.dcp.name} ${mb(r.dcp.size)} MB in ${r.dcp.files} files, bt:obs:cdn ${r.split} (bt ${mb(r.shares.bt)} / obs ${mb(r.shares.obs)} / cdn ${mb(r.shares.cdn)} MB); published in ${secs(r.publishS)} s${r.warmS !== null ? `, edge warmed in ${secs(r.warmS)} s` : ''}`,
  );
  out.push('bytes in MB (10^6) during the delivery; link = interface counters of the host\'s data link; from-* and bt = nft counters (IP bytes)');
  const headers = ['host', 'time s', 'result', 'link rx', 'link tx', 'from centre', 'from cachers', 'from cinemas', 'from obs', 'from cdn', 'bt rx', 'bt tx', 'rebalanced', 'link shape'];
  const rows = r.rows.map((h) => [
    h.client && h.client !== 'bft2' ? `${h.host} (${h.client})` : h.host,
    secs(h.timeS),
    h.result.length > 40 ? `${h.result.slice(0, 39)}…` : h.result || '-',
    mb(h.rx),
    mb(h.tx),
    mb(h.from.centre),
    mb(h.from.cachers),
    mb(h.from.cinemas),
    mb(h.from.obs),
    mb(h.from.cdn),
    mb(h.btRx),
    mb(h.btTx),
    mb(h.rebalanced),
    h.link,
  ]);
  out.push(formatTable(headers, rows, [0, 2, 13]));
  if (r.events.length) out.push(`events: ${r.events.map((e) => `t+${e.appliedAtS.toFixed(1)} s ${e.what}`).join('; ')}`);
  if (r.cacherLeadS > 0) {
    out.push(
      `the cachers were handed the task ${r.cacherLeadS} s before the cinemas (cacherLeadS): each time is from that node's own recv; the slowest cinema finished ${secs(s.slowestCinemaFromFirstS)} s after the first hand-out; the byte counts include the lead`,
    );
  }
  const cinemaRows = r.rows.filter((h) => h.role === 'cinema');
  const clients = [...new Set(cinemaRows.map((h) => h.client ?? 'bft2'))];
  if (clients.some((c) => c !== 'bft2')) {
    const per = clients.map((c) => {
      const of = cinemaRows.filter((h) => (h.client ?? 'bft2') === c);
      const times = of.map((h) => h.timeS).filter((t): t is number => t !== null);
      return `${c} ${of.filter((h) => h.result === 'verified').length}/${of.length}${times.length ? ` (slowest ${secs(Math.max(...times))} s)` : ''}`;
    });
    out.push(`mixed fleet: cinemas verified by client: ${per.join(', ')}`);
  }
  const limit = s.slowestOverLimit === null ? '' : `; slowest ÷ its physical limit ${s.slowestOverLimit.toFixed(2)} (worst cinema ${s.worstOverLimit?.toFixed(2) ?? '-'}; limit = max(DCP ÷ its downlink, cinemas' bytes ÷ sources' uplink ${mb(s.sourcesUplinkBps ?? 0)} MB/s))`;
  out.push(
    `cinemas verified ${s.verifiedCinemas}/${s.cinemas}; slowest ${secs(s.slowestCinemaS)} s, mean ${secs(s.meanCinemaS)} s${limit}`,
    `centre uplink ${mb(s.centreUplinkBytes)} MB = ${s.centreUplinkPerDcp.toFixed(2)} x DCP, ${mb(s.centreUplinkPerCinema)} MB per cinema; centre BitTorrent upload ${mb(s.centreBtBytes)} MB = ${s.centreBtPerDcp.toFixed(2)} x DCP`,
    `obs uplink ${mb(s.obsUplinkBytes)} MB; cdn uplink ${mb(s.cdnUplinkBytes)} MB, edge fill from the centre ${mb(s.cdnFillBytes)} MB; rebalanced (bft2 view) ${mb(s.rebalancedBytes)} MB`,
  );
  if (s.cinemaConnections) {
    const [o, d] = [s.cinemaConnections.opened, s.cinemaConnections.dials];
    out.push(`BitTorrent connections per cinema: opened (answered) min ${o[0]}, median ${o[1]}, max ${o[2]}; dials (SYNs, retries counted) min ${d[0]}, median ${d[1]}, max ${d[2]}`);
  }
  if (r.resources) out.push(formatResources(r.resources));
  if (r.problems.length) out.push('problems:', ...r.problems.map((p) => `  ${p}`));
  out.push(r.ok ? 'RESULT: ok' : 'RESULT: FAILED');
  return out.join('\n');
}
