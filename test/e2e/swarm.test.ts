// The swarm on loopback (issue 8, SPEC §5 cacher and "Receivers seed"): a real sender
// (embedded tracker, HTTP origin, OBS on s3rver), a cacher and two receivers (plan A and
// plan B) deliver a generated DCP of more than 300 MB in several reels, 2:1:1.
// - the cacher and the first receiver get it while the sender seeds; both DCPs are
//   byte-identical to the sender's;
// - once the cacher holds the whole BT share the sender stops serving cinemas (bt-seed.ts
//   deferToCachers says so in its log); a receiver started after that gets its BT share
//   from the cacher: the sender's share seed uploads nothing more;
// - kill -9 of the cacher while it seeds: the restarted cacher seeds again with the time
//   left, without re-reading the share (/proc/<pid>/io rchar);
// - cprogress goes noseeding → seeding → (seed time over) noseeding in downloaded with the
//   data deleted, with a decimal seed time of about a minute.
// Every wait is bounded; the whole file takes about two and a half minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MiB = 1024 * 1024;
const NAME = 'swarm';
const TASK = `cfec-001-${NAME}`;
const TASK_FILE = `${TASK}.task.json`;
/** Seed time of the cacher's copy of the task, hours: 0.025 h = 90 s from the share's completion. */
const SEED_H = 0.025;
const env = { hashstable: '300ms', retrydelay: '200ms', seedcheck: '2000ms' };

let base: string;
let s3: TestS3;
let sender: Daemon;
let cacher: Daemon;
let receiverA: Daemon;
let receiverB: Daemon | undefined;
let dcp: MadeDcp;
let task: Record<string, any>;
let btShare = 0;
/** When the cacher's share was first complete (the seed clock's start, near enough). */
let completedAt = 0;

const cacherData = () => path.join(base, 'cacher/data/transfer/bt/cfec-001', `${NAME}-tmp`);
const senderLog = () => readFile(sender.paths.log, 'utf8');
const HANDOVER = `bt seed ${NAME}-tmp: a cacher is connected; the centre serves the cachers, cinemas are left to them`;
const TAKEBACK = `bt seed ${NAME}-tmp: no cacher connected; serving every peer`;
const count = (text: string, needle: string) => text.split(needle).length - 1;

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  ({ sender } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: false }, tuning: env }));
  cacher = await startDaemon({ root: path.join(base, 'cacher'), config: { servertype: 'cacher' }, tuning: env });
  // The first cinema does not seed what it stored: the second one's BitTorrent share can
  // then only come from the cacher (or the sender, which must not serve it).
  receiverA = await startDaemon({ root: path.join(base, 'receiverA'), config: { receiverstoreplan: 'A', receiverseed: false, ...obsConfig() }, tuning: env });
  // Four reels of picture and sound (296 MiB = 310 MB) and the small files.
  const reels = [1, 2, 3, 4].flatMap((r) => [
    { file: `reel${r}_picture.mxf`, size: 66 * MiB + r * 1001 },
    { file: `reel${r}_sound.mxf`, size: 8 * MiB + r * 77 },
  ]);
  dcp = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), NAME, [
    ...reels,
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 2957 },
    { file: 'CPL.xml', size: 5100 },
  ]);
  assert.ok(dcp.size >= 300e6, `a DCP of ${dcp.size} bytes`);
  const taskfile = path.join(base, 'sender/data/sender/tmp', TASK_FILE);
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '2:1:1', policy: 'fulltime', seedtime: '72' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: 'gentask' });
  task = JSON.parse(await readFile(taskfile, 'utf8'));
  for (const l of ['btlist', 'obslist', 'cdnlist']) assert.ok(task[l][0], `${l} has files`);
  btShare = Number(task.btlistsize);
});

