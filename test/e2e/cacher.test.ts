// The cacher end to end (SPEC §5 cacher): a real sender daemon (embedded tracker, HTTP
// origin, OBS on s3rver) publishes DCPs; a real cacher daemon receives their BT shares
// through `recv`, seeds them for the task's seed time, then deletes them. An independent
// webtorrent client gets a share from the cacher alone; a kill -9 of the cacher resumes
// seeding without re-reading the data (measured in /proc/<pid>/io).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, stat, writeFile, lstat, utimes } from 'node:fs/promises';
import path from 'node:path';
import WebTorrent from 'webtorrent';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MB = 1024 * 1024;
const TASK_FEATURE = 'cfec-001-feature.task.json';
const TASK_SPLIT = 'cfec-001-split.task.json';
const TASK_LATE = 'cfec-001-late.task.json';
let base: string;
let s3: TestS3;
let sender: Daemon;
let cacher: Daemon;
const dcps: Record<string, MadeDcp> = {};
/** The task files gentask made, by task file name (send moves them out of the sender's tmp). */
const made: Record<string, Record<string, any>> = {};
const env = { hashstable: '300ms', retrydelay: '200ms' };

const senderTmp = () => path.join(base, 'sender/data/sender/tmp');
const cacherBt = (...p: string[]) => path.join(base, 'cacher/data/transfer/bt/cfec-001', ...p);

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  // Each test sends when it wants the sender to seed.
  const started = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: false }, tuning: env });
  sender = started.sender;
  const origin = started.origin;
  cacher = await startDaemon({ root: path.join(base, 'cacher'), config: { servertype: 'cacher', downloadingnum: 2 }, tuning: env });
  const store = path.join(base, 'sender/data/dcp/cfec-001/dcps');
  dcps.feature = await makeDcp(store, 'feature', [
    { file: 'picture.mxf', size: 20 * MB },
    { file: 'sound.mxf', size: 10 * MB },
    { file: 'subtitle.mxf', size: 6 * MB + 12345 },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'sub/CPL.xml', size: 2100 },
  ]);
  dcps.split = await makeDcp(store, 'split', [
    // BT's half of 2:1:1 is reel1 (with ctfilesorder BT takes the front of the torrent
    // order): 48 MB, well above what a restarted daemon reads of its own code.
    { file: 'reel1.mxf', size: 48 * MB },
    { file: 'reel2.mxf', size: 16 * MB + 777 },
    { file: 'reel3.mxf', size: 12 * MB },
    { file: 'reel4.mxf', size: 8 * MB },
    { file: 'reel5.mxf', size: 4 * MB },
    { file: 'PKL.xml', size: 957 },
    { file: 'sub/CPL.xml', size: 2100 },
  ]);
  dcps.late = await makeDcp(store, 'late', [{ file: 'reel.mxf', size: 6 * MB }, { file: 'CPL.xml', size: 900 }]);
  for (const [name, btobscdn] of [['feature', '1:0:0'], ['split', '2:1:1'], ['late', '1:0:0']] as const) {
    const taskfile = path.join(senderTmp(), `cfec-001-${name}.task.json`);
    const g = await sender.api('gentask', { dcppath: dcps[name].dir, taskfile, basesubdir: 'cfec-001', btobscdn, policy: 'fulltime', seedtime: '72' });
    assert.equal(g.return_status, 'true', JSON.stringify(g));
    await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcps[name].dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: `gentask ${name}` });
    made[path.basename(taskfile)] = JSON.parse(await readFile(taskfile, 'utf8'));
  }
});
after(async () => {
  await cacher?.stop();
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

/** The sender's task, as a TMS hands it to a cacher, with `change` applied; returns the path of the copy. */
async function handOut(taskName: string, change: (t: Record<string, any>) => void = () => {}): Promise<string> {
  const t = structuredClone(made[taskName]);
  change(t);
  await mkdir(path.join(base, 'tms'), { recursive: true });
  const copy = path.join(base, 'tms', taskName);
  await writeFile(copy, JSON.stringify(t, null, 2));
  return copy;
}

async function cprogress(taskfile: string): Promise<any> {
  const r = await cacher.api('cprogress', { taskfile });
  return { ok: r.return_status, ...r.return_content };
}

/** Waits for a cprogress answer that `ok` accepts; the last answers and the cacher's log go into a timeout's message. */
async function waitCprogress(taskfile: string, ok: (c: any) => boolean, what: string, timeoutMs = 60_000): Promise<any> {
  let last: unknown;
  return waitFor(
    async () => {
      const c = await cprogress(taskfile);
      last = c;
      return ok(c) ? c : undefined;
    },
    { timeoutMs, intervalMs: 200, what },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: last ${JSON.stringify(last)}\n${await readFile(cacher.paths.log, 'utf8')}`);
  });
}

async function send(taskName: string): Promise<void> {
  const r = await sender.api('send', { taskfile: path.join(senderTmp(), taskName) });
  assert.equal(r.return_status, 'true', JSON.stringify(r));
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: taskName })).return_content.btstatus === 'seeding' || undefined, { timeoutMs: 60_000, what: `sender seeding ${taskName}` });
}

/** Every regular file under dir, relative, with its size. */
async function filesUnder(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.set(r, (await lstat(path.join(d, e.name))).size);
    }
  };
  await walk(dir, '');
  return out;
}

const sumOf = (m: MadeDcp, files: string[]) => files.reduce((s, f) => s + m.filelist.find((x) => x.file === f)!.size, 0);

test('a task without a BT share is refused with the seed text; progress on a cacher points to cprogress', async () => {
  const cdnOnly = makeCdnTask({ name: 'cdnonly', basesubdir: 'cfec-001', cdnUrl: 'http://127.0.0.1:9/dcp/cfec-001/dcps/cdnonly', filelist: dcps.late.filelist });
  const file = path.join(base, 'cfec-001-cdnonly.task.json');
  await writeFile(file, JSON.stringify(cdnOnly));
  const r = await cacher.api('recv', { taskfile: file });
  assert.equal(r.return_status, 'false');
  assert.equal(r.return_content.desc, 'no bt share in taskfile, nothing for a cacher to seed.');
  assert.deepEqual(await readdir(cacher.paths.queues), []);
  const p = await cacher.api('progress', { taskfile: TASK_FEATURE });
  assert.equal(p.return_status, 'false');
  assert.equal(p.return_content.desc, 'do not support cacher type progress, change method_name to cprogress');
  const u = await cacher.api('cprogress', { taskfile: 'cfec-001-nothing.task.json' });
  assert.equal(u.return_status, 'false');
  assert.equal(u.return_content.desc, 'unknown task, not found task.');
  // And a non-cacher refuses cprogress in the seed's style.
  const s = await sender.api('cprogress', { taskfile: TASK_FEATURE });
  assert.equal(s.return_status, 'false');
  assert.equal(s.return_content.desc, 'do not support sender type cprogress, cprogress is for cacher type');
});

test('1:0:0: noseeding until the sender seeds, then seeding to 100.000%; reactive texts; after the seed time the data is deleted and the task downloaded; received again; cancel', async () => {
  const m = dcps.feature;
  const handed = await handOut(TASK_FEATURE, (t) => (t.bt.seedtime = 0.02)); // 72 s
  const r = await cacher.api('recv', { taskfile: handed, reactive: 'false' });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  await assert.rejects(stat(handed), { code: 'ENOENT' }, 'recv moves the task file into the spool');
  // No peer has the data yet (the sender has not sent): in downloading, nothing to serve.
  const waiting = await waitCprogress(TASK_FEATURE, (c) => c.taskfile === path.join(cacher.paths.downloading, TASK_FEATURE), 'task in downloading', 20_000);
  // While its share downloads: the rate, why BitTorrent brings nothing (no peers yet), no stall before 30 s.
  const { rate, notes, stalled, ...fields } = waiting;
  assert.match(rate, /^\d+ (B|KB|MB)\/s$/);
  assert.match(notes, /^(bt: no peers \(.*\))?$/);
  assert.equal(stalled, '');
  assert.deepEqual(fields, {
    ok: 'true',
    status: 'noseeding',
    Status: 'noseeding',
    desc: `btseeding dir:${cacherBt('feature')}`,
    taskfile: path.join(cacher.paths.downloading, TASK_FEATURE),
    seedleft: 2,
    uploaded: 0,
    peers: 0,
    percent: '0.000%',
    // Nothing received yet, so nothing billed.
    ...Object.fromEntries(['bt', 'obs', 'cdn'].flatMap((m) => [[`${m}cost`, 0], [`${m}inwindowbytes`, 0], [`${m}outwindowbytes`, 0]])),
    totalcost: 0,
    currency: 'CNY',
  });

  await send(TASK_FEATURE);
  const seeding = await waitCprogress(TASK_FEATURE, (c) => c.status === 'seeding' && c.percent === '100.000%', 'seeding 100%');
  const completedAt = Date.now();
  assert.equal(seeding.Status, 'seeding');
  assert.equal(seeding.desc, `btseeding dir:${cacherBt('feature')}`);
  assert.ok(seeding.seedleft >= 1 && seeding.seedleft <= 2, JSON.stringify(seeding));
  // The whole share, in webtorrent's layout, every file as published.
  assert.deepEqual(await filesUnder(cacherBt('feature')), new Map(m.filelist.map((f) => [f.file, f.size])));
  for (const f of m.filelist) assert.equal(await sha1File(cacherBt('feature', f.file)), f.hash, f.file);
  const inDownloading = path.join(cacher.paths.downloading, TASK_FEATURE);
  // cprogress says seeding once the share is complete; the record follows after its files are fingerprinted.
  const first = await waitFor(async () => {
    const t = JSON.parse(await readFile(inDownloading, 'utf8'));
    return t.cacher?.files ? t : undefined;
  }, { timeoutMs: 20_000, what: 'seed record written' });
  assert.match(first.cacher.seedstart, /^\d{4}-\d\d-\d\dT/);
  assert.equal(first.cacher.files.length, m.filelist.length);

  // Same name while it seeds (recv moved the first copy; the TMS hands out another):
  // reactive false refused and the copy stays, reactive true restarts the seed clock.
  const handedAgain = await handOut(TASK_FEATURE, (t) => (t.bt.seedtime = 0.02));
  const refused = await cacher.api('recv', { taskfile: handedAgain, reactive: 'false' });
  assert.equal(refused.return_status, 'false');
  assert.equal(refused.return_content.desc, `same taskfile in downloading:${inDownloading}`);
  await stat(handedAgain);
  await new Promise((res) => setTimeout(res, 1100));
  const again = await cacher.api('recv', { taskfile: handedAgain, reactive: 'true' });
  assert.equal(again.return_status, 'true');
  assert.equal(again.return_content.desc, `reactive cacher bt seeding with taskfile:${TASK_FEATURE}`);
  const restarted = JSON.parse(await readFile(inDownloading, 'utf8'));
  assert.ok(Date.parse(restarted.cacher.seedstart) > Date.parse(first.cacher.seedstart), 'the seed clock started again');
  const clockFrom = Date.parse(restarted.cacher.seedstart);

  // The seed time (72 s from the restart) passes: seeding stops, data deleted, downloaded.
  const done = path.join(cacher.paths.downloaded, TASK_FEATURE);
  await waitFor(() => stat(done).then(() => true), { timeoutMs: 72_000 + 30_000, intervalMs: 250, what: 'task downloaded after its seed time' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await readFile(cacher.paths.log, 'utf8')}`);
  });
  const seededMs = Date.now() - clockFrom;
  assert.ok(seededMs >= 72_000 - 1500 && seededMs < 72_000 + 15_000, `seeded ${seededMs} ms for a seed time of 72 s (completed ${Date.now() - completedAt} ms ago)`);
  await assert.rejects(stat(cacherBt('feature')), { code: 'ENOENT' });
  await assert.rejects(stat(cacherBt('feature.torrent')), { code: 'ENOENT' });
  const finished = JSON.parse(await readFile(done, 'utf8'));
  assert.match(finished.finishedtime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  const over = await cprogress(TASK_FEATURE);
  assert.equal(over.status, 'noseeding');
  assert.equal(over.taskfile, done);
  assert.equal(over.seedleft, 0);

  // Same name already downloaded: downloaded again. Then cancelled: seeding stops, data deleted.
  const twice = await cacher.api('recv', { taskfile: await handOut(TASK_FEATURE, (t) => (t.bt.seedtime = 0.02)) });
  assert.equal(twice.return_content.desc, 'same name task downloaded, to download again.');
  await waitCprogress(TASK_FEATURE, (c) => c.status === 'seeding' && c.percent === '100.000%', 'seeding again');
  assert.ok((await readdir(cacher.paths.history)).some((f) => f.startsWith(TASK_FEATURE)), 'the earlier task file is in history');
  const cancel = await cacher.api('cancel', { taskfile: TASK_FEATURE });
  assert.equal(cancel.return_content.desc, 'succeeded!');
  await assert.rejects(stat(cacherBt('feature')), { code: 'ENOENT' });
  await stat(path.join(cacher.paths.history, 'cfec-001-feature.cancelled'));
  const cancelled = await cprogress(TASK_FEATURE);
  assert.equal(cancelled.status, 'noseeding');
  assert.equal(cancelled.taskfile, path.join(cacher.paths.history, TASK_FEATURE));
});

