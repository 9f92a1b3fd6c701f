// The delivery model: what a delivery of one split under one policy will do, computed as
// flows of bytes through the fleet's links (a fluid model, stepped from event to event).
// At each step every active transfer is a flow — BitTorrent from the centre and from
// cachers to cachers and cinemas, from cinemas to cachers (cinemas sit behind firewalls:
// they reach out, nobody reaches them, so no two cinemas swap), OBS from the OBS host,
// HTTP from the CDN edge (which fetches what it lacks from the centre, once) — and the
// links are shared among them max-min fairly (max-min.ts), within the nodes' caps and
// only inside the methods' windows under `priortime`. A cacher or cinema gives another
// the pieces it holds that the other lacks (pieces taken as spread at random over the
// share). With `rebalance` idle a method that finished its own share takes over the
// largest share still left that it can reach (CDN and BitTorrent reach every file, OBS
// only its own), as the download engine's work plan does. Bytes are priced as they
// arrive (src/cost). Steps end at every window edge, price change, cap change, link
// event, hand-out and share completion, and are short while partial swarms grow.
// Owns: that arithmetic. Pure: no I/O, no clocks (the start is an input).
import { METHODS, type Method } from '../task/schema.ts';
import { isOpen, nextClosing, nextOpening, coversWholeDay, type Window } from '../schedule/windows.ts';
import { rateAt, nextRateChange, type RateSpec } from '../schedule/rate.ts';
import { nextPriceChange, priceAt, BYTES_PER_GB } from '../schedule/price.ts';
import type { PriceList } from '../cost/cost-math.ts';
import { maxMinFair, type Flow } from './max-min.ts';
import type { Calibration } from './calibration.ts';
import type { Cut, FleetModel, NodeClass, Policy } from './fleet-model.ts';

export interface ClassOutcome {
  role: 'cacher' | 'cinema';
  hosts: string[];
  /** Seconds from the cinemas' hand-out to the node's DCP stored (cacher: its share seeding); null: not within the horizon. */
  finishS: number | null;
  /** Seconds of its own hand-out (cachers lead with a negative one). */
  handOutS: number;
  /** Bytes one node of the class received by each method. */
  bytes: Record<Method, number>;
}

export interface Outcome {
  policy: Policy;
  shares: Record<Method, number>;
  classes: ClassOutcome[];
  /** Seconds to the last cinema's DCP stored; null when some cinema does not finish within the horizon. */
  lastCinemaS: number | null;
  /** Bytes every cacher and cinema together received by each method. */
  bytes: Record<Method, number>;
  /** Unrounded cost per method and in total. */
  cost: Record<Method, number>;
  totalCost: number;
  /** What the centre's uplink carried (BitTorrent and the CDN edge's fills), bytes. */
  centreUpBytes: number;
  /** Why some cinema never finishes (a window that never opens, a share no source can serve). */
  stuck?: string;
}

export interface RunOptions {
  policy: Policy;
  start: Date;
  prices: PriceList;
  calibration: Calibration;
  /** Give up after this many seconds (a split that never completes). */
  horizonS?: number;
}

const DEFAULT_HORIZON_S = 60 * 86400;
/** A growing swarm is stepped so that no partial holder gains more than this share of the BitTorrent share per step. */
const SWARM_STEP_SHARE = 0.08;
const MAX_STEPS = 200_000;
const EPS_BYTES = 1;

interface ClassState {
  spec: NodeClass;
  n: number;
  /** Bytes each method's own list still needs (cacher: bt only, its share). */
  left: Record<Method, number>;
  got: Record<Method, number>;
  /** Bytes of the BitTorrent share held, of `shareBt` (for what a node can give another). */
  btHeld: number;
  /** Bytes of the CDN list fetched through the edge (the edge's cache follows the furthest class). */
  cdnOwn: number;
  lastByteS: number | null;
  finishS: number | null;
}

const cutAt = (cuts: Cut[], t: number) => cuts.some(([a, b]) => t >= a && t < b);
const isCut = (cuts: Cut[], t: number) => cutAt(cuts, t);

function windowEdgeAfter(w: Window[], at: Date): Date | undefined {
  if (w.length === 0 || coversWholeDay(w)) return undefined;
  return isOpen(w, at) ? nextClosing(w, at) : nextOpening(w, at);
}

