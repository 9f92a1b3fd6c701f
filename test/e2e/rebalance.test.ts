// Rebalancing with real daemons (SPEC §3 `rebalance`, §8; issue 8): a sender (embedded
// tracker, its HTTP origin for the torrents, OBS on s3rver, and a separate CDN origin the
// test can take away) publishes a DCP 1:1:1; a receiver downloads it while one method's
// server goes away for good:
// - the CDN origin vanishes mid-download: with `rebalance: idle` BitTorrent (the sender's
//   full torrent) fetches the rest of the CDN's files and the DCP is stored, verified;
//   with `off` the task ends in `downloading/<task>.err` naming cdn;
// - s3rver is stopped before the download: with `failed` the CDN and BitTorrent take over
//   the OBS share; with `off` the task ends in `.err` naming obs.
// The retry knobs are short (README's tuning table): a server that refuses connections
// fails for good after three quick tries of 200 ms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';

const MiB = 1024 * 1024;
const NAME = 'rebal';
const TASK = `cfec-001-${NAME}`;
const TASK_FILE = `${TASK}.task.json`;
const env = {
  hashstable: '300ms',
  retrytries: 3,
  retrydelay: '200ms',
  retrymaxdelay: '400ms',
  quicktries: 3,
  quickdelay: '200ms',
  stall: '3000ms',
  chunk: '4MB',
};

let base: string;
let s3: TestS3;
let s3Stopped = false;
let sender: Daemon;
let receiver: Daemon | undefined;
const cdnOrigins: TestOrigin[] = [];
let dcp: MadeDcp;
let task: Record<string, any>;
let caseNo = 0;

const storeOf = () => path.join(base, 'sender/data/dcp');

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  // The CDN the task names is an origin of the test's own (serving the sender's store), so a
  // test can take it away while the sender's origin keeps serving the torrents.
  const cdn = await startTestOrigin(storeOf());
  cdnOrigins.push(cdn);
  ({ sender } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { cdnurl: cdn.url, autosend: true }, tuning: env }));
  dcp = await makeDcp(path.join(storeOf(), 'cfec-001/dcps'), NAME, [
    { file: 'reel1.mxf', size: 12 * MiB + 11 },
    { file: 'reel2.mxf', size: 12 * MiB + 22 },
    { file: 'reel3.mxf', size: 12 * MiB + 33 },
    { file: 'reel4.mxf', size: 12 * MiB + 44 },
    { file: 'reel5.mxf', size: 12 * MiB + 55 },
    { file: 'reel6.mxf', size: 12 * MiB + 66 },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'CPL.xml', size: 5100 },
  ]);
  const taskfile = path.join(base, 'sender/data/sender/tmp', TASK_FILE);
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:1:1', policy: 'fulltime' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: TASK_FILE })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, intervalMs: 200, what: 'sender ready' });
  task = JSON.parse(await readFile(path.join(base, 'sender/data/sender/uploaded', TASK_FILE), 'utf8'));
  for (const l of ['btlist', 'obslist', 'cdnlist']) assert.ok(task[l][0], `${l} has files`);
});

after(async () => {
  await receiver?.stop();
  await sender?.stop();
  for (const o of cdnOrigins) await o.close().catch(() => {});
  if (!s3Stopped) await s3?.close();
  await rm(base, { recursive: true, force: true });
});

/** A fresh receiver with `rebalance` set, and the task handed to it with its CDN URL on `cdn`. */
async function receive(rebalance: string, cdn: TestOrigin, config: Record<string, unknown> = {}): Promise<Daemon> {
  await receiver?.stop();
  const root = path.join(base, `receiver${++caseNo}`);
  await mkdir(path.join(root, 'etc/bft2'), { recursive: true });
  await writeFile(path.join(root, 'etc/bft2/obsbuckets.txt'), `cfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
  receiver = await startDaemon({ root, config: { rebalance, obssignature: 'v2', obspathstyle: true, ...config }, tuning: env });
  const t = structuredClone(task);
  t.cdn.url = `${cdn.url}/dcp/cfec-001/dcps/${NAME}`;
  const handed = path.join(base, `tms${caseNo}`, TASK_FILE);
  await mkdir(path.dirname(handed), { recursive: true });
  await writeFile(handed, JSON.stringify(t));
  const r = await receiver.api('recv', { taskfile: handed });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  return receiver;
}

interface Outcome {
  stored: boolean;
  err?: string;
  /** The last non-empty `rebalanced` of progress while downloading, and the largest `rebalancedbytes`. */
  rebalanced: string;
  rebalancedBytes: number;
  seconds: number;
}

/** Polls progress until the task is stored or has its `.err`; bounded. */
async function outcome(r: Daemon, timeoutMs: number): Promise<Outcome> {
  const t0 = Date.now();
  const o: Outcome = { stored: false, rebalanced: '', rebalancedBytes: 0, seconds: 0 };
  await waitFor(
    async () => {
      const p = (await r.api('progress', { taskfile: TASK_FILE })).return_content;
      if (p.status === 'downloading' || p.status === 'downloaderror') {
        if (p.rebalanced) o.rebalanced = p.rebalanced;
        o.rebalancedBytes = Math.max(o.rebalancedBytes, Number(p.rebalancedbytes ?? 0));
      }
      if (await stat(path.join(r.paths.downloaded, TASK_FILE)).then(() => true, () => false)) return (o.stored = true);
      const err = await readFile(path.join(r.paths.downloading, `${TASK}.err`), 'utf8').catch(() => undefined);
      if (err !== undefined) return ((o.err = err), true);
      return undefined;
    },
    { timeoutMs, intervalMs: 100, what: 'the task stored or failed' },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await readFile(r.paths.log, 'utf8')).slice(-6000)}`);
  });
  o.seconds = (Date.now() - t0) / 1000;
  return o;
}