after(async () => {
  await Promise.allSettled([receiverB?.stop(), receiverA?.stop(), cacher?.stop()]);
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

function obsConfig() {
  return { obssignature: 'v2', obspathstyle: true };
}

/** A receiver finds the bucket's keys in obsbuckets.txt, as in production. */
async function writeBuckets(root: string): Promise<void> {
  await mkdir(path.join(root, 'etc/bft2'), { recursive: true });
  await writeFile(path.join(root, 'etc/bft2/obsbuckets.txt'), `cfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
}

/** The task as the TMS hands it out (a copy per node, so recv never moves the original). */
async function handOut(node: string, change: (t: Record<string, any>) => void = () => {}): Promise<string> {
  const t = structuredClone(task);
  change(t);
  const dir = path.join(base, 'tms', node);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, TASK_FILE), JSON.stringify(t, null, 2));
  return path.join(dir, TASK_FILE);
}

async function cprogress(): Promise<any> {
  const r = await cacher.api('cprogress', { taskfile: TASK_FILE });
  return { ok: r.return_status, ...r.return_content };
}

async function waitCprogress(ok: (c: any) => boolean, what: string, timeoutMs: number): Promise<any> {
  let last: unknown;
  return waitFor(
    async () => {
      const c = await cprogress();
      last = c;
      return ok(c) ? c : undefined;
    },
    { timeoutMs, intervalMs: 250, what },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: last ${JSON.stringify(last)}\n${(await readFile(cacher.paths.log, 'utf8')).slice(-6000)}`);
  });
}

async function waitDownloaded(r: Daemon, timeoutMs: number): Promise<void> {
  await waitFor(() => stat(path.join(r.paths.downloaded, TASK_FILE)).then(() => true), { timeoutMs, intervalMs: 250, what: `${path.basename(r.root)} downloaded` }).catch(async (err: Error) => {
    const errFile = await readFile(path.join(r.paths.downloading, `${TASK}.err`), 'utf8').catch(() => '(no .err)');
    throw new Error(`${err.message}; .err: ${errFile}\n${(await readFile(r.paths.log, 'utf8')).slice(-8000)}`);
  });
}

async function assertDcp(dir: string): Promise<void> {
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(dir, f.file)), f.hash, `${dir}: ${f.file}`);
}

/** One sample of a daemon's /metrics; a missing sample is an error (a typo must not read as 0). */
async function metric(d: Daemon, name: string, labels: Record<string, string>): Promise<number> {
  const { body } = await d.get('/metrics');
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)} in the /metrics of ${d.root}`);
}

const senderShareUploaded = () => metric(sender, 'bft2_seed_uploaded_bytes', { role: 'sender', task: TASK });

test('2:1:1: the cacher (noseeding, then seeding) and a plan A cinema receive it while the sender seeds; the sender leaves cinemas to the cacher', async () => {
  const r = await cacher.api('recv', { taskfile: await handOut('cacher', (t) => (t.bt.seedtime = SEED_H)), reactive: 'false' });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  // Nobody seeds yet: the cacher waits in downloading with nothing to serve.
  const waiting = await waitCprogress((c) => c.taskfile === path.join(cacher.paths.downloading, TASK_FILE), 'the cacher task in downloading', 20_000);
  assert.equal(waiting.status, 'noseeding', JSON.stringify(waiting));
  assert.equal(waiting.percent, '0.000%');
  assert.equal(waiting.desc, `btseeding dir:${cacherData()}`);

  const t0 = Date.now();
  assert.equal((await sender.api('send', { taskfile: path.join(base, 'sender/data/sender/tmp', TASK_FILE) })).return_status, 'true');
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: TASK_FILE })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, intervalMs: 250, what: 'sender ready (OBS share uploaded)' });
  await writeBuckets(receiverA.root);
  const ra = await receiverA.api('recv', { taskfile: await handOut('receiverA') });
  assert.equal(ra.return_content.desc, 'succeed!', JSON.stringify(ra));

  const seeding = await waitCprogress((c) => c.status === 'seeding' && c.percent === '100.000%', 'the cacher seeding 100%', 60_000);
  completedAt = Date.now();
  assert.equal(seeding.Status, 'seeding');
  assert.ok(seeding.seedleft >= 1 && seeding.seedleft <= Math.ceil(SEED_H * 60), JSON.stringify(seeding));
  for (const f of task.btlist as string[]) assert.equal(await sha1File(path.join(cacherData(), f)), dcp.filelist.find((x) => x.file === f)!.hash, `cacher ${f}`);
  // The sender sees the cacher among its peers and leaves cinemas to it.
  await waitFor(async () => (await senderLog()).includes(HANDOVER) || undefined, { timeoutMs: 15_000, intervalMs: 250, what: 'the sender to hand cinemas over to the cacher' });

  await waitDownloaded(receiverA, 90_000);
  console.log(`# cacher share (${btShare} bytes) complete ${((completedAt - t0) / 1000).toFixed(1)} s after send; plan A cinema stored ${((Date.now() - t0) / 1000).toFixed(1)} s after send`);
  await assertDcp(path.join(receiverA.paths.dcp, NAME));
  await stat(path.join(receiverA.paths.dcp, `${NAME}.finished`));
});