/** A value that changes only at instants known in advance (a window, a price, a cap): looked up again only once its next change has passed. Time only moves forward in a run. */
class Stepwise<T> {
  private value!: T;
  private next: number | undefined = -Infinity;
  constructor(
    private readonly valueAt: (at: Date) => T,
    private readonly changeAfter: (at: Date) => Date | undefined,
  ) {}
  private refresh(ms: number): void {
    if (this.next !== undefined && ms >= this.next) {
      const at = new Date(ms);
      this.value = this.valueAt(at);
      this.next = this.changeAfter(at)?.getTime();
    }
  }
  at(ms: number): T {
    this.refresh(ms);
    return this.value;
  }
  /** The next change after `ms`, epoch ms; undefined: never. */
  changeAfterMs(ms: number): number | undefined {
    this.refresh(ms);
    return this.next;
  }
}

/** The work plan's smallest range near the end, and the gaps it leaves to their owner (work-plan.ts). */
const MIN_CHUNK = 4 * 1024 * 1024;
const CRUMB = 1024 * 1024;

/**
 * Bytes of method `k`'s own list that its running lane has in flight, which no other method
 * may take over: `parallel` ranges of a chunk, smaller near the end (an eighth of what is
 * pending, at least MIN_CHUNK), as the work plan hands them out.
 */
function inFlight(k: Method, st: ClassState, cal: Calibration): number {
  const chunk = k === 'obs' ? cal.obsChunkBytes : cal.chunkBytes;
  const pending = st.left.bt + st.left.obs + st.left.cdn;
  const now = Math.max(Math.min(chunk, MIN_CHUNK), Math.min(chunk, pending / 8));
  return Math.min(st.left[k], cal.parallel[k] * now);
}

/**
 * Which own list method `m` works on now: its own, or (idle rebalancing) the largest part
 * of another's that nobody fetches yet and that `m` reaches (CDN and BitTorrent every file,
 * OBS only its own).
 */
function workTarget(m: Method, st: ClassState, shares: Record<Method, number>, takeable: Record<Method, number>): Method | undefined {
  if (shares[m] === 0) return undefined; // only methods the task gives a share take part
  if (st.left[m] > EPS_BYTES) return m;
  if (st.spec.rebalance !== 'idle' || m === 'obs') return undefined;
  let best: Method | undefined;
  for (const k of METHODS) if (k !== m && takeable[k] > CRUMB && (best === undefined || takeable[k] > takeable[best])) best = k;
  return best;
}

