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
  const rate = new Array<number>(flows.length).fill(0);
  const used = new Array<number>(capacity.length).fill(0);
  const active: number[] = [];
  flows.forEach((f, i) => {
    if (f.bound > EPS && f.uses.every((u) => capacity[u.link] > EPS || u.coef === 0)) active.push(i);
  });
  const load = new Array<number>(capacity.length);
  while (active.length > 0) {
    load.fill(0);
    for (const i of active) for (const u of flows[i].uses) load[u.link] += u.coef * (flows[i].weight ?? 1);
    let step = Infinity;
    for (let l = 0; l < capacity.length; l++) if (load[l] > 0) step = Math.min(step, (capacity[l] - used[l]) / load[l]);
    for (const i of active) step = Math.min(step, (flows[i].bound - rate[i]) / (flows[i].weight ?? 1));
    if (!Number.isFinite(step)) throw new Error('a flow crosses no finite link and has no bound');
    step = Math.max(0, step);
    for (const i of active) {
      const w = flows[i].weight ?? 1;
      rate[i] += step * w;
      for (const u of flows[i].uses) used[u.link] += u.coef * step * w;
    }
    const full = (l: number) => load[l] > 0 && Number.isFinite(capacity[l]) && capacity[l] - used[l] <= EPS * Math.max(1, capacity[l]);
    for (let k = active.length - 1; k >= 0; k--) {
      const f = flows[active[k]];
      if (rate[active[k]] >= f.bound - EPS * Math.max(1, f.bound) || f.uses.some((u) => u.coef > 0 && full(u.link))) active.splice(k, 1);
    }
  }
  return rate;
}
