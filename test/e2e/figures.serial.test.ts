// The figures an operator reads are true (issue 22, point 1): a receiver capped at 1 MB/s per
// method downloads a 1:1:1 task from a real sender (BitTorrent from its seed, OBS from a
// real S3-compatible store, HTTP from its origin). Every second `progress` is asked; the
// rates it shows (`rate`, `btrate`, `obsrate`, `cdnrate`) must be what the percentages do:
// bytes over time within 10%. (They read 1.5-4 times the truth before: BitTorrent's 4 MiB
// pieces were counted as if each arrived in an instant.) `/metrics`, `/status.json` (the
// page's data), `bft2 status` and the page itself show the same figures as `progress`, and
// after the download each method's share reads as done.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MB = 1024 * 1024;
const TASK = 'cfec-001-feature';
let base: string;
let s3: TestS3;
let sender: Daemon;
let receiver: Daemon;

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  const env = { hashstable: '300ms', retrydelay: '200ms' };
  ({ sender } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: env }));
  await mkdir(path.join(base, 'receiver/etc/bft2'), { recursive: true });
  await writeFile(path.join(base, 'receiver/etc/bft2/obsbuckets.txt'), `cfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
  // rebalance off: each method keeps its own share, so each one's bytes over time are its own.
  receiver = await startDaemon({
    root: path.join(base, 'receiver'),
    config: { obssignature: 'v2', obspathstyle: true, btlimit: '1MB/s', obslimit: '1MB/s', cdnlimit: '1MB/s', rebalance: 'off' },
    tuning: env,
  });
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

interface Sample {
  t: number;
  p: Record<string, any>;
}

/** `12 KB/s` etc. back to bytes per second (the seed's units: 1 KB = 1024 B). */
function parseRate(r: string): number {
  const m = /^(\d+) (B|KB|MB)\/s$/.exec(r);
  assert.ok(m, `a rate in the seed's form: ${JSON.stringify(r)}`);
  return Number(m[1]) * { B: 1, KB: 1024, MB: MB }[m[2] as 'B' | 'KB' | 'MB'];
}

const pct = (v: string) => Number.parseFloat(v) / 100;

/** One sample of a Prometheus text series, e.g. metric(text, 'bft2_download_bytes', { method: 'bt' }). */
function metric(text: string, name: string, labels: Record<string, string>): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  assert.ok(line, `${name} ${JSON.stringify(labels)} in /metrics`);
  return Number(line.split(' ').at(-1));
}

