// A task that makes no progress says why (issue 22, point 2), in `progress`, `bft2 status`,
// the status page, the log and /metrics — real daemons, a real tracker, real files:
// - a receiver's CDN share 404s (it fails for good and its bytes go to BitTorrent) while
//   nobody seeds yet: `stalled: no data for N s from bt (no peers (tracker answered ...))`,
//   with the CDN's failure named; once the sender sends the task, data flows and the log
//   says so;
// - the tracker refuses the torrent (opentracker with a whitelist, as in the field): the
//   sender's `uploadprogress` and status say `tracker error: <its reason>`, the log warns,
//   /metrics counts it; the receiver's progress says it beside `no peers`. (How soon a node
//   announces again after a refusal is the BitTorrent layer's: not tested here.)
// - two tasks for the same DCP: the second waits in queues although a slot is free, and
//   progress and status name the task it waits for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, rm, writeFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const NO_OBS = { ak: 'none', sk: 'none', endpoint: 'http://127.0.0.1:9' };
const FAST = { hashstable: '300ms', retrydelay: '200ms', quickdelay: '200ms', quiet: '3s' };
let base: string;

before(async () => {
  base = await makeTempRoot();
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const run = promisify(execFile);
async function statusText(root: string): Promise<string> {
  return (await run(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', root, 'status'])).stdout;
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  assert.ok(line, `${name} ${JSON.stringify(labels)} in /metrics`);
  return Number(line.split(' ').at(-1));
}

/** gentask on the sender; where the task file was written (with autosend off it waits there). */
async function genTask(sender: Daemon, name: string, btobscdn: string): Promise<string> {
  const dcp = await makeDcp(path.join(sender.root, 'data/dcp/cfec-001/dcps'), name, [
    { file: 'reel.mxf', size: 6 * MB },
    { file: 'sound.mxf', size: 3 * MB },
    { file: 'CPL.xml', size: 900 },
  ]);
  return gentaskOn(sender, { dcppath: dcp.dir, task: `cfec-001-${name}`, btobscdn, until: 'made' });
}

test('the CDN fails for good and nobody seeds yet: progress, status, the page, the log and /metrics say why; when the sender sends, data flows and the log says so', { timeout: 240_000 }, async () => {
  const { sender } = await startLoopbackSender(NO_OBS, { root: path.join(base, 's1'), config: { autosend: false }, tuning: FAST });
  const receiver = await startDaemon({ root: path.join(base, 'r1'), config: { rebalance: 'failed' }, tuning: FAST });
  try {
    const file = await genTask(sender, 'stuck', '1:0:1');
    const task = JSON.parse(await readFile(file, 'utf8'));
    // The CDN's copy is gone (a URL the origin does not serve): 404, three quick tries.
    task.cdn.url = task.cdn.url.replace(/\/stuck$/, '/nothing-here');
    const handed = path.join(base, 'cfec-001-stuck.task.json');
    await writeFile(handed, JSON.stringify(task));
    assert.equal((await receiver.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
    const progress = async () => (await receiver.api('progress', { taskfile: 'cfec-001-stuck.task.json' })).return_content;
    const stuck = await waitFor(async () => {
      const p = await progress();
      return p.stalled ? p : undefined;
    }, { timeoutMs: 90_000, what: 'a stall reported' });
    assert.equal(stuck.status, 'downloading');
    assert.match(stuck.stalled, /^no data for \d+ s from bt \(no peers \(tracker answered 0 seeders, 1 leecher at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)\)$/);
    assert.match(stuck.notes, /cdn failed for good \(.*404.*\); its bytes went to bt/);
    assert.equal(stuck.peers, 0);
    assert.equal(stuck.rate, '0 B/s');

    const text = await statusText(receiver.root);
    const line = text.split('\n').find((l) => l.includes('cfec-001-stuck'));
    assert.ok(line, text);
    assert.match(line, /receiver\/downloading +cfec-001-stuck .*stalled: no data for \d+ s from bt \(no peers .*cdn failed for good/);
    const page = (await receiver.get('/')).body;
    assert.match(page, /<tr class="stalled"[^>]*data-task="cfec-001-stuck"[^>]*data-stalled="true">/);
    assert.match(page, /stalled: no data for \d+ s from bt \(no peers/);
    const metrics = (await receiver.get('/metrics')).body;
    assert.ok(metric(metrics, 'bft2_download_quiet_seconds', { task: 'cfec-001-stuck' }) >= 3);
    // The log file is written after the state progress reads (the logger's stream): wait for the line.
    await waitFor(async () => /warn.*cfec-001-stuck: stalled: no data for \d+ s from bt \(no peers/.test(await readFile(receiver.paths.log, 'utf8')), {
      timeoutMs: 10_000,
      what: 'the stall in the log',
    });

    // The sender sends it: its seed appears, the receiver's next announce finds it.
    assert.equal((await sender.api('send', { taskfile: file, reactive: 'false' })).return_status, 'true');
    await waitFor(() => stat(path.join(receiver.paths.downloaded, 'cfec-001-stuck.task.json')).then(() => true), { timeoutMs: 120_000, what: `downloaded once seeded\n${receiver.output()}` });
    assert.match(await readFile(receiver.paths.log, 'utf8'), /cfec-001-stuck: data flows again/);
  } finally {
    await receiver.stop();
    await sender.stop();
  }
});

test('a tracker that refuses the torrent: the sender and the receiver say `tracker error: <its reason>`, the log warns, /metrics counts it', { timeout: 240_000 }, async () => {
  const dir = path.join(base, 'opentracker');
  await mkdir(dir, { recursive: true });
  const whitelist = path.join(dir, 'whitelist');
  await writeFile(whitelist, '');
  const port = await freePort();
  const tracker: ChildProcess = spawn('opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist, '-d', dir], { stdio: 'ignore' });
  const announce = `http://127.0.0.1:${port}/announce`;
  const { sender } = await startLoopbackSender(NO_OBS, { root: path.join(base, 's2'), config: { autosend: true, embeddedtracker: '', tracker: announce }, tuning: FAST });
  const receiver = await startDaemon({ root: path.join(base, 'r2'), config: {}, tuning: FAST });
  try {
    await genTask(sender, 'refused', '1:0:0');
    const reason = 'Requested download is not authorized for use with this tracker.';
    const up = await waitFor(async () => {
      const u = (await sender.api('uploadprogress', { taskfile: 'cfec-001-refused.task.json' })).return_content;
      return u.status === 'ready' && u.bttracker ? u : undefined;
    }, { timeoutMs: 60_000, what: 'the sender seeds and hears from the tracker' });
    assert.equal(up.btstatus, 'seeding');
    assert.match(up.bttracker, new RegExp(`^tracker error: ${reason.replace(/\./g, '\\.')} \\(${announce}, `));
    assert.match(up.desc, /^bt: tracker error: Requested download is not authorized/);
    assert.match(await statusText(sender.root), /sender\/ready +cfec-001-refused .*bt: tracker error: Requested download is not authorized/);
    const sent = (await sender.get('/metrics')).body;
    assert.ok(metric(sent, 'bft2_tracker_announces_total', { result: 'error' }) >= 1);
    assert.ok(metric(sent, 'bft2_tracker_failing_torrents') >= 1);
    assert.match(await readFile(path.join(sender.root, 'var/log/bft2/bftv2.log'), 'utf8'), new RegExp(`warn.*bt: tracker error for refused \\(([0-9a-f]{40})\\) at ${announce}: Requested download is not authorized`));

    const handed = path.join(base, 'cfec-001-refused.task.json');
    await writeFile(handed, await readFile(path.join(sender.root, 'data/sender/uploaded/cfec-001-refused.task.json')));
    assert.equal((await receiver.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
    const progress = async () => (await receiver.api('progress', { taskfile: 'cfec-001-refused.task.json' })).return_content;
    const refused = await waitFor(async () => {
      const p = await progress();
      return p.stalled ? p : undefined;
    }, { timeoutMs: 60_000, what: 'the receiver stalls' });
    assert.match(refused.notes, /^bt: no peers; tracker error: Requested download is not authorized for use with this tracker\. \(/);
    assert.match(refused.stalled, /^no data for \d+ s from bt \(no peers; tracker error: Requested download is not authorized/);
    assert.match(await statusText(receiver.root), /stalled: no data for \d+ s from bt \(no peers; tracker error: Requested download/);
    assert.ok(metric((await receiver.get('/metrics')).body, 'bft2_tracker_announces_total', { result: 'error' }) >= 1);

  } finally {
    await receiver.stop();
    await sender.stop();
    tracker.kill();
  }
});

test('a task waiting for another task of the same DCP says so, naming it, though a slot is free', { timeout: 120_000 }, async () => {
  const originRoot = path.join(base, 'origin');
  const dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'mid', [{ file: 'reel.mxf', size: 8 * MB }]);
  const origin = await startTestOrigin(originRoot);
  origin.throttle(1 * MB);
  const d = await startDaemon({ root: path.join(base, 'r3'), config: { downloadingnum: 2 }, tuning: FAST });
  try {
    const cdnUrl = `${origin.url}/dcp/cfec-001/dcps/mid`;
    await writeFile(path.join(d.paths.queues, 'cfec-001-first.task.json'), JSON.stringify(makeCdnTask({ name: 'mid', basesubdir: 'cfec-001', cdnUrl, filelist: dcp.filelist })));
    await waitFor(() => stat(path.join(d.paths.downloading, 'cfec-001-first.task.json')).then(() => true), { timeoutMs: 20_000, what: 'first downloading' });
    await writeFile(path.join(d.paths.queues, 'cfec-001-second.task.json'), JSON.stringify(makeCdnTask({ name: 'mid', basesubdir: 'cfec-001', cdnUrl, filelist: dcp.filelist })));
    const p = await waitFor(async () => {
      const a = (await d.api('progress', { taskfile: 'cfec-001-second.task.json' })).return_content;
      return a.waiting ? a : undefined;
    }, { timeoutMs: 20_000, what: 'the second says why it waits' });
    assert.equal(p.status, 'queues');
    assert.match(p.waiting, /^waiting for cfec-001-first: it works on the same DCP \(.*\/data\/dcp\/mid\)$/);
    assert.equal(p.desc, `task in queues, no progress now. (${p.waiting})`);
    assert.match(await statusText(d.root), /receiver\/queues +cfec-001-second .*waiting for cfec-001-first: it works on the same DCP/);
  } finally {
    origin.throttle(null);
    await d.stop();
    await origin.close();
  }
});
