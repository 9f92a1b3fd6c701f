// The sender end to end: a real sender daemon with its embedded tracker and HTTP origin, a
// real S3-compatible store (s3rver) for OBS, and an independent webtorrent client.
// gentask 1:1:1 → send → uploadprogress ready; each method then serves its share.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile, copyFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import WebTorrent from 'webtorrent';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { createObsClient } from '../../src/transfer/obs/obs-client.ts';
import { parseLocalTime } from '../../src/util/time.ts';

const MB = 1024 * 1024;
let root: string;
let s3: TestS3;
let d: Daemon;
let dcp: MadeDcp;
let originUrl: string;
let taskfile: string;
let task: Record<string, any>;
const dcps = () => path.join(root, 'data/dcp/cfec-001/dcps');
const tmp = () => path.join(root, 'data/sender/tmp');

before(async () => {
  root = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  ({ sender: d, origin: originUrl } = await startLoopbackSender(s3, {
    root,
    config: { senderid: 'cfec', btport: await freePort(), autosend: false, uploadingnum: 2 },
    tuning: { hashstable: '300ms', retrydelay: '200ms' },
  }));
  dcp = await makeDcp(dcps(), 'feature', [
    { file: 'picture.mxf', size: 30 * MB },
    { file: 'sound.mxf', size: 12 * MB },
    { file: 'subtitle.mxf', size: 9 * MB },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'sub/CPL.xml', size: 2100 },
  ]);
  taskfile = path.join(tmp(), 'cfec-001-feature.task.json');
  const g = await d.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:1:1', policy: 'fulltime', seedtime: '72' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: 'gentask' });
  task = JSON.parse(await readFile(taskfile, 'utf8'));
  for (const l of ['btlist', 'obslist', 'cdnlist']) assert.ok(task[l].length > 0 && task[l][0] !== '', `${l} has files: ${JSON.stringify(task[l])}`);
});
after(async () => {
  await d?.stop();
  await s3?.close();
  await rm(root, { recursive: true, force: true });
});

const hashOf = (f: string) => dcp.filelist.find((x) => x.file === f)!.hash;

