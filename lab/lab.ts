// The delivery lab's driver, started by lab/lab (see there for the commands):
//   run <scenario.json> [--split a:b:c] [--predict] [--json FILE] [--keep]
//   bench [hybrid|swarm] [--json FILE] [--keep]
//   check <scenario.json>...
// Where it runs: inside the run's control namespace (`bft2lab-<run>-ctl`), made by
// lab/lab. From there it reaches every daemon's API over a control bridge of its own
// (198.19.0.0/16) — not over the data bridge, so API calls neither pass the shaped links
// nor show in their byte counters, and a cut link does not cut the driver off its
// daemons — and it never needs an address in the root namespace. It builds the hosts
// with `ip`, `tc` and `nft` and starts their programs with `ip netns exec`.
// Every exit path tears the lab down: normal end, error, SIGINT/SIGTERM (the wrapper's
// trap then sweeps whatever might be left, and deletes the control namespace).
// Progress goes to stderr, the report to stdout; BFT2_LAB_DEBUG=1 adds stacks to errors.
import os from 'node:os';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadScenario, ScenarioError, type Scenario } from './lib/scenario.ts';
import { Lab } from './lib/lab.ts';
import { deliver } from './lib/delivery.ts';
import { makeReport, formatReport, type RunReport } from './lib/report.ts';
import { hybridSummary, swarmSummary, benchScenario } from './lib/bench.ts';
import { run } from './lib/sh.ts';
import { topology } from './lib/topology.ts';
import { predict, compare, formatComparison } from './lib/predict.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const t0 = Date.now();
const log = (line: string) => process.stderr.write(`[lab ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

function usage(): never {
  process.stderr.write('usage: lab/lab run <scenario.json> [--split a:b:c] [--predict] [--json FILE] [--keep] | bench [hybrid|swarm] [--json FILE] [--keep] | check <scenario.json>... | clean [--all]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) usage();
  args.splice(i, 2);
  return v;
};
const bool = (name: string): boolean => {
  const i = args.indexOf(name);
  if (i === -1) return false;
  args.splice(i, 1);
  return true;
};
const jsonOut = flag('--json');
const splitOverride = flag('--split');
const keep = bool('--keep');
const withPrediction = bool('--predict');
const [command, ...rest] = args;

let current: Lab | undefined;
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: tearing the lab down`);
    const done = current ? current.teardown() : Promise.resolve();
    // Bounded: the wrapper's trap sweeps whatever is left.
    const timer = setTimeout(() => process.exit(130), 20_000);
    void done.finally(() => {
      clearTimeout(timer);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  });
}

/** The driver must run inside its run's control namespace, where lab/lab puts it. */
async function checkPlace(runId: string): Promise<void> {
  const t = topology(runId);
  const r = await run('ip', ['netns', 'identify', String(process.pid)], { allowFailure: true });
  if (r.code !== 0) throw new Error(`cannot use network namespaces here (ip netns identify: ${r.stderr.trim() || `exit ${r.code}`}); the lab needs root and iproute2`);
  if (r.stdout.trim() !== t.ctl) throw new Error(`run the lab through lab/lab (the driver must run in the namespace ${t.ctl}, not ${r.stdout.trim() || 'the root namespace'})`);
}

async function runOnce(s: Scenario, split: string, runId: string, workDir: string): Promise<RunReport> {
  const lab = new Lab(s, { runId, workDir, keep, log });
  current = lab;
  try {
    log(`scenario ${s.name} (${s.file}): ${s.cachers} cacher(s), ${s.cinemas} cinema(s), bt:obs:cdn ${split}`);
    await lab.build();
    const d = await deliver(lab, split);
    return makeReport(s.name, runId, lab.hosts, d);
  } finally {
    await lab.teardown();
    current = undefined;
  }
}

async function main(): Promise<number> {
  if (command === 'check') {
    if (rest.length === 0) usage();
    for (const f of rest) {
      const s = await loadScenario(f);
      console.log(`${f}: ok (${s.cachers} cacher(s), ${s.cinemas} cinema(s), ${s.dcp.reels} reel(s) of ${s.dcp.reelMB} MB, bt:obs:cdn ${s.split})`);
    }
    return 0;
  }
  const runId = process.env.BFT2_LAB_RUN_ID;
  if (!runId) throw new Error('BFT2_LAB_RUN_ID is not set: run the lab through lab/lab');
  const workRoot = path.join(os.tmpdir(), `bft2lab-${runId}`);

  if (command === 'run') {
    if (rest.length !== 1) usage();
    const s = await loadScenario(rest[0]);
    await checkPlace(runId);
    const split = splitOverride ?? s.split;
    const report = await runOnce(s, split, runId, path.join(workRoot, 'run'));
    console.log(formatReport(report));
    // The planner's model on the same scenario and split, beside what was measured.
    const prediction = withPrediction ? compare(predict(s, split), report) : undefined;
    if (prediction) console.log(`\n${formatComparison(prediction)}`);
    if (jsonOut) await writeFile(jsonOut, JSON.stringify(prediction ? { ...report, prediction } : report, null, 2) + '\n');
    return report.ok ? 0 : 1;
  }

  if (command === 'bench') {
    const which = rest[0] ?? 'all';
    if (!['all', 'hybrid', 'swarm'].includes(which) || rest.length > 1) usage();
    await checkPlace(runId);
    const out: { hybrid?: RunReport[]; hybridRatio?: number | null; swarm?: RunReport } = {};
    const texts: string[] = [];
    let ok = true;
    let n = 0;
    if (which !== 'swarm') {
      const s = await loadScenario(path.join(REPO, 'lab', 'scenarios', 'hybrid-bench.json'));
      out.hybrid = [];
      for (const split of s.benchSplits ?? [s.split]) {
        const r = await runOnce(benchScenario(s, split), split, runId, path.join(workRoot, `${++n}-hybrid-${split.replace(/:/g, '')}`));
        console.log(formatReport(r) + '\n');
        out.hybrid.push(r);
        ok &&= r.ok;
      }
      const h = hybridSummary(out.hybrid);
      out.hybridRatio = h.ratio;
      texts.push(h.text);
    }
    if (which !== 'hybrid') {
      const s = await loadScenario(path.join(REPO, 'lab', 'scenarios', 'swarm-bench.json'));
      const r = await runOnce(s, s.split, runId, path.join(workRoot, `${++n}-swarm`));
      console.log(formatReport(r) + '\n');
      out.swarm = r;
      ok &&= r.ok;
      texts.push(swarmSummary(r));
    }
    console.log(texts.join('\n\n'));
    if (jsonOut) await writeFile(jsonOut, JSON.stringify(out, null, 2) + '\n');
    return ok ? 0 : 1;
  }
  usage();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ScenarioError) process.stderr.write(`${err.message}\n`);
    // The message says what is wrong; the stack only on request (BFT2_LAB_DEBUG=1).
    else log(`error: ${err instanceof Error ? (process.env.BFT2_LAB_DEBUG === '1' ? (err.stack ?? err.message) : err.message) : String(err)}`);
    const done = current ? current.teardown() : Promise.resolve();
    void done.finally(() => process.exit(err instanceof ScenarioError ? 2 : 1));
  },
);