test('with caps of 1 MB/s per method, every displayed rate is bytes over time within 10%; progress, status, the page and /metrics agree; finished shares read as done', { timeout: 240_000 }, async () => {
  const dcp = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), 'feature', [
    { file: 'a.mxf', size: 36 * MB },
    { file: 'b.mxf', size: 36 * MB },
    { file: 'c.mxf', size: 36 * MB },
    { file: 'CPL.xml', size: 1000 },
  ]);
  await gentaskOn(sender, { dcppath: dcp.dir, task: TASK, btobscdn: '1:1:1', until: 'ready' });
  const task = JSON.parse(await readFile(path.join(base, `sender/data/sender/uploaded/${TASK}.task.json`), 'utf8'));
  const handed = path.join(base, `${TASK}.task.json`);
  await writeFile(handed, JSON.stringify(task));
  assert.equal((await receiver.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');

  const samples: Sample[] = [];
  let agreed = false;
  for (;;) {
    const p = (await receiver.api('progress', { taskfile: `${TASK}.task.json` })).return_content;
    if (p.status === 'queues' && samples.length === 0) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    samples.push({ t: performance.now(), p });
    if (p.status === 'downloaded') break;
    assert.equal(p.status, 'downloading', JSON.stringify(p));
    // Once in the middle: /metrics, the page's data and `bft2 status` show what progress shows.
    if (!agreed && pct(p.totalpercent) > 0.4) {
      agreed = true;
      const text = (await receiver.get('/metrics')).body;
      const status = JSON.parse((await receiver.get('/status.json')).body);
      const after = (await receiver.api('progress', { taskfile: `${TASK}.task.json` })).return_content;
      const row = status.tasks.find((r: { task: string }) => r.task === TASK);
      for (const m of ['bt', 'obs', 'cdn']) {
        const bytes = metric(text, 'bft2_download_bytes', { task: TASK, method: m });
        const share = pct(p[`${m}percent`]) * dcp.size;
        const shareAfter = pct(after[`${m}percent`]) * dcp.size;
        assert.ok(bytes >= share - 1024 && bytes <= shareAfter + 1024, `${m}: /metrics ${bytes} bytes between progress's ${share} and ${shareAfter}`);
        const rate = metric(text, 'bft2_download_rate_bytes_per_second', { task: TASK, method: m });
        assert.ok(Math.abs(rate - parseRate(after[`${m}rate`])) <= 0.1 * MB, `${m}: /metrics rate ${rate} is progress's ${after[`${m}rate`]}`);
        const bar = row.methods.find((x: { method: string }) => x.method === m);
        assert.ok(bar && bar.done >= share / (pct(p[`${m}2downpercent`]) * dcp.size) - 0.01, `${m}: the page's bar ${JSON.stringify(bar)}`);
      }
      assert.ok(Math.abs(parseRate(row.rate) - parseRate(after.rate)) <= 0.3 * MB, `the page's rate ${row.rate}, progress ${after.rate}`);
      const { stdout } = await promisify(execFile)(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', receiver.root, 'status', '--json']);
      const cli = JSON.parse(stdout);
      const cliRow = cli.find((r: { task: string }) => r.task === TASK);
      assert.ok(Math.abs(parseRate(cliRow.rate) - parseRate(after.rate)) <= 0.3 * MB, `bft2 status rate ${cliRow.rate}, progress ${after.rate}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const running = samples.filter((s) => s.p.status === 'downloading');
  assert.ok(running.length >= 25, `about 36 s of samples: ${running.length}`);

  /** Bytes over time of `field` (a percent) between two samples, and the mean of `rateField` shown meanwhile. */
  const check = (label: string, percentField: string, rateField: string, from: number, to: number) => {
    const [a, b] = [running[from], running[to]];
    const moved = (pct(b.p[percentField]) - pct(a.p[percentField])) * dcp.size;
    const truth = moved / ((b.t - a.t) / 1000);
    const shown = running.slice(from + 1, to + 1).map((s) => parseRate(s.p[rateField]));
    const mean = shown.reduce((x, y) => x + y, 0) / shown.length;
    console.log(`${label}: ${(truth / MB).toFixed(3)} MiB/s by the percentage, ${(mean / MB).toFixed(3)} MiB/s shown (${shown.length} samples, ${Math.min(...shown) / MB}-${Math.max(...shown) / MB})`);
    assert.ok(truth > 0.5 * MB, `${label} moved: ${truth}`);
    assert.ok(Math.abs(mean - truth) <= 0.1 * truth, `${label}: shown ${(mean / MB).toFixed(3)} MiB/s, the percentage moved ${(truth / MB).toFixed(3)} MiB/s`);
    for (const r of shown) assert.ok(r <= 1.25 * MB, `${label}: no sample above the cap: ${r}`);
  };
  // From 5 s in (every method under way) to 5 s before the first share ends.
  const start = 5;
  const firstDone = running.findIndex((s) => ['bt', 'obs', 'cdn'].some((m) => pct(s.p[`${m}percent`]) >= pct(s.p[`${m}2downpercent`]) - 0.001));
  const end = (firstDone < 0 ? running.length : firstDone) - 5;
  assert.ok(end - start >= 15, `a long enough stretch: samples ${start}-${end}`);
  check('obs', 'obspercent', 'obsrate', start, end);
  check('cdn', 'cdnpercent', 'cdnrate', start, end);
  // BitTorrent's bytes count a 4 MiB piece at a time: measured from one landing to another.
  const landed = (i: number) => running[i].p.btpercent !== running[i - 1].p.btpercent;
  let btFrom = start;
  while (!landed(btFrom)) btFrom++;
  let btTo = end;
  while (!landed(btTo)) btTo--;
  assert.ok(btTo - btFrom >= 12, `BitTorrent landed pieces over a long enough stretch: ${btFrom}-${btTo}`);
  check('bt', 'btpercent', 'btrate', btFrom, btTo);
  // The total: the three together.
  const total = (s: Sample) => ['bt', 'obs', 'cdn'].reduce((n, m) => n + pct(s.p[`${m}percent`]), 0);
  const truth = ((total(running[btTo]) - total(running[btFrom])) * dcp.size) / ((running[btTo].t - running[btFrom].t) / 1000);
  const shown = running.slice(btFrom + 1, btTo + 1).map((s) => parseRate(s.p.rate));
  const mean = shown.reduce((x, y) => x + y, 0) / shown.length;
  assert.ok(Math.abs(mean - truth) <= 0.1 * truth, `rate: shown ${(mean / MB).toFixed(3)} MiB/s, the percentage moved ${(truth / MB).toFixed(3)} MiB/s`);

  // Finished: each method's share is done, in progress, the page's data and the page.
  const done = samples.at(-1)!.p;
  assert.equal(done.totalpercent, '100.000%');
  for (const m of ['bt', 'obs', 'cdn']) {
    assert.notEqual(done[`${m}2downpercent`], '0.000%');
    assert.equal(done[`${m}percent`], done[`${m}2downpercent`], `${m}: its whole share is done`);
  }
  const status = JSON.parse((await receiver.get('/status.json')).body);
  const row = status.tasks.find((r: { task: string }) => r.task === TASK);
  for (const bar of row.methods) assert.equal(bar.done, 1, `${bar.method} done on the page`);
  const page = (await receiver.get('/')).body;
  const info = [...page.matchAll(/data-method="(bt|obs|cdn)"><span class="mname">\w+<\/span>.*?<span class="info">([^<]*)<\/span>/g)].map((x) => x[2]);
  assert.equal(info.length, 3, page);
  for (const i of info) assert.match(i, /% of task · 100\.0% done/);
});