test('send 1:1:1: uploadprogress reaches ready; OBS holds exactly obslist; the origin serves cdnlist with Range; a webtorrent client gets btlist from the sender alone', async () => {
  const sent = await d.api('send', { taskfile, reactive: 'false' });
  assert.equal(sent.return_status, 'true', JSON.stringify(sent));
  assert.equal(sent.return_content.desc, 'succeeded!');
  let last: unknown;
  const up = await waitFor(
    async () => {
      const r = await d.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' });
      last = r.return_content;
      return r.return_content.status === 'ready' ? r : undefined;
    },
    { timeoutMs: 60_000, what: 'uploadprogress ready' },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: last ${JSON.stringify(last)}\n${await readFile(d.paths.log, 'utf8')}`);
  });
  // The seed's fields, as the seed gives them; bft2's own (peers, bttracker, bytes sent per method) beside them.
  const { peers, bttracker, btuploaded, obsuploaded, cdnuploaded, ...seedFields } = up.return_content;
  assert.deepEqual(seedFields, {
    taskfile: path.join(root, 'data/sender/uploaded/cfec-001-feature.task.json'),
    status: 'ready',
    desc: '',
    btstatus: 'seeding',
    obsstatus: 'completed',
    cdnstatus: 'available',
  });
  assert.equal(peers, 0);
  assert.match(bttracker, /^(tracker answered \d+ seeders?, \d+ leechers? at .*)?$/);
  const sizeOf = (files: string[]) => files.reduce((n, f) => n + dcp.filelist.find((x) => x.file === f)!.size, 0);
  assert.equal(btuploaded, 0, 'no peer yet');
  assert.equal(obsuploaded, sizeOf(task.obslist), 'the OBS share went into the bucket');
  assert.equal(typeof cdnuploaded, 'number');
  const stored = JSON.parse(await readFile(up.return_content.taskfile, 'utf8'));
  assert.match(stored.sendtime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

  // OBS: exactly the obslist objects, with the same content.
  const client = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
  try {
    const listed = await client.listObjects('cfec-001', 'dcps/feature/');
    assert.deepEqual(listed.map((o) => o.key).sort(), task.obslist.map((f: string) => `dcps/feature/${f}`).sort());
    for (const f of task.obslist as string[]) {
      const obj = await client.getObjectFrom('cfec-001', `dcps/feature/${f}`, { start: 0, signal: new AbortController().signal });
      const h = createHash('sha1');
      for await (const c of obj.body) h.update(c as Buffer);
      assert.equal(h.digest('hex'), hashOf(f), `obs ${f}`);
    }
  } finally {
    client.close();
  }

  // CDN origin: the cdnlist files, ranged.
  for (const f of task.cdnlist as string[]) {
    const res = await request(`${task.cdn.url}/${f}`, { headers: { range: 'bytes=100-199' } });
    assert.equal(res.statusCode, 206, f);
    const part = Buffer.from(await res.body.arrayBuffer());
    const whole = await readFile(path.join(dcp.dir, f));
    assert.deepEqual(part, whole.subarray(100, 200));
  }

  // BT: an independent client downloads the -tmp torrent (fetched from the origin) from the sender alone.
  const torrent = Buffer.from(await (await request(task.bt.tmpurl)).body.arrayBuffer());
  const dl = path.join(root, 'independent');
  await mkdir(dl);
  const wt = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, webSeeds: false, tracker: { wrtc: false } } as never);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = wt.add(torrent, { path: dl });
      t.once('done', () => resolve());
      t.once('error', reject);
      setTimeout(() => reject(new Error(`bt download stalled at ${(t.progress * 100).toFixed(1)}%, ${t.numPeers} peers`)), 60_000).unref();
    });
  } finally {
    await new Promise<void>((r) => wt.destroy(() => r()));
  }
  for (const f of task.btlist as string[]) assert.equal(await sha1File(path.join(dl, 'feature-tmp', f)), hashOf(f), `bt ${f}`);
  // What it sent shows per method: the seed served the BT share, the origin the ranges asked.
  const after = (await d.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' })).return_content;
  assert.ok(after.btuploaded >= sizeOf(task.btlist), `btuploaded ${after.btuploaded} ≥ the BT share ${sizeOf(task.btlist)}`);
  assert.ok(after.cdnuploaded >= cdnuploaded + 100 * task.cdnlist.length, `cdnuploaded ${after.cdnuploaded} counts the ranges served since ${cdnuploaded}`);
  assert.equal(after.obsuploaded, sizeOf(task.obslist));
});

test('send texts: seeding task with reactive false/true, missing file, bad JSON, missing torrent, same task in queues or uploading', async () => {
  // Still seeding: reactive false refuses, reactive true restarts.
  await copyFile(path.join(root, 'data/sender/uploaded/cfec-001-feature.task.json'), path.join(root, 'again.task.json'));
  await copyFile(path.join(root, 'again.task.json'), taskfile);
  const refused = await d.api('send', { taskfile, reactive: 'false' });
  assert.equal(refused.return_status, 'false');
  assert.equal(refused.return_content.desc, 'exisited same name ct torrent bt process, send task failed: feature-tmp.torrent in cfec-001-feature.task.json ');
  const restarted = await d.api('send', { taskfile, reactive: 'true' });
  assert.equal(restarted.return_content.desc, 'restarted same name bt process, succeed!');
  let last: unknown;
  await waitFor(
    async () => {
      const r = await d.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' });
      last = r.return_content;
      return r.return_content.status === 'ready' || undefined;
    },
    { timeoutMs: 60_000, what: 'ready again' },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: last ${JSON.stringify(last)}\n${await readFile(d.paths.log, 'utf8')}`);
  });
  assert.ok((await readFile(path.join(root, 'data/sender/history/cfec-001-feature.task.json'), 'utf8')).length > 0, 'the earlier publication is in history');

  const missing = path.join(tmp(), 'cfec-001-missing.task.json');
  assert.equal((await d.api('send', { taskfile: missing })).return_content.desc, `open json file error:open ${missing}: no such file or directory`);
  const broken = path.join(root, 'cfec-001-broken.task.json');
  await writeFile(broken, '{"name": ');
  assert.equal((await d.api('send', { taskfile: broken })).return_content.desc, `invalid json format:${broken}`);
  assert.equal((await d.api('send', { taskfile, reactive: 'maybe' })).return_content.desc, 'reactive parameter input error ');

  // A task whose -tmp torrent is gone.
  const other = { ...task, name: 'feature' };
  const noTorrent = path.join(root, 'cfec-001-notorrent.task.json');
  await writeFile(noTorrent, JSON.stringify(other));
  const share = path.join(root, 'data/dcp/cfec-001/dcps-tmp/feature-tmp.torrent');
  await rename(share, share + '.away');
  try {
    assert.equal((await d.api('send', { taskfile: noTorrent })).return_content.desc, `not found torrent:${share} pls re generate task and torrent. `);
  } finally {
    await rename(share + '.away', share);
  }

  // Same task already queued or uploading (parked there by a .err so it stays put).
  for (const state of ['queues', 'uploading']) {
    const name = `cfec-001-parked-${state}`;
    await writeFile(path.join(root, 'data/sender', state, `${name}.err`), 'parked by the test\n');
    await writeFile(path.join(root, 'data/sender', state, `${name}.task.json`), JSON.stringify(task));
    const again = path.join(root, `${name}.task.json`);
    await writeFile(again, JSON.stringify(task));
    const r = await d.api('send', { taskfile: again, reactive: 'true' });
    assert.equal(r.return_content.desc, `same taskfile in ${state}:${path.join(root, 'data/sender', state, `${name}.task.json`)}`);
  }
  const unknown = await d.api('uploadprogress', { taskfile: 'cfec-001-nothing.task.json' });
  assert.equal(unknown.return_status, 'false');
  assert.equal(unknown.return_content.status, 'unknown');
});

