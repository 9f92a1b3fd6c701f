// A scenario turned into what the delivery model computes with: the DCP's bytes per
// method for a split (the allocation gentask would make), the centre's, OBS host's and
// CDN edge's uplinks, and the cachers and cinemas grouped into classes of identical nodes
// (same links, caps, rebalancing and link events: a tier), with the windows of a policy.
// Identical nodes behave alike in the model, so a fleet of 300 cinemas in three tiers is
// computed as three.
// Owns: that translation and its checks (a bad window or cap in the scenario's config is
// named with its field). Must not touch: the model's arithmetic (delivery-model.ts).
import { allocate, parseRatio, type SizedFile } from '../task/allocate.ts';
import { torrentFileOrder } from '../transfer/bt/make-torrent.ts';
import { METHODS, type Method } from '../task/schema.ts';
import { parseWindows, type Window } from '../schedule/windows.ts';
import { parseRateSpec, type RateSpec } from '../schedule/rate.ts';
import { configDefault } from '../config/config-keys.ts';
import { dcpFiles, eventHost, resolveHosts, ScenarioError, type HostSpec, type Scenario } from './scenario.ts';
import type { Calibration } from './calibration.ts';

export type Policy = 'fulltime' | 'priortime';
export type RebalanceMode = 'off' | 'failed' | 'idle';

/** A link cut in seconds from the cinemas' hand-out: [cut, restored) (restored Infinity: never). */
export type Cut = [number, number];

export interface SourceSpec {
  /** Uplink, bytes/s. */
  up: number;
  /** Downlink, bytes/s (what the CDN edge fetches from the centre through). */
  down: number;
  cuts: Cut[];
}

export interface NodeClass {
  role: 'cacher' | 'cinema';
  /** Host names, in order. */
  hosts: string[];
  up: number;
  down: number;
  cuts: Cut[];
  /** Download caps per method (btlimit, obslimit, cdnlimit) and the upload cap (btuploadlimit). */
  caps: Record<Method, RateSpec>;
  upCap: RateSpec;
  rebalance: RebalanceMode;
  /** Its BitTorrent client runs from the daemon's start (`btatstart`), not from its first task. */
  btAtStart: boolean;
  /** Seconds of its hand-out from the cinemas' (cachers: minus cacherLeadS). */
  handOutS: number;
}

/** The fleet without a split: what every candidate shares (computed once per plan). */
export type Fleet = Omit<FleetModel, 'shares'>;

export interface FleetModel {
  dcpBytes: number;
  /** Bytes of each method's list (what every cinema fetches by each method before rebalancing). */
  shares: Record<Method, number>;
  centre: SourceSpec & { upCap: RateSpec };
  obs: SourceSpec;
  cdn: SourceSpec & { prewarmed: boolean };
  classes: NodeClass[];
  /** The windows of each method (the centre's bttime, obstime, cdntime: gentask writes them into the task). */
  windows: Record<Method, Window[]>;
}

export interface ModelSources {
  /** The DCP's own files in torrent order (gentask knows them), instead of the scenario's `dcp`. */
  files?: SizedFile[];
  /** Windows when the scenario's centre config names none (the sender's config.json), by key. */
  windowsFallback?: Partial<Record<'bttime' | 'obstime' | 'cdntime', string>>;
}

const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));

/** The host's config key, else `fallback`, else the config schema's default. */
function key(h: HostSpec, k: string, fallback?: string): string {
  return str(h.config[k]) ?? fallback ?? String(configDefault(k) ?? '');
}

/** Parses each distinct spec once (a fleet of 300 cinemas mostly repeats a few). */
function memo<T>(parse: (spec: string) => T): (spec: string) => T {
  const seen = new Map<string, T>();
  return (spec) => {
    if (!seen.has(spec)) seen.set(spec, parse(spec));
    return seen.get(spec)!;
  };
}

function checked<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ScenarioError(`${what}: ${(err as Error).message}`);
  }
}

/** The DCP's files in torrent order, as gentask allocates them. */
export function scenarioFiles(s: Scenario): { file: string; size: number }[] {
  const files = dcpFiles(s);
  const byName = new Map(files.map((f) => [f.file, f]));
  return torrentFileOrder(files.map((f) => f.file)).map((f) => byName.get(f)!);
}

/** The DCP the model delivers: the given files, else the scenario's. */
export const dcpOf = (s: Scenario, sources: ModelSources = {}) => sources.files ?? scenarioFiles(s);

/** Bytes per method of `split` for the files (contiguous allocation, gentask's default `ctfilesorder`). */
export function splitShares(files: readonly SizedFile[], split: string): Record<Method, number> {
  return allocate(files, parseRatio(split), { ctfilesorder: true }).sizes;
}

/**
 * Cut intervals of a host from the scenario's events. A killed daemon counts as a cut link
 * until it is restarted (its data stays; its start-up time is not modelled).
 */