test('priortime with the BT window closed: the task waits in downloading, downloads nothing, serves nothing', async () => {
  await send(TASK_LATE);
  // A one-hour window six hours from now: closed for the whole test.
  const at = (h: number) => {
    const d = new Date(Date.now() + h * 3_600_000);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };
  const window = `${at(6)}-${at(7)}`;
  const handed = await handOut(TASK_LATE, (t) => {
    t.policy = 'priortime';
    t.bt.priortime = window;
  });
  assert.equal((await cacher.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
  await waitFor(async () => (await readFile(cacher.paths.log, 'utf8')).includes(`cfec-001-late: waits for its bt window ${window}`) || undefined, { timeoutMs: 20_000, what: 'the task waiting for its window' });
  await new Promise((res) => setTimeout(res, 4000));
  const c = await cprogress(TASK_LATE);
  assert.equal(c.status, 'noseeding', JSON.stringify(c));
  assert.equal(c.percent, '0.000%');
  assert.equal(c.taskfile, path.join(cacher.paths.downloading, TASK_LATE));
  const bytes = [...(await filesUnder(cacherBt('late'))).values()].reduce((s, n) => s + n, 0);
  assert.equal(bytes, 0, 'nothing downloaded outside the window');
  await assert.rejects(stat(path.join(cacher.paths.downloading, 'cfec-001-late.err')), { code: 'ENOENT' });
  assert.equal((await cacher.api('cancel', { taskfile: TASK_LATE })).return_content.desc, 'succeeded!');
  await assert.rejects(stat(cacherBt('late')), { code: 'ENOENT' });
});

test('2:1:1: the cacher holds only the -tmp share and serves it alone after the sender has stopped', async () => {
  await send(TASK_SPLIT);
  const task = made[TASK_SPLIT];
  const btlist: string[] = task.btlist;
  assert.ok(btlist.length > 0 && task.obslist[0] && task.cdnlist[0], 'a split task');
  const handed = await handOut(TASK_SPLIT, (t) => (t.bt.seedtime = 0.5));
  assert.equal((await cacher.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
  const c = await waitCprogress(TASK_SPLIT, (x) => x.status === 'seeding' && x.percent === '100.000%', 'split seeding 100%');
  assert.equal(c.desc, `btseeding dir:${cacherBt('split-tmp')}`);
  assert.ok(c.seedleft > 25 && c.seedleft <= 30, JSON.stringify(c));
  const m = dcps.split;
  assert.deepEqual(await filesUnder(cacherBt('split-tmp')), new Map(btlist.map((f) => [f, m.filelist.find((x) => x.file === f)!.size])));

  // The sender goes away (seeding, tracker and origin): the cacher alone serves the share.
  const torrent = await readFile(path.join(base, 'sender/data/dcp/cfec-001/dcps-tmp/split-tmp.torrent'));
  await sender.stop();
  const dl = path.join(base, 'independent');
  await mkdir(dl);
  const wt = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, tracker: { wrtc: false } } as never);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = wt.add(torrent, { path: dl });
      // The tracker went with the sender: the client is told where the cacher listens.
      t.once('ready', () => t.addPeer(`127.0.0.1:${cacher.config.btport}`));
      t.once('done', () => resolve());
      t.once('error', reject);
      setTimeout(() => reject(new Error(`bt download from the cacher stalled at ${(t.progress * 100).toFixed(1)}%, ${t.numPeers} peers`)), 60_000).unref();
    });
  } finally {
    await new Promise<void>((r) => wt.destroy(() => r()));
  }
  for (const f of btlist) assert.equal(await sha1File(path.join(dl, 'split-tmp', f)), m.filelist.find((x) => x.file === f)!.hash, f);
  const served = await cprogress(TASK_SPLIT);
  assert.ok(served.uploaded >= sumOf(m, btlist), `uploaded ${served.uploaded} of ${sumOf(m, btlist)}`);
});