test('a restarted sender resumes seeding; a task whose seed time has passed goes to history', async () => {
  await d.stop();
  d = await startDaemon({ root, config: d.config, tuning: { hashstable: '300ms', retrydelay: '200ms', seedcheck: '300ms' } });
  const resumed = await waitFor(
    async () => {
      const r = await d.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' });
      return r.return_content.status === 'ready' ? r : undefined;
    },
    { timeoutMs: 30_000, what: 'seeding resumed after restart' },
  );
  assert.equal(resumed.return_content.btstatus, 'seeding');
  assert.match(await readFile(d.paths.log, 'utf8'), /bt: seeding feature-tmp .* without re-reading the data/);

  // A second DCP with a seed time of 3.6 s.
  const short = await makeDcp(dcps(), 'short', [{ file: 'reel.mxf', size: 2 * MB }, { file: 'CPL.xml', size: 900 }]);
  const shortTask = path.join(tmp(), 'cfec-001-short.task.json');
  await d.api('gentask', { dcppath: short.dir, taskfile: shortTask, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime', seedtime: '0.001' });
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: short.dir, taskfile: shortTask })).return_content.status === 'finished' || undefined, { timeoutMs: 30_000, what: 'gentask short' });
  assert.equal((await d.api('send', { taskfile: shortTask })).return_content.desc, 'succeeded!');
  const finished = await waitFor(
    async () => {
      const r = await d.api('uploadprogress', { taskfile: 'cfec-001-short.task.json' });
      return r.return_content.status === 'finished' ? r : undefined;
    },
    { timeoutMs: 30_000, what: 'short task finished' },
  );
  assert.equal(finished.return_content.btstatus, 'noseeding');
  assert.equal(finished.return_content.taskfile, path.join(root, 'data/sender/history/cfec-001-short.task.json'));
  // Not seeding any more: the same name can be sent again even with reactive false. The
  // copy still carries the old sendtime; this send's time replaces it, so it seeds its whole
  // seed time again instead of ending at the old deadline (at once).
  await copyFile(finished.return_content.taskfile, shortTask);
  const oldSendtime = JSON.parse(await readFile(shortTask, 'utf8')).sendtime;
  await new Promise((r) => setTimeout(r, 1100)); // a later second than the first send's
  const sentAt = Date.now();
  assert.equal((await d.api('send', { taskfile: shortTask, reactive: 'false' })).return_content.desc, 'succeeded!');
  const again = await waitFor(
    async () => {
      const r = await d.api('uploadprogress', { taskfile: 'cfec-001-short.task.json' });
      return r.return_content.btstatus === 'seeding' ? r : undefined;
    },
    { timeoutMs: 30_000, what: 'the short task seeding again' },
  );
  const resent = JSON.parse(await readFile(again.return_content.taskfile, 'utf8'));
  assert.notEqual(resent.sendtime, oldSendtime);
  assert.ok(parseLocalTime(resent.sendtime)! >= sentAt - 1000, `sendtime ${resent.sendtime} is the time of this send`);
});