test('kill -9 of the seeding cacher: the restart seeds again with the time left, without re-reading the share', async () => {
  const seedstart = JSON.parse(await readFile(path.join(cacher.paths.downloading, TASK_FILE), 'utf8')).cacher.seedstart;
  const beforeKill = await cprogress();
  await cacher.kill('SIGKILL');
  const t0 = Date.now();
  // The sender sees its complete cacher gone and serves every peer again.
  await waitFor(async () => (await senderLog()).includes(TAKEBACK) || undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the sender to serve cinemas again' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await senderLog()).split('\n').filter((l) => l.includes('bt')).join('\n')}`);
  });
  cacher = await startDaemon({ root: cacher.root, config: cacher.config, tuning: env });
  const c = await waitCprogress((x) => x.status === 'seeding' && x.percent === '100.000%', 'seeding after the restart', 30_000);
  const rchar = Number(/^rchar: (\d+)$/m.exec(await readFile(`/proc/${cacher.proc.pid}/io`, 'utf8'))![1]);
  console.log(`# restart: seeding again after ${Date.now() - t0} ms; the daemon had read ${rchar} bytes in all (share ${btShare})`);
  assert.ok(rchar < btShare / 10, `the restarted cacher read ${rchar} bytes; the share is ${btShare}`);
  assert.ok(c.seedleft > 0 && c.seedleft <= beforeKill.seedleft, `seedleft ${c.seedleft} after, ${beforeKill.seedleft} before`);
  assert.equal(JSON.parse(await readFile(path.join(cacher.paths.downloading, TASK_FILE), 'utf8')).cacher.seedstart, seedstart, 'the seed clock goes on');
  assert.match(await readFile(cacher.paths.log, 'utf8'), new RegExp(`${TASK}: \\S+${NAME}-tmp is as it was when verified: seeding it again without reading it`));
});

