// The plan checked against reality (issue 24 point 4), without root: the delivery model
// (bft2 plan's) on the lab's small, hybrid and swarm scenarios against measurements of
// real lab runs recorded in fixtures/measured-runs.json (`lab/lab run --predict --json`;
// docs/performance.md has the runs, the machine and its load). The hybrid and swarm runs
// are held to the issue's targets: the slowest cinema within ±25%, the bytes per method
// over all cinemas and cachers within ±10%. The small scenario's methods are near ties
// (10 MB each, sources alike), so which one takes the last few megabytes over varies from
// run to run: its prediction must lie within the measured runs' spread, widened by 10%.
// (test/lab/lab.serial.test.ts runs the small scenario for real, with --predict.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';
import { loadScenario } from '../../src/plan/scenario.ts';
import { predict, compare, TIME_TARGET, type Comparison } from '../../lab/lib/predict.ts';
import { CALIBRATION } from '../../src/plan/calibration.ts';
import type { RunReport } from '../../lab/lib/report.ts';

type Method = 'bt' | 'obs' | 'cdn';
interface RecordedRun {
  run: string;
  scenario: string;
  split: string;
  /** The lab's own keys of its cachers and cinemas when the run was made (absent: none, the lab of before btatstart). */
  receiverKeys?: Record<string, unknown>;
  rows: RunReport['rows'];
}

const fixture = async () => JSON.parse(await readFile(path.join(import.meta.dirname, 'fixtures', 'measured-runs.json'), 'utf8')) as { runs: RecordedRun[] };

async function compared(r: RecordedRun): Promise<Comparison> {
  const s = await loadScenario(path.join(REPO_ROOT, r.scenario));
  return compare(predict(s, r.split, CALIBRATION, r.receiverKeys ?? {}), { split: r.split, rows: r.rows } as RunReport);
}

const show = (c: Comparison) =>
  `slowest cinema ${c.slowestCinema.predictedS?.toFixed(1)} s predicted, ${c.slowestCinema.measuredS?.toFixed(1)} s measured; bytes ${(['bt', 'obs', 'cdn'] as Method[]).map((m) => `${m} ${(c.bytes[m].predicted / 1e6).toFixed(1)}/${(c.bytes[m].measured / 1e6).toFixed(1)} MB`).join(', ')}`;

test('hybrid and swarm: the slowest cinema within ±25% and the bytes per method within ±10% of each recorded lab run', async () => {
  const runs = (await fixture()).runs.filter((r) => !r.scenario.endsWith('small.json'));
  assert.ok(runs.some((r) => r.scenario.endsWith('hybrid-bench.json')) && runs.some((r) => r.scenario.endsWith('swarm-bench.json')), 'both scenarios recorded');
  for (const r of runs) {
    const c = await compared(r);
    console.log(`# ${r.run}: ${show(c)}`);
    assert.equal(c.timeWithin, true, `${r.run}: ${show(c)}`);
    assert.equal(c.bytesWithin, true, `${r.run}: ${show(c)}`);
    // Every cacher and cinema of the run is predicted.
    assert.deepEqual(c.hosts.map((h) => h.host).sort(), r.rows.map((h) => h.host).sort());
  }
});

test('small: the slowest cinema within ±25% of each run; the bytes per method within the runs\' spread, widened by 10%', async () => {
  const runs = (await fixture()).runs.filter((r) => r.scenario.endsWith('small.json'));
  assert.ok(runs.length >= 2, 'several small runs recorded');
  const cs = await Promise.all(runs.map(compared));
  cs.forEach((c, i) => {
    console.log(`# ${runs[i].run}: ${show(c)}`);
    assert.ok(c.slowestCinema.error !== null && Math.abs(c.slowestCinema.error) <= TIME_TARGET, `${runs[i].run}: ${show(c)}`);
  });
  for (const m of ['bt', 'obs', 'cdn'] as Method[]) {
    const measured = cs.map((c) => c.bytes[m].measured);
    const predicted = cs[0].bytes[m].predicted;
    const [lo, hi] = [Math.min(...measured) * 0.9, Math.max(...measured) * 1.1];
    assert.ok(predicted >= lo && predicted <= hi, `${m}: predicted ${predicted}, measured ${measured.join(', ')}`);
  }
});