function cutsOf(s: Scenario, host: string): Cut[] {
  const cuts: Cut[] = [];
  let from: number | undefined;
  for (const e of [...s.events].filter((e) => eventHost(e) === host).sort((a, b) => a.at - b.at)) {
    const down = 'link' in e ? e.cut : 'kill' in e;
    if (down && from === undefined) from = e.at;
    else if (!down && from !== undefined) {
      cuts.push([from, e.at]);
      from = undefined;
    }
  }
  if (from !== undefined) cuts.push([from, Infinity]);
  return cuts;
}

/** The model of a scenario for one split (the windows are the centre's, used under priortime). */
export function fleetModel(s: Scenario, split: string, cal: Calibration, sources: ModelSources = {}): FleetModel {
  return { ...fleetOf(s, cal, sources), shares: splitShares(dcpOf(s, sources), split) };
}

/** The scenario's fleet: sources, classes of identical nodes, windows. */
export function fleetOf(s: Scenario, cal: Calibration, sources: ModelSources = {}): Fleet {
  const hosts = resolveHosts(s);
  const defaults = Object.fromEntries(['btlimit', 'obslimit', 'cdnlimit', 'btuploadlimit', 'rebalance', 'btatstart'].map((k) => [k, String(configDefault(k) ?? '')]));
  const rateSpec = memo(parseRateSpec);
  const keyOf = (h: HostSpec, k: string) => str(h.config[k]) ?? defaults[k];
  const rate = (bps: number | null) => bps ?? cal.unshapedBps;
  const centre = hosts.find((h) => h.role === 'centre')!;
  const obs = hosts.find((h) => h.role === 'obs')!;
  const cdn = hosts.find((h) => h.role === 'cdn')!;
  const windows = Object.fromEntries(
    METHODS.map((m) => {
      const k = `${m}time` as const;
      const spec = key(centre, k, sources.windowsFallback?.[k]);
      return [m, checked(`config.centre.${k}`, () => parseWindows(spec))];
    }),
  ) as Record<Method, Window[]>;
  const classes = new Map<string, NodeClass>();
  for (const h of hosts) {
    if (h.role !== 'cacher' && h.role !== 'cinema') continue;
    const where = `config (${h.name})`;
    const caps = {
      bt: checked(`${where}.btlimit`, () => rateSpec(keyOf(h, 'btlimit'))),
      obs: checked(`${where}.obslimit`, () => rateSpec(keyOf(h, 'obslimit'))),
      cdn: checked(`${where}.cdnlimit`, () => rateSpec(keyOf(h, 'cdnlimit'))),
    };
    const upCap = checked(`${where}.btuploadlimit`, () => rateSpec(keyOf(h, 'btuploadlimit')));
    const rebalance = keyOf(h, 'rebalance');
    if (!['off', 'failed', 'idle'].includes(rebalance)) throw new ScenarioError(`${where}.rebalance: must be off, failed or idle, not ${rebalance}`);
    const btAtStart = keyOf(h, 'btatstart');
    if (btAtStart !== 'true' && btAtStart !== 'false') throw new ScenarioError(`${where}.btatstart: must be true or false, not ${btAtStart}`);
    const cuts = cutsOf(s, h.name);
    const handOutS = h.role === 'cacher' ? -s.cacherLeadS : 0;
    const node: NodeClass = { role: h.role, hosts: [h.name], up: rate(h.shape.upBps), down: rate(h.shape.downBps), cuts, caps, upCap, rebalance: rebalance as RebalanceMode, btAtStart: btAtStart === 'true', handOutS };
    // A host with link events of its own is a class of its own.
    const id = JSON.stringify([h.role, node.up, node.down, caps, upCap, rebalance, btAtStart, handOutS, cuts.length ? h.name : '']);
    const same = classes.get(id);
    if (same) same.hosts.push(h.name);
    else classes.set(id, node);
  }
  const source = (h: HostSpec): SourceSpec => ({ up: rate(h.shape.upBps), down: rate(h.shape.downBps), cuts: cutsOf(s, h.name) });
  return {
    dcpBytes: dcpOf(s, sources).reduce((n, f) => n + f.size, 0),
    centre: { ...source(centre), upCap: checked('config (centre).btuploadlimit', () => parseRateSpec(key(centre, 'btuploadlimit'))) },
    obs: source(obs),
    cdn: { ...source(cdn), prewarmed: s.cdnPrewarm },
    classes: [...classes.values()],
    windows,
  };
}

/** "cinema1-100" for consecutive names, else a short list. */
export function describeHosts(hosts: string[]): string {
  const runs: string[] = [];
  let i = 0;
  while (i < hosts.length) {
    const m = /^(\D+)(\d+)$/.exec(hosts[i]);
    let j = i;
    if (m) {
      while (j + 1 < hosts.length && hosts[j + 1] === `${m[1]}${Number(/\d+$/.exec(hosts[j])![0]) + 1}`) j++;
    }
    runs.push(j > i ? `${hosts[i]}-${/\d+$/.exec(hosts[j])![0]}` : hosts[i]);
    i = j + 1;
  }
  return runs.length > 4 ? `${runs.slice(0, 3).join(', ')}, ... (${hosts.length} hosts)` : runs.join(', ');
}
