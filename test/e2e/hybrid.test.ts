// The whole delivery on loopback: a sender daemon (embedded tracker, HTTP origin) publishes
// a DCP 1:1:1 — BitTorrent seeding of the -tmp share, OBS upload to a real S3-compatible
// store, the CDN origin — and a receiver daemon downloads each share by its own method,
// verifies every file and stores the DCP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MB = 1024 * 1024;
let base: string;
let s3: TestS3;
let sender: Daemon;
let receiver: Daemon;
let dcp: MadeDcp;

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  const env = { hashstable: '300ms', retrydelay: '200ms' };
  const started = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: env });
  sender = started.sender;
  const origin = started.origin;
  // The receiver finds its OBS keys in obsbuckets.txt, not in the task or its config.
  await mkdir(path.join(base, 'receiver/etc/bft2'), { recursive: true });
  await writeFile(path.join(base, 'receiver/etc/bft2/obsbuckets.txt'), `# bucket ak sk endpoint\ncfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
  receiver = await startDaemon({ root: path.join(base, 'receiver'), config: { obssignature: 'v2', obspathstyle: true, avoidrepeat: true }, tuning: env });
  dcp = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), 'feature', [
    { file: 'picture.mxf', size: 40 * MB },
    { file: 'sound.mxf', size: 16 * MB },
    { file: 'subtitle.mxf', size: 12 * MB },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'sub/CPL.xml', size: 2100 },
    { file: 'VOLINDEX', size: 155 },
  ]);
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

test('1:1:1 from a sender to a receiver: each share by its method, every file verified, the DCP stored', async () => {
  const taskfile = path.join(base, 'sender/data/sender/tmp/cfec-001-feature.task.json');
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:1:1', policy: 'fulltime' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  // autosend takes the task from tmp as soon as gentask has written it.
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, what: 'sender ready' });
  const task = JSON.parse(await readFile(path.join(base, 'sender/data/sender/uploaded/cfec-001-feature.task.json'), 'utf8'));
  for (const l of ['btlist', 'obslist', 'cdnlist']) assert.ok(task[l][0], `${l} has files`);

  // The TMS hands the task to the cinema, which calls recv.
  const handed = path.join(base, 'cfec-001-feature.task.json');
  await writeFile(handed, JSON.stringify(task));
  const r = await receiver.api('recv', { taskfile: handed });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  await waitFor(() => stat(path.join(receiver.paths.downloaded, 'cfec-001-feature.task.json')).then(() => true), { timeoutMs: 120_000, what: 'receiver downloaded' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await readFile(receiver.paths.log, 'utf8')}`);
  });
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, 'feature', f.file)), f.hash, f.file);
  await stat(path.join(receiver.paths.dcp, 'feature.finished'));

  const p = (await receiver.api('progress', { taskfile: 'cfec-001-feature.task.json' })).return_content;
  const pct = (files: string[]) => ((files.reduce((s, f) => s + dcp.filelist.find((x) => x.file === f)!.size, 0) / dcp.size) * 100).toFixed(3) + '%';
  assert.equal(p.status, 'downloaded');
  assert.equal(p.bt2downpercent, pct(task.btlist));
  assert.equal(p.obs2downpercent, pct(task.obslist));
  assert.equal(p.cdn2downpercent, pct(task.cdnlist));
  // Each share came by its method: the S3 store served the OBS files, the origin's log holds the CDN files.
  for (const f of task.obslist as string[]) assert.ok(s3.requests.some((q) => q.method === 'GET' && q.path === `/cfec-001/dcps/feature/${f}`), `obs GET of ${f}`);
  const recvLog = await readFile(receiver.paths.log, 'utf8');
  assert.match(recvLog, /downloading cfec-001-feature: \d+ bytes, bt:obs:cdn [1-9]\d*:[1-9]\d*:[1-9]\d*/);
  assert.ok(!/error/.test(recvLog.split('\n').filter((l) => l.includes('cfec-001-feature')).join('\n')), recvLog);
});
