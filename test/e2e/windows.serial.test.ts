// Transfer windows end to end (SPEC §8), on a shifted clock: every process of the delivery
// — sender, s3rver standing in for OBS, receiver — runs under Debian's faketime from
// 2026-01-05 09:59:30, five times faster than real time. The task (1:1:1, priortime) gives
// every method the windows 10:00-10:01 and 10:02-10:04, and the receiver caps each method
// at 256 KB/s, so a 20 MiB reel needs more than the first window. Each method must fetch
// nothing before 10:00, start at the opening, stop at 10:01 in the middle of its reel with
// no `.err` and no try counted, say when it goes on (`btnext`/`obsnext`/`cdnnext`,
// `showschedules`), go on at 10:02 from the byte it stopped at, and finish verified.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const FAKE = ['faketime', '-f', '@2026-01-05 09:59:30 x5'];
const WINDOWS = '10:00-10:01,10:02-10:04';
let base: string;
let s3proc: ChildProcess;
let s3: { endpoint: string; ak: string; sk: string };
/** Every GET s3rver served: its path and Range. */
const s3gets: { path: string; range: string }[] = [];
/** The CDN: the sender's store through the test origin, which logs every request. */
let cdn: TestOrigin;
let sender: Daemon;
let receiver: Daemon;
let dcp: MadeDcp;
let task: Record<string, any>;

before(async () => {
  base = await makeTempRoot();
  // s3rver under the same shifted clock (it refuses requests dated 15 minutes off its own).
  s3proc = spawn(FAKE[0], [...FAKE.slice(1), process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'tools/harness/s3rver-child.ts'), 'cfec-001'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  s3 = await new Promise((resolve, reject) => {
    let out = '';
    s3proc.stdout!.on('data', (b) => {
      out += String(b);
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const ready = /^READY (.*)$/.exec(line);
        if (ready) resolve(JSON.parse(ready[1]));
        const get = /^GET (\S+) (\S+)$/.exec(line);
        if (get) s3gets.push({ path: get[1], range: get[2] });
      }
    });
    s3proc.once('exit', (code) => reject(new Error(`s3rver exited (${code})`)));
  });
  cdn = await startTestOrigin(path.join(base, 'sender', 'data/dcp'));
  ({ sender } = await startLoopbackSender(s3, {
    root: path.join(base, 'sender'),
    wrap: FAKE,
    config: { cdnurl: cdn.url, bttime: WINDOWS, obstime: WINDOWS, cdntime: WINDOWS, autosend: false },
    tuning: { hashstable: '300ms' },
  }));
  dcp = await makeDcp(path.join(base, 'sender', 'data/dcp/cfec-001/dcps'), 'win', [
    { file: 'CPL.xml', size: 2000 },
    { file: 'reel1.mxf', size: 20 * MB },
    { file: 'reel2.mxf', size: 20 * MB },
    { file: 'reel3.mxf', size: 20 * MB },
  ]);
  const taskfile = path.join(base, 'cfec-001-win.task.json');
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:1:1', policy: 'priortime' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: 'gentask' });
  task = JSON.parse(await readFile(taskfile, 'utf8'));
  for (const m of ['bt', 'obs', 'cdn']) assert.ok(task[`${m}list`].some((f: string) => f.endsWith('.mxf')), `${m} carries a reel: ${task[`${m}list`]}`);
  assert.equal(task.cdn.priortime, WINDOWS);
  assert.equal((await sender.api('send', { taskfile, reactive: 'false' })).return_status, 'true');
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: 'cfec-001-win.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, what: 'published' });
});

after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await cdn?.close();
  // faketime forks s3rver and waits: the pair is a process group of its own.
  s3proc?.stdin?.end();
  const gone = new Promise((r) => (s3proc?.exitCode !== null ? r(undefined) : s3proc.once('exit', r)));
  const timer = setTimeout(() => s3proc?.pid && process.kill(-s3proc.pid, 'SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
  await rm(base, { recursive: true, force: true });
});

/** The receiver's own clock, as its heartbeat says. */
async function receiverClock(): Promise<string> {
  return String(JSON.parse((await receiver.get('/heartbeat')).body)).slice(11, 19);
}

