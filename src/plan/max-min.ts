// Max-min fair sharing of links among flows (progressive filling), the way TCP flows
// through shaped links share them: every flow's rate grows at the same pace (times its
// weight, e.g. its number of connections) until a link it crosses is full or it reaches
// its own bound; then the others go on. Pure; used once per step of the delivery model.
// Owns: that allocation. Must not touch: what a flow or a link stands for (fleet-model.ts).

export interface Flow {
  /** The links the flow crosses, each with the share of the link one unit of the flow's rate uses. */
  uses: { link: number; coef: number }[];
  /** The flow's own bound (content it can be given, a cap); Infinity for none. */
  bound: number;
  /** How fast the flow grows relative to others (parallel connections); default 1. */
  weight?: number;
}

const EPS = 1e-9;

/** The rate of each flow; `capacity[link]` is each link's capacity (0 = down). */
export function maxMinFair(flows: readonly Flow[], capacity: readonly number[]): number[] {
  const n = flows.length;
  const rate = new Array<number>(n).fill(0);
  const used = new Float64Array(capacity.length);
  const load = new Float64Array(capacity.length);
  const weight = flows.map((f) => f.weight ?? 1);
  let active: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = flows[i];
    if (f.bound > EPS && f.uses.every((u) => capacity[u.link] > EPS || u.coef === 0)) active.push(i);
  }
  while (active.length > 0) {
    load.fill(0);
    for (const i of active) for (const u of flows[i].uses) load[u.link] += u.coef * weight[i];
    let step = Infinity;
    for (let l = 0; l < capacity.length; l++) if (load[l] > 0) step = Math.min(step, (capacity[l] - used[l]) / load[l]);
    for (const i of active) step = Math.min(step, (flows[i].bound - rate[i]) / weight[i]);
    if (!Number.isFinite(step)) throw new Error('a flow crosses no finite link and has no bound');
    step = Math.max(0, step);
    for (const i of active) {
      rate[i] += step * weight[i];
      for (const u of flows[i].uses) used[u.link] += u.coef * step * weight[i];
    }
    const still: number[] = [];
    for (const i of active) {
      const f = flows[i];
      let frozen = rate[i] >= f.bound - EPS * Math.max(1, f.bound);
      for (const u of f.uses) {
        const c = capacity[u.link];
        // A link is full when what is left of it is nothing; uncapped links never fill.
        if (!frozen && u.coef > 0 && Number.isFinite(c) && c - used[u.link] <= EPS * Math.max(1, c)) frozen = true;
      }
      if (!frozen) still.push(i);
    }
    active = still;
  }
  return rate;
}