test('kill -9 during the OBS upload of a large file: after restart the upload finishes without starting that file from zero', async () => {
  const big = await makeDcp(dcps(), 'bigobs', [{ file: 'reel.mxf', size: 400 * MB }, { file: 'CPL.xml', size: 900 }]);
  const bigTask = path.join(tmp(), 'cfec-001-bigobs.task.json');
  await d.api('gentask', { dcppath: big.dir, taskfile: bigTask, basesubdir: 'cfec-001', btobscdn: '0:1:0', policy: 'fulltime' });
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: big.dir, taskfile: bigTask })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: 'gentask bigobs' });
  const before = s3.requests.length;
  assert.equal((await d.api('send', { taskfile: bigTask })).return_content.desc, 'succeeded!');
  // Let the first group of parallel parts (4) be acknowledged and recorded, then kill the daemon outright.
  await waitFor(() => (s3.partPuts('dcps/bigobs/reel.mxf').length >= 9 ? true : undefined), { timeoutMs: 60_000, intervalMs: 20, what: 'nine part uploads started' });
  const p = await d.api('uploadprogress', { taskfile: 'cfec-001-bigobs.task.json' });
  assert.match(p.return_content.obsstatus, /^uncompleted \d+%$/);
  await d.kill('SIGKILL');
  const partsBefore = s3.partPuts('dcps/bigobs/reel.mxf').length;

  d = await startDaemon({ root, config: d.config, tuning: { hashstable: '300ms', retrydelay: '200ms' } });
  await waitFor(async () => (await d.api('uploadprogress', { taskfile: 'cfec-001-bigobs.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 120_000, what: 'bigobs ready after restart' });
  assert.match(await readFile(d.paths.log, 'utf8'), /start uploading taskfiles: cfec-001-bigobs/);
  const all = s3.requests.slice(before).filter((r) => r.method === 'PUT' && r.path.endsWith('dcps/bigobs/reel.mxf') && r.query.has('partNumber'));
  const afterRestart = all.length - partsBefore;
  const partNumbers = new Set(all.map((r) => r.query.get('partNumber')));
  assert.ok(afterRestart < partNumbers.size, `after the restart ${afterRestart} parts were sent of ${partNumbers.size}: the upload resumed`);
  // And the object is whole and right.
  const client = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
  try {
    const obj = await client.getObjectFrom('cfec-001', 'dcps/bigobs/reel.mxf', { start: 0, signal: new AbortController().signal });
    const h = createHash('sha1');
    for await (const c of obj.body) h.update(c as Buffer);
    assert.equal(h.digest('hex'), big.filelist.find((f) => f.file === 'reel.mxf')!.hash);
  } finally {
    client.close();
  }
});