test('a plan B cinema started after the sender handed over gets its BitTorrent share from the cacher; the sender\'s share seed uploads nothing', async () => {
  // The sender hands over to the restarted cacher before the new cinema starts.
  await waitFor(async () => count(await senderLog(), HANDOVER) >= 2 || undefined, { timeoutMs: 20_000, intervalMs: 250, what: 'the sender to hand over to the restarted cacher' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await senderLog()).split('\n').filter((l) => l.includes('bt seed')).join('\n')}`);
  });
  const sentBefore = await senderShareUploaded();
  const senderBtBefore = await metric(sender, 'bft2_transfer_bytes_total', { method: 'bt', direction: 'up' });
  const servedBefore = (await cprogress()).uploaded;
  // rebalance failed, not idle: the CDN (faster than anything on loopback) would otherwise take
  // the tail of BitTorrent's share once its own is done, and the share would not all be BT's.
  receiverB = await startDaemon({ root: path.join(base, 'receiverB'), config: { receiverstoreplan: 'B', rebalance: 'failed', ...obsConfig() }, tuning: env });
  await writeBuckets(receiverB.root);
  const t0 = Date.now();
  const rb = await receiverB.api('recv', { taskfile: await handOut('receiverB') });
  assert.equal(rb.return_content.desc, 'succeed!', JSON.stringify(rb));
  await waitDownloaded(receiverB, 90_000);
  const took = (Date.now() - t0) / 1000;
  await assertDcp(path.join(receiverB.paths.dcp, 'cfec-001', 'dcps', NAME));
  await stat(path.join(receiverB.paths.dcp, 'cfec-001', 'dcps', `${NAME}.finished`));

  const down = async (m: string) => metric(receiverB!, 'bft2_transfer_bytes_total', { method: m, direction: 'down' });
  const [btDown, obsDown, cdnDown] = [await down('bt'), await down('obs'), await down('cdn')];
  const sentAfter = await senderShareUploaded();
  const served = (await cprogress()).uploaded - servedBefore;
  const senderBt = (await metric(sender, 'bft2_transfer_bytes_total', { method: 'bt', direction: 'up' })) - senderBtBefore;
  console.log(`# plan B cinema stored in ${took.toFixed(1)} s: bt down ${btDown}, obs ${obsDown}, cdn ${cdnDown} (bt share ${btShare}); cacher served ${served}; sender: share seed ${sentAfter - sentBefore}, bt up in all ${senderBt}`);
  assert.ok(btDown >= btShare, `the cinema received ${btDown} bytes over BitTorrent, its share is ${btShare}`);
  // The sender keeps the cinema's connection open and shows it no piece (centre-seeding.ts):
  // what it sends on it is the protocol's own messages (handshakes, an empty bitfield,
  // keep-alives; the byte counts are of everything sent), the data all came from the cacher.
  assert.ok(served + senderBt >= btDown, `the cacher served ${served} bytes and the sender ${senderBt}, the cinema received ${btDown} over BitTorrent`);
  // Not a single block of data.
  assert.ok(sentAfter - sentBefore < 16 * 1024, `the sender served ${sentAfter - sentBefore} bytes of the share meanwhile`);
  assert.ok(senderBt < 16 * 1024, `the sender uploaded ${senderBt} BitTorrent bytes in all meanwhile`);
});

test('the seed time is over: cprogress says noseeding from downloaded, the data is deleted', async () => {
  const seedstart = Date.parse(JSON.parse(await readFile(path.join(cacher.paths.downloading, TASK_FILE), 'utf8')).cacher.seedstart);
  const seedMs = SEED_H * 3_600_000;
  const left = seedstart + seedMs - Date.now();
  const over = await waitCprogress((c) => c.taskfile === path.join(cacher.paths.downloaded, TASK_FILE), 'the task downloaded after its seed time', Math.max(0, left) + 20_000);
  const seeded = Date.now() - seedstart;
  assert.ok(seeded >= seedMs - 1500 && seeded < seedMs + 15_000, `seeded ${seeded} ms for a seed time of ${seedMs} ms`);
  assert.equal(over.status, 'noseeding', JSON.stringify(over));
  assert.equal(over.Status, 'noseeding');
  assert.equal(over.seedleft, 0);
  await assert.rejects(stat(cacherData()), { code: 'ENOENT' });
  const finished = JSON.parse(await readFile(path.join(cacher.paths.downloaded, TASK_FILE), 'utf8'));
  assert.match(finished.finishedtime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  console.log(`# the cacher seeded ${(seeded / 1000).toFixed(1)} s (seed time ${SEED_H} h); completion was ${((Date.now() - completedAt) / 1000).toFixed(1)} s ago`);
});