export function runDelivery(model: FleetModel, opts: RunOptions): Outcome {
  const cal = opts.calibration;
  const horizon = opts.horizonS ?? DEFAULT_HORIZON_S;
  const t0 = opts.start.getTime();
  const S = model.shares.bt;
  const states: ClassState[] = model.classes.map((spec) => ({
    spec,
    n: spec.hosts.length,
    left: spec.role === 'cinema' ? { ...model.shares } : { bt: S, obs: 0, cdn: 0 },
    got: { bt: 0, obs: 0, cdn: 0 },
    btHeld: 0,
    cdnOwn: 0,
    lastByteS: null,
    finishS: null,
  }));
  const totalBytes = { bt: 0, obs: 0, cdn: 0 };
  const cost = { bt: 0, obs: 0, cdn: 0 };
  let centreUpBytes = 0;
  const startAt = (st: ClassState) => st.spec.handOutS + cal.startS;
  /** BitTorrent starts later: the client (unless it runs from the start), the torrent, the tracker, the first peers. */
  const btStartAt = (st: ClassState) => startAt(st) + (st.spec.btAtStart ? cal.btWarmStartS : cal.btStartS);
  // The centre leaves the cinemas to the cachers once one is there (bt-seed.ts, deferToCachers).
  const hasCachers = states.some((st) => st.spec.role === 'cacher');
  const needs = (st: ClassState) => st.left.bt + st.left.obs + st.left.cdn > EPS_BYTES;
  for (const st of states) if (!needs(st)) st.lastByteS = st.finishS = st.spec.handOutS;

  const windowOpen = Object.fromEntries(
    METHODS.map((m) => [m, opts.policy === 'fulltime' ? new Stepwise(() => true, () => undefined) : new Stepwise((at) => isOpen(model.windows[m], at), (at) => windowEdgeAfter(model.windows[m], at))]),
  ) as Record<Method, Stepwise<boolean>>;
  const priceNow = Object.fromEntries(METHODS.map((m) => [m, new Stepwise((at) => priceAt(opts.prices[m], at), (at) => nextPriceChange(opts.prices[m], at))])) as Record<Method, Stepwise<number>>;
  const caps = new Map<RateSpec, Stepwise<number>>();
  const capOf = (spec: RateSpec) => {
    let c = caps.get(spec);
    if (!c) caps.set(spec, (c = new Stepwise((at) => rateAt(spec, at) ?? Infinity, (at) => nextRateChange(spec, at))));
    return c;
  };

  let t = Math.min(0, ...states.map((s) => s.spec.handOutS));
  let prevSwarmDt = Infinity;
  let stuck: string | undefined;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (states.every((st) => st.finishS !== null)) break;
    if (t > horizon) break;
    const now = t0 + t * 1000;
    // Present: handed out and started (sources, once they hold pieces); downloading: not done yet.
    const active = states.filter((st) => t >= startAt(st) - 1e-9);
    const downloading = (st: ClassState) => st.lastByteS === null;
    const open = (m: Method) => windowOpen[m].at(now);

    // ----- the links -----
    const capacity: number[] = [];
    const link = (c: number) => capacity.push(c) - 1;
    const centreUp = link(isCut(model.centre.cuts, t) ? 0 : model.centre.up);
    const centreBtCap = link(capOf(model.centre.upCap).at(now));
    const obsUp = link(isCut(model.obs.cuts, t) ? 0 : model.obs.up);
    const cdnUp = link(isCut(model.cdn.cuts, t) ? 0 : model.cdn.up);
    const cdnDown = link(isCut(model.cdn.cuts, t) ? 0 : model.cdn.down);
    const links = active.map((st) => {
      const cut = isCut(st.spec.cuts, t);
      return {
        up: link(cut ? 0 : st.spec.up),
        down: link(cut ? 0 : st.spec.down),
        upCap: link(capOf(st.spec.upCap).at(now)),
        cap: { bt: link(capOf(st.spec.caps.bt).at(now)), obs: link(capOf(st.spec.caps.obs).at(now)), cdn: link(capOf(st.spec.caps.cdn).at(now)) },
      };
    });

    // ----- the flows -----
    const flows: Flow[] = [];
    const takeableOf: Record<Method, number>[] = [];
    /** What each flow feeds: the class, the method, the list it works on, and how many sources each node has in it. */
    const feeds: { dst: number; method: Method; target: Method; perNode: number; centreCoef: number }[] = [];
    const btInto = (st: ClassState) => 1 / cal.btEfficiency[st.spec.role];
    const http = 1 / cal.httpEfficiency;
    // The edge's cache holds the furthest class's CDN bytes (or the whole CDN list, warmed before).
    const cdnFrontier = Math.max(0, ...active.filter((st) => st.spec.role === 'cinema').map((st) => st.cdnOwn));
    const swarmDtGuess = Number.isFinite(prevSwarmDt) ? prevSwarmDt * 2 : (SWARM_STEP_SHARE * Math.max(S, 1)) / Math.max(1, ...active.map((st) => st.spec.down));
    // While a cacher fills, what it can give others grows: small steps then.
    let partialSwarm = S > 0 && active.some((st) => st.spec.role === 'cacher' && downloading(st));
    active.forEach((dst, d) => {
      if (!downloading(dst)) return;
      const L = links[d];
      const shares = dst.spec.role === 'cinema' ? model.shares : { bt: S, obs: 0, cdn: 0 };
      // A lane that runs (its window open) keeps its ranges in flight; a closed one releases them.
      const held = (k: Method) => (shares[k] > 0 && open(k) ? inFlight(k, dst, cal) : 0);
      const takeable = { bt: dst.left.bt - held('bt'), obs: dst.left.obs - held('obs'), cdn: dst.left.cdn - held('cdn') };
      takeableOf[d] = takeable;
      const target = (m: Method) => (open(m) ? workTarget(m, dst, shares, takeable) : undefined);
      const targets = { bt: target('bt'), obs: target('obs'), cdn: target('cdn') };
      // BitTorrent
      const btTarget = t >= btStartAt(dst) - 1e-9 ? targets.bt : undefined;
      // With cachers the centre serves only them: a cinema's BitTorrent reaches only the share the cachers hold.
      const fromCentre = dst.spec.role === 'cacher' || !hasCachers;
      if (btTarget !== undefined && (btTarget === 'bt' || fromCentre)) {
        const ownShare = btTarget === 'bt';
        const dstHeld = S > 0 ? dst.btHeld / S : 1;
        // From the centre: everything (the full torrent too, for files BitTorrent takes over).
        if (fromCentre) {
          const bt = btInto(dst);
          flows.push({ uses: [{ link: centreUp, coef: dst.n * bt }, { link: centreBtCap, coef: dst.n }, { link: L.down, coef: bt }, { link: L.cap.bt, coef: 1 }], bound: Infinity });
          feeds.push({ dst: d, method: 'bt', target: btTarget, perNode: 1, centreCoef: dst.n * bt });
        }
        // From other cachers (and, to cachers, from cinemas): the pieces of the share they hold that it lacks.
        if (ownShare) {
          active.forEach((src, s) => {
            if (src.spec.role === 'cinema' && dst.spec.role === 'cinema') return; // firewalls
            if (dst.spec.role === 'cacher' && !cal.cachersSwap) return; // a cacher's share comes from the centre
            // A cinema hears of cachers that are still filling only at its first re-announce.
            if (dst.spec.role === 'cinema' && src.btHeld < S - EPS_BYTES && t < btStartAt(dst) + cal.quietReannounceS - 1e-9) return;
            const bt = btInto(dst);
            const perSrcNode = dst.n - (s === d ? 1 : 0);
            const perDstNode = src.n - (s === d ? 1 : 0);
            if (perSrcNode <= 0 || perDstNode <= 0 || src.btHeld <= EPS_BYTES || S === 0 || t < btStartAt(src) - 1e-9) return;
            const novel = src.btHeld * (1 - dstHeld);
            if (novel <= EPS_BYTES) return;
            if (src.btHeld < S - EPS_BYTES) partialSwarm = true;
            const Ls = links[s];
            flows.push({
              uses: [
                { link: Ls.up, coef: perSrcNode * bt },
                { link: Ls.upCap, coef: perSrcNode },
                { link: L.down, coef: perDstNode * bt },
                { link: L.cap.bt, coef: perDstNode },
              ],
              bound: novel / swarmDtGuess,
            });
            feeds.push({ dst: d, method: 'bt', target: btTarget, perNode: perDstNode, centreCoef: 0 });
          });
        }
      }
      if (dst.spec.role !== 'cinema') return;
      // OBS: its own list only.
      if (targets.obs !== undefined) {
        flows.push({ uses: [{ link: obsUp, coef: dst.n * http }, { link: L.down, coef: http }, { link: L.cap.obs, coef: 1 }], bound: Infinity, weight: cal.parallel.obs });
        feeds.push({ dst: d, method: 'obs', target: targets.obs, perNode: 1, centreCoef: 0 });
      }
      // CDN: what the edge has not cached comes through the centre's uplink, once for every node.
      const cdnTarget = targets.cdn;
      if (cdnTarget !== undefined) {
        const cached = cdnTarget === 'cdn' && (model.cdn.prewarmed || dst.cdnOwn < cdnFrontier - EPS_BYTES);
        const uses = [{ link: cdnUp, coef: dst.n * http }, { link: L.down, coef: http }, { link: L.cap.cdn, coef: 1 }];
        if (!cached) uses.push({ link: centreUp, coef: http }, { link: cdnDown, coef: http });
        flows.push({ uses, bound: Infinity, weight: cal.parallel.cdn });
        feeds.push({ dst: d, method: 'cdn', target: cdnTarget, perNode: 1, centreCoef: cached ? 0 : http });
      }
    });

    const rates = maxMinFair(flows, capacity);

    // ----- per class: each method's rate and the lists it works on -----
    const inRate = active.map(() => ({ bt: 0, obs: 0, cdn: 0 }));
    const onTarget = active.map(() => ({ bt: 0, obs: 0, cdn: 0 }));
    const takenFrom = active.map(() => ({ bt: false, obs: false, cdn: false }));
    let centreRate = 0;
    feeds.forEach((f, i) => {
      const r = rates[i] * f.perNode;
      inRate[f.dst][f.method] += r;
      onTarget[f.dst][f.target] += r;
      if (f.target !== f.method && r > 0) takenFrom[f.dst][f.target] = true;
      centreRate += rates[i] * f.centreCoef;
    });

    // ----- how long these rates hold -----
    let dt = Infinity;
    const until = (abs: number | undefined) => {
      if (abs !== undefined) {
        const s = (abs - now) / 1000;
        if (s > 1e-9) dt = Math.min(dt, s);
      }
    };
    for (const st of states) {
      if (st.lastByteS === null && t < startAt(st) - 1e-9) dt = Math.min(dt, startAt(st) - t);
      if (t < btStartAt(st) - 1e-9) dt = Math.min(dt, btStartAt(st) - t);
      if (hasCachers && st.spec.role === 'cinema' && t < btStartAt(st) + cal.quietReannounceS - 1e-9) dt = Math.min(dt, btStartAt(st) + cal.quietReannounceS - t);
    }
    for (const cuts of [model.centre.cuts, model.obs.cuts, model.cdn.cuts, ...active.map((st) => st.spec.cuts)]) {
      for (const [a, b] of cuts) for (const e of [a, b]) if (e > t + 1e-9 && Number.isFinite(e)) dt = Math.min(dt, e - t);
    }
    for (const m of METHODS) {
      until(windowOpen[m].changeAfterMs(now));
      until(priceNow[m].changeAfterMs(now));
    }
    until(capOf(model.centre.upCap).changeAfterMs(now));
    for (const st of active) for (const spec of [st.spec.upCap, st.spec.caps.bt, st.spec.caps.obs, st.spec.caps.cdn]) until(capOf(spec).changeAfterMs(now));
    active.forEach((st, d) => {
      for (const m of METHODS) if (onTarget[d][m] > 0 && st.left[m] > EPS_BYTES) dt = Math.min(dt, st.left[m] / onTarget[d][m]);
      // Takers stop where the owner's ranges in flight begin.
      for (const k of METHODS) if (takenFrom[d][k] && takeableOf[d][k] > CRUMB && onTarget[d][k] > 0) dt = Math.min(dt, (takeableOf[d][k] - CRUMB) / onTarget[d][k]);
    });
    if (partialSwarm) {
      // Partial holders change what they can give as they fill: small steps while they do.
      let fastest = 0;
      active.forEach((_, d) => (fastest = Math.max(fastest, inRate[d].bt)));
      const swarmDt = fastest > 0 ? (SWARM_STEP_SHARE * S) / fastest : Infinity;
      dt = Math.min(dt, swarmDt, swarmDtGuess);
      prevSwarmDt = Math.min(swarmDt, swarmDtGuess);
    } else prevSwarmDt = Infinity;
    if (!Number.isFinite(dt)) {
      const waiting = states.filter((st) => st.finishS === null).map((st) => st.spec.hosts[0]);
      stuck = `nothing can move any more bytes to ${waiting.join(', ')} (a method whose window never opens, or a share no source can serve)`;
      break;
    }
    dt = Math.max(dt, 1e-6);

    // ----- advance -----
    const price = { bt: priceNow.bt.at(now), obs: priceNow.obs.at(now), cdn: priceNow.cdn.at(now) };
    centreUpBytes += centreRate * dt;
    active.forEach((st, d) => {
      for (const m of METHODS) {
        const b = inRate[d][m] * dt;
        if (b <= 0) continue;
        st.got[m] += b;
        totalBytes[m] += b * st.n;
        cost[m] += ((b * st.n) / BYTES_PER_GB) * price[m];
        if (m === 'cdn') st.cdnOwn += b;
      }
      for (const m of METHODS) {
        const b = onTarget[d][m] * dt;
        if (b <= 0) continue;
        const before = st.left[m];
        st.left[m] = Math.max(0, st.left[m] - b);
        if (m === 'bt') st.btHeld = Math.min(S, st.btHeld + (before - st.left[m]));
      }
    });
    t += dt;
    for (const st of active.filter(downloading)) {
      for (const m of METHODS) if (st.left[m] <= EPS_BYTES) st.left[m] = 0;
      if (!needs(st)) {
        st.lastByteS = t;
        st.finishS = t + (st.spec.role === 'cinema' ? cal.endS : cal.cacherEndS);
      }
    }
  }
  const cinemas = states.filter((st) => st.spec.role === 'cinema');
  const lastCinemaS = cinemas.every((st) => st.finishS !== null) ? Math.max(...cinemas.map((st) => st.finishS!)) : null;
  if (lastCinemaS === null && !stuck) stuck = `some cinemas do not finish within ${Math.round(horizon / 86400)} days`;
  return {
    policy: opts.policy,
    shares: { ...model.shares },
    classes: states.map((st) => ({ role: st.spec.role, hosts: st.spec.hosts, finishS: st.finishS, handOutS: st.spec.handOutS, bytes: { ...st.got } })),
    lastCinemaS,
    bytes: totalBytes,
    cost,
    totalCost: cost.bt + cost.obs + cost.cdn,
    centreUpBytes,
    ...(lastCinemaS === null ? { stuck } : {}),
  };
}