/** A CDN origin of its own for one case, slow enough that the download is under way when it goes. */
async function slowCdn(bytesPerSecond: number): Promise<TestOrigin> {
  const cdn = await startTestOrigin(storeOf());
  cdnOrigins.push(cdn);
  cdn.throttle(bytesPerSecond);
  return cdn;
}

/** Takes the CDN origin away once it has sent some of the CDN's share. */
async function cutWhenUnderway(cdn: TestOrigin): Promise<void> {
  const cdnFiles = new Set((task.cdnlist as string[]).map((f) => `/dcp/cfec-001/dcps/${NAME}/${f}`));
  await waitFor(() => cdn.requests.some((q) => q.method === 'GET' && cdnFiles.has(q.path)) || undefined, { timeoutMs: 20_000, intervalMs: 50, what: 'the receiver fetching from the CDN' });
  await new Promise((res) => setTimeout(res, 700));
  await cdn.close();
}

async function assertStored(r: Daemon): Promise<void> {
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(r.paths.dcp, NAME, f.file)), f.hash, f.file);
  await stat(path.join(r.paths.dcp, `${NAME}.finished`));
}

test('rebalance idle: the CDN origin vanishes mid-download; BitTorrent (the full torrent) fetches the rest and the DCP is stored, verified', async () => {
  const cdn = await slowCdn(2 * MiB);
  // BitTorrent capped too: on loopback it would finish its own share and take the CDN's
  // bytes as an idle helper before the CDN is gone, and the failure would never be seen.
  const r = await receive('idle', cdn, { btlimit: '8MB/s' });
  await cutWhenUnderway(cdn);
  const o = await outcome(r, 60_000);
  const log = await readFile(r.paths.log, 'utf8');
  assert.ok(o.stored, `stored: ${JSON.stringify(o)}\n${log.slice(-4000)}`);
  await assertStored(r);
  console.log(`# idle, CDN gone: stored in ${o.seconds.toFixed(1)} s; rebalanced: ${o.rebalanced} (${o.rebalancedBytes} bytes)`);
  assert.match(o.rebalanced, /bt took \d+ bytes from cdn/);
  assert.ok(o.rebalancedBytes > 0);
  assert.match(log, new RegExp(`${TASK}: cdn failed for good \\(.*\\); rebalance: its bytes go to bt`));
  assert.match(log, new RegExp(`${TASK}: bt: ${NAME} \\([0-9a-f]{40}\\) added`), 'the full torrent was added');
});

test('rebalance off: the CDN origin vanishes mid-download; the task ends in downloading/<task>.err naming cdn', async () => {
  const cdn = await slowCdn(2 * MiB);
  const r = await receive('off', cdn);
  await cutWhenUnderway(cdn);
  const o = await outcome(r, 60_000);
  assert.ok(!o.stored && o.err, JSON.stringify(o));
  const first = o.err!.split('\n')[0];
  console.log(`# off, CDN gone: .err after ${o.seconds.toFixed(1)} s: ${first}`);
  assert.match(first, /^cdn download error: [^:]+: /);
  assert.equal(o.rebalancedBytes, 0);
  const p = (await r.api('progress', { taskfile: TASK_FILE })).return_content;
  assert.equal(p.status, 'downloaderror');
  assert.equal(p.downerror, first);
  await assert.rejects(stat(path.join(r.paths.dcp, NAME)), { code: 'ENOENT' });
});

test('rebalance failed: s3rver stopped before the download; the CDN and BitTorrent take over the OBS share and the DCP is stored, verified', async () => {
  await s3.close();
  s3Stopped = true;
  const r = await receive('failed', await slowCdn(16 * MiB));
  const o = await outcome(r, 60_000);
  const log = await readFile(r.paths.log, 'utf8');
  assert.ok(o.stored, `stored: ${JSON.stringify(o)}\n${log.slice(-4000)}`);
  await assertStored(r);
  console.log(`# failed, OBS gone: stored in ${o.seconds.toFixed(1)} s; rebalanced: ${o.rebalanced} (${o.rebalancedBytes} bytes)`);
  assert.match(o.rebalanced, /(cdn|bt) took \d+ bytes from obs/);
  const obsShare = Number(task.obslistsize);
  assert.ok(o.rebalancedBytes >= obsShare * 0.9 && o.rebalancedBytes <= obsShare, `${o.rebalancedBytes} bytes moved, the OBS share is ${obsShare}`);
  assert.match(log, new RegExp(`${TASK}: obs failed for good \\(.*\\); rebalance: its bytes go to (bt|cdn)`));
  assert.doesNotMatch(log, /rebalance: \w+ takes /, 'no idle stealing under rebalance failed');
});

test('rebalance off: s3rver stopped; the task ends in downloading/<task>.err naming obs', async () => {
  const r = await receive('off', await slowCdn(16 * MiB));
  const o = await outcome(r, 60_000);
  assert.ok(!o.stored && o.err, JSON.stringify(o));
  const first = o.err!.split('\n')[0];
  console.log(`# off, OBS gone: .err after ${o.seconds.toFixed(1)} s: ${first}`);
  assert.match(first, /^obs download error: [^:]+: /);
  assert.ok(o.err!.split('\n').length > 1, `the .err lists the tries: ${o.err}`);
  assert.equal(o.rebalancedBytes, 0);
});
