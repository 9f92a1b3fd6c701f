// What a delivery cost (issue 24 point 2): a receiver bills every byte it downloads per
// method and price period, keeps the bill with the task's progress (a kill -9 loses none of
// it) and in the task file when the task ends (so `history` keeps it), and shows it in
// `progress` and /metrics. A real daemon, a real origin, prices in the config.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const GB = 1024 * MB;
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test('a CDN download is billed at the config\'s price per GB, the bill survives a kill -9 and stays in the task file; progress and /metrics show it', async () => {
  const originRoot = await makeTempRoot();
  cleanups.push(() => rm(originRoot, { recursive: true, force: true }));
  const dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'billed', [{ file: 'reel.mxf', size: 24 * MB }, { file: 'CPL.xml', size: 3000 }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  origin.throttle(2 * MB);
  const root = await makeTempRoot();
  // A flat CDN price (one timetable entry), and the windows open all day so every byte is "in window".
  const config = { cdnprice: '00:00,0.5', obsprice: '00:00,0.25 08:00,0.5', currency: 'EUR', cdntime: '00:00-24:00' };
  let d: Daemon = await startDaemon({ root, config, tuning: { retrydelay: '200ms' } });
  cleanups.push(() => d.stop());
  await writeFile(path.join(d.paths.queues, 'cfec-001-billed.task.json'), JSON.stringify(makeCdnTask({ name: 'billed', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/billed`, filelist: dcp.filelist })));
  const progress = async () => (await d.api('progress', { taskfile: 'cfec-001-billed.task.json' })).return_content;

  // While it downloads, the bill grows with the bytes.
  const during = await waitFor(async () => {
    const p = await progress();
    return p.downloaded > 8 * MB && p.cdncost > 0 ? p : undefined;
  }, { timeoutMs: 30_000, what: 'billed while downloading' });
  assert.equal(during.currency, 'EUR');
  assert.ok(Math.abs(during.cdninwindowbytes - during.downloaded) <= 4 * MB, `billed bytes ${during.cdninwindowbytes} follow the download ${during.downloaded}`);
  // kill -9, and the download goes on from its record: nothing billed is lost.
  await new Promise((r) => setTimeout(r, 2500)); // a save of the progress (every 2 s)
  const before = await progress();
  assert.equal(before.status, 'downloading', 'killed mid-download');
  const billedBefore = before.cdninwindowbytes;
  await d.kill('SIGKILL');
  d = await startDaemon({ root, config: d.config });
  cleanups.push(() => d.stop());
  // Every answer from the restart on, also while the download is reading its record back:
  // neither the bill nor the bytes received drop back.
  for (const until = Date.now() + 3000; Date.now() < until; ) {
    const resumed = await progress();
    assert.ok(resumed.cdninwindowbytes >= billedBefore - 4 * MB, `the bill after the restart (${resumed.cdninwindowbytes}, ${resumed.status}) kept what was saved before it (${billedBefore})`);
    assert.ok(resumed.downloaded >= before.downloaded - 4 * MB, `downloaded after the restart (${resumed.downloaded}, ${resumed.status}) kept what was on disk before it (${before.downloaded})`);
  }
  origin.throttle(null);
  await waitFor(async () => (await progress()).status === 'downloaded' || undefined, { timeoutMs: 60_000, what: 'downloaded' });

  const done = await progress();
  const size = dcp.filelist.reduce((n, f) => n + f.size, 0);
  // Every byte of the DCP was received and billed once; bytes fetched again after the kill are billed too (they crossed the link).
  assert.ok(done.cdninwindowbytes >= size && done.cdninwindowbytes <= size + 16 * MB, `billed ${done.cdninwindowbytes} bytes for a DCP of ${size}`);
  assert.equal(done.cdnoutwindowbytes, 0);
  assert.equal(done.cdncost, Math.round((done.cdninwindowbytes / GB) * 0.5 * 100) / 100);
  assert.equal(done.btcost, 0);
  assert.equal(done.obscost, 0);
  assert.equal(done.totalcost, done.cdncost);
  // The task file keeps the bill (history will too).
  const stored = JSON.parse(await readFile(path.join(d.paths.downloaded, 'cfec-001-billed.task.json'), 'utf8'));
  assert.deepEqual(stored.accounting.periods.map((p: { method: string; from: string; perGB: number; inWindow: boolean }) => [p.method, p.from, p.perGB, p.inWindow]), [['cdn', '00:00', 0.5, true]]);
  assert.equal(stored.accounting.periods[0].bytes, done.cdninwindowbytes);
  // /metrics counts what this process received (since its restart).
  const metrics = (await d.get('/metrics')).body;
  const received = Number(/^bft2_received_bytes_total\{method="cdn",period="00:00"\} (\d+)$/m.exec(metrics)?.[1]);
  assert.ok(received > 0 && received <= done.cdninwindowbytes, `bft2_received_bytes_total ${received}:\n${metrics.split("\n").filter((l) => /received|cost/.test(l)).join("\n")}`);
  assert.match(metrics, /^bft2_cost_total\{method="cdn"\} [0-9.]+$/m);
});

test('a download stopped by an error keeps showing what it was billed (progress reads the saved bill, not the task file)', async () => {
  const originRoot = await makeTempRoot();
  cleanups.push(() => rm(originRoot, { recursive: true, force: true }));
  const dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'halted', [{ file: 'reel.mxf', size: 8 * MB }, { file: 'CPL.xml', size: 3000 }]);
  // The second file is gone from the origin: a 404, hopeless, ends the task with its .err after reel.mxf is in.
  await rm(path.join(dcp.dir, 'CPL.xml'));
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { cdnprice: '00:00,0.5', currency: 'EUR', cdntime: '00:00-24:00' }, tuning: { retrydelay: '200ms' } });
  cleanups.push(() => d.stop());
  await writeFile(path.join(d.paths.queues, 'cfec-001-halted.task.json'), JSON.stringify(makeCdnTask({ name: 'halted', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/halted`, filelist: dcp.filelist })));
  await waitFor(() => stat(path.join(d.paths.downloading, 'cfec-001-halted.err')).then(() => true), { timeoutMs: 60_000, what: 'the .err of the 404' });
  const p = (await d.api('progress', { taskfile: 'cfec-001-halted.task.json' })).return_content;
  assert.equal(p.status, 'downloaderror', JSON.stringify(p));
  assert.ok(p.downloaded >= 8 * MB, `reel.mxf is on disk: ${p.downloaded}`);
  assert.ok(p.cdninwindowbytes >= 8 * MB && p.cdninwindowbytes <= 8 * MB + 3000, `billed ${p.cdninwindowbytes} bytes for what it fetched`);
  assert.equal(p.cdncost, Math.round((p.cdninwindowbytes / GB) * 0.5 * 100) / 100);
  assert.equal(p.currency, 'EUR');
});