test('kill -9 while seeding: the restarted cacher seeds again with the time left, without re-reading the data', async () => {
  const m = dcps.split;
  const share = sumOf(m, made[TASK_SPLIT].btlist);
  const beforeKill = await cprogress(TASK_SPLIT);
  const seedstart = JSON.parse(await readFile(path.join(cacher.paths.downloading, TASK_SPLIT), 'utf8')).cacher.seedstart;
  await cacher.kill('SIGKILL');

  const t0 = Date.now();
  cacher = await startDaemon({ root: cacher.root, config: cacher.config, tuning: env });
  const c = await waitCprogress(TASK_SPLIT, (x) => x.status === 'seeding' && x.percent === '100.000%', 'seeding after the restart', 30_000);
  const resumeMs = Date.now() - t0;
  const io = await readFile(`/proc/${cacher.proc.pid}/io`, 'utf8');
  const rchar = Number(/^rchar: (\d+)$/m.exec(io)![1]);
  // Everything the restarted daemon read so far (its own modules included) is far less than the share.
  assert.ok(rchar < share / 4, `the restarted cacher read ${rchar} bytes; the share is ${share} bytes`);
  console.log(`# restart: seeding again after ${resumeMs} ms; the daemon had read ${rchar} bytes in all (share ${share} bytes)`);
  assert.ok(c.seedleft > 0 && c.seedleft <= beforeKill.seedleft, `seedleft ${c.seedleft} after, ${beforeKill.seedleft} before`);
  assert.equal(JSON.parse(await readFile(path.join(cacher.paths.downloading, TASK_SPLIT), 'utf8')).cacher.seedstart, seedstart, 'the seed clock was not restarted');
  const log = await readFile(cacher.paths.log, 'utf8');
  assert.match(log, /start downloading taskfiles: cfec-001-split/);
  assert.match(log, /cfec-001-split: \S+split-tmp is as it was when verified: seeding it again without reading it/);

  // The measure tells: a data file touched (mtime changed) is no longer vouched for, and
  // the next restart hashes the whole share before it seeds it.
  const touched = cacherBt('split-tmp', 'reel1.mxf');
  const st = await stat(touched);
  await utimes(touched, st.atime, new Date(st.mtimeMs + 5000));
  await cacher.kill('SIGKILL');
  cacher = await startDaemon({ root: cacher.root, config: cacher.config, tuning: env });
  await waitCprogress(TASK_SPLIT, (x) => x.status === 'seeding' && x.percent === '100.000%', 'seeding after the second restart', 60_000);
  const rereadRchar = Number(/^rchar: (\d+)$/m.exec(await readFile(`/proc/${cacher.proc.pid}/io`, 'utf8'))![1]);
  assert.ok(rereadRchar > share, `with a touched file the restarted cacher read ${rereadRchar} bytes (share ${share})`);
  console.log(`# with one file touched, the restarted daemon read ${rereadRchar} bytes`);
  assert.match(await readFile(cacher.paths.log, 'utf8'), /cfec-001-split: \S+split-tmp changed since it was verified: reading every piece before seeding it/);

  // A task that arrives while the origin is down gets its .err in queues: noseeding error.
  await writeFile(path.join(cacher.paths.queues, TASK_LATE), JSON.stringify(made[TASK_LATE]));
  const e = await waitCprogress(TASK_LATE, (x) => x.status === 'noseeding error', 'noseeding error', 30_000);
  assert.match(e.desc, /^could not download torrent from http:\/\/127\.0\.0\.1:\d+\/dcp\/cfec-001\/dcps\/late\.torrent/);
  assert.equal(e.taskfile, path.join(cacher.paths.queues, TASK_LATE));

  assert.equal((await cacher.api('cancel', { taskfile: TASK_SPLIT })).return_content.desc, 'succeeded!');
  await assert.rejects(stat(cacherBt('split-tmp')), { code: 'ENOENT' });
  assert.equal((await cprogress(TASK_SPLIT)).status, 'noseeding');
  if (process.env.SHOW_LOG) console.log(await readFile(cacher.paths.log, 'utf8'));
});