test('each method fetches only inside its windows: nothing before 10:00, a pause at 10:01 mid-file without an error, on again at 10:02 from the byte it stopped at', async () => {
  receiver = await startDaemon({
    root: path.join(base, 'receiver'),
    wrap: FAKE,
    config: { priorpolicy: 'priortime', btlimit: '256KB/s', obslimit: '256KB/s', cdnlimit: '256KB/s', rebalance: 'off', obsak: s3.ak, obssk: s3.sk, obsendpoint: s3.endpoint, obssignature: 'v2', obspathstyle: true },
  });
  const taskfile = path.join(base, 'cfec-001-win.task.json');
  assert.equal((await receiver.api('recv', { taskfile })).return_status, 'true');
  const progress = async () => (await receiver.api('progress', { taskfile: 'cfec-001-win.task.json' })).return_content;

  // Before 10:00: nothing moves; each method says when it starts (once the download is
  // planned: in its first moments in downloading, what each method will carry is not known).
  const early = await waitFor(async () => {
    const p = await progress();
    return p.status === 'downloading' && p.btnext && p.obsnext && p.cdnnext ? p : undefined;
  }, { timeoutMs: 10_000, intervalMs: 100, what: 'the task in downloading, each method with its next opening' });
  assert.ok((await receiverClock()) < '10:00:00');
  assert.equal(early.status, 'downloading');
  assert.equal(early.downloaded, 0);
  for (const m of ['bt', 'obs', 'cdn']) assert.equal(early[`${m}next`], '2026-01-05 10:00:00', m);
  const schedules = (await receiver.get('/showschedules')).body;
  assert.match(schedules, /^Now: 2026-01-05 09:59:\d\d\nScheduls by Methods:\n/);
  assert.match(schedules, /cdn next runtime:2026-01-05 10:00:00/);
  assert.match(schedules, new RegExp(`All Current Downloading:\\ncfec-001-win bt:obs:cdn = 1:1:1 priortime bt: 0 ${WINDOWS} obs: 0 ${WINDOWS} cdn: 0 ${WINDOWS}`));

  // In the first window every method moves.
  await waitFor(async () => ((await receiverClock()) >= '10:00:30' ? true : undefined), { timeoutMs: 60_000, what: '10:00:30' });
  const open = await progress();
  for (const m of ['bt', 'obs', 'cdn']) assert.notEqual(open[`${m}percent`], '0.000%', `${m} moves in the window`);

  // After 10:01: a pause, no error, the next opening announced.
  await waitFor(async () => ((await receiverClock()) >= '10:01:10' ? true : undefined), { timeoutMs: 60_000, what: '10:01:10' });
  const paused = await progress();
  const assembly = path.join(base, 'receiver', 'data/transfer/assembly/cfec-001/win');
  const recorded = JSON.parse(await readFile(path.join(assembly, '.bft2-ranges.json'), 'utf8')).files as Record<string, { done: [number, number][] }>;
  const cdnAtPause = cdn.requests.length;
  const s3AtPause = s3gets.length;
  await new Promise((r) => setTimeout(r, 2000));
  const still = await progress();
  assert.equal(still.downloaded, paused.downloaded, 'nothing moves while the windows are closed');
  assert.equal(still.status, 'downloading');
  assert.equal(still.downerror, '');
  assert.ok(paused.downloaded > 10 * MB && paused.downloaded < dcp.size - 10 * MB, `mid-file: ${paused.downloaded}`);
  for (const m of ['bt', 'obs', 'cdn']) assert.equal(still[`${m}next`], '2026-01-05 10:02:00', m);
  assert.match(still.waiting, /waiting for (bt|obs|cdn) window 10:02/);
  assert.ok(still.ecompletedtime >= 1, `the ETA counts the closed minute: ${still.ecompletedtime}`);
  assert.match((await receiver.get('/showschedules')).body, /cdn next runtime:2026-01-05 10:02:00/);
  await assert.rejects(readFile(path.join(base, 'receiver', 'data/receiver/downloading/cfec-001-win.err'), 'utf8'));

  // At 10:02 it goes on, and finishes.
  await waitFor(async () => ((await progress()).status === 'downloaded' ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, what: `downloaded\n${await readFile(receiver.paths.log, 'utf8').catch(() => '')}` });
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, 'win', f.file)), f.hash, f.file);
  // Each reel went on from the byte it stopped at: after the pause, the first range asked of
  // the CDN and of OBS starts where that reel's recorded bytes end, and none overlaps them.
  const afterPause = (rangesAfter: string[], reel: string) => {
    const done = recorded[reel]?.done ?? [];
    assert.ok(done.length > 0, `${reel} had bytes before the pause`);
    const later = rangesAfter.map((r) => /^bytes=(\d+)-(\d+)$/.exec(r)!.slice(1).map(Number));
    const ends = new Set(done.map(([, b]) => b));
    assert.ok(later.some(([s]) => ends.has(s)), `${reel}: a range starts where the bytes on disk end (${JSON.stringify(done)} / ${rangesAfter.join(' ')})`);
    for (const [s, e] of later) for (const [a, b] of done) assert.ok(e < a || s >= b, `${reel}: bytes ${s}-${e} were on disk`);
  };
  const cdnReel = task.cdnlist.find((f: string) => f.endsWith('.mxf')) as string;
  afterPause(cdn.requests.slice(cdnAtPause).filter((r) => r.method === 'GET' && r.path.endsWith(`/${cdnReel}`)).map((r) => r.range ?? ''), cdnReel);
  const obsReel = task.obslist.find((f: string) => f.endsWith('.mxf')) as string;
  afterPause(s3gets.slice(s3AtPause).filter((r) => r.path.endsWith(`/${obsReel}`)).map((r) => r.range), obsReel);
  const log = await readFile(receiver.paths.log, 'utf8');
  assert.match(log, /cdn window closed; its transfers stop until 10:02/);
  assert.match(log, /cdn window open/);
  assert.doesNotMatch(log, /retry in/, 'a closing window is not a failed try');
  assert.ok((await receiverClock()) < '10:04:00', 'finished inside the second window');
});
