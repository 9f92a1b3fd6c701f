// gentask beyond a DCP under `<basesubdir>/dcps/` (issue 22, point 8), end to end on real
// daemons, a real tracker, origin and S3-compatible store:
// - a single file (`type: "file"`, seed §4.1 "内容类型 dir/file"): gentask, send, a
//   receiver downloads it by BitTorrent and by the CDN and stores it as that file, with
//   `<name>.finished` and its hash in the table; a second receive copies it locally;
// - a DCP elsewhere in the store (the seed's own gentask example names
//   `/data/dcp/cfec-001/xiaofang`): the CDN URL is where the DCP is, so the sender gets
//   ready and a receiver downloads it;
// - `machinetype: "hwecs"` (the store is the bucket, nothing is uploaded): `obsstatus`
//   is what the bucket holds (seed §4.3.3: "不需要上传的情况下,直接判断大小是否符合实际总大小").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeDcp, sha1File } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { createObsClient } from '../../src/transfer/obs/obs-client.ts';

const MB = 1024 * 1024;
const FAST = { retrydelay: '200ms', quickdelay: '200ms', hashstable: '300ms' };
const run = promisify(execFile);
let base: string;
let s3: TestS3;
let sender: Daemon;
let receiver: Daemon;

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  ({ sender } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: FAST }));
  receiver = await startDaemon({ root: path.join(base, 'receiver'), config: { avoidrepeat: true, receiverstoreplan: 'A' }, tuning: FAST });
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

/** gentask of `dcppath` (a directory or a file) on the sender, then ready by autosend; the task as published. */
async function publish(dcppath: string, task: string, btobscdn: string, s = sender): Promise<Record<string, any>> {
  await gentaskOn(s, { dcppath, task, btobscdn, until: 'ready' });
  return JSON.parse(await readFile(path.join(s.root, `data/sender/uploaded/${task}.task.json`), 'utf8'));
}

async function receive(task: string): Promise<Record<string, any>> {
  const r = await receiver.api('recv', { taskfile: path.join(sender.root, `data/sender/uploaded/${task}.task.json`) });
  assert.equal(r.return_status, 'true', JSON.stringify(r));
  await waitFor(() => stat(path.join(receiver.paths.downloaded, `${task}.task.json`)).then(() => true), { timeoutMs: 90_000, what: `${task} downloaded\n${receiver.output()}` });
  return (await receiver.api('progress', { taskfile: `${task}.task.json` })).return_content;
}

test('a single file (type "file"): gentask, send, received by BitTorrent and by the CDN, stored as that file; received again from the store', { timeout: 300_000 }, async () => {
  const dir = path.join(sender.root, 'data/dcp/cfec-001/dcps');
  await mkdir(dir, { recursive: true });
  const made = await makeDcp(path.join(base, 'gen'), 'x', [{ file: 'trailer.mxf', size: 5 * MB + 123 }, { file: 'teaser.mxf', size: 2 * MB + 7 }]);
  for (const f of made.filelist) await writeFile(path.join(dir, f.file), await readFile(path.join(made.dir, f.file)));

  // By BitTorrent (its full torrent names a directory holding just the file).
  const bt = await publish(path.join(dir, 'trailer.mxf'), 'cfec-001-trailer.mxf', '1:0:0');
  assert.equal(bt.type, 'file');
  assert.equal(bt.name, 'trailer.mxf');
  assert.deepEqual(bt.filelist, [{ file: 'trailer.mxf', hash: made.filelist[0].hash, size: made.filelist[0].size }]);
  assert.deepEqual(bt.btlist, ['trailer.mxf']);
  assert.equal(bt.senderlocalpath, dir);
  const p = await receive('cfec-001-trailer.mxf');
  const stored = path.join(receiver.paths.dcp, 'trailer.mxf');
  assert.ok((await stat(stored)).isFile(), 'stored as the file itself');
  assert.equal(await sha1File(stored), made.filelist[0].hash);
  await stat(path.join(receiver.paths.dcp, 'trailer.mxf.finished'));
  assert.equal(p.dcppath, stored);
  assert.equal(p.totalpercent, '100.000%');
  const table = await readFile(path.join(receiver.root, 'etc/bft2/hashtable.txt'), 'utf8');
  assert.ok(table.includes(`${made.filelist[0].hash}  ${stored}`), table);

  // By the CDN (its URL is the file's directory; the file is `<cdn.url>/<name>`).
  const cdn = await publish(path.join(dir, 'teaser.mxf'), 'cfec-001-teaser.mxf', '0:0:1');
  assert.equal(cdn.cdn.url, `${sender.config.cdnurl}/dcp/cfec-001/dcps`);
  await receive('cfec-001-teaser.mxf');
  assert.equal(await sha1File(path.join(receiver.paths.dcp, 'teaser.mxf')), made.filelist[1].hash);

  // The same file under another name is all local: copied from the store.
  const copy = { ...bt, name: 'trailer-copy.mxf', filelist: [{ ...bt.filelist[0], file: 'trailer-copy.mxf' }], btlist: ['trailer-copy.mxf'] };
  const handed = path.join(base, 'cfec-001-trailer-copy.mxf.task.json');
  await writeFile(handed, JSON.stringify(copy));
  // The torrent still names trailer.mxf: a copy is a new task of its own, so it is checked as any task; all local, it needs no torrent.
  const again = await receiver.api('recv', { taskfile: handed });
  assert.equal(again.return_content.desc, 'all localsamefiles existed copy and finished, succeed!', JSON.stringify(again));
  assert.equal(await sha1File(path.join(receiver.paths.dcp, 'trailer-copy.mxf')), made.filelist[0].hash);
});

test('a DCP elsewhere in the store than <basesubdir>/dcps/: its CDN URL is where it is; the sender gets ready and a receiver downloads it', { timeout: 180_000 }, async () => {
  const dcp = await makeDcp(path.join(sender.root, 'data/dcp/cfec-001/incoming'), 'short', [{ file: 'reel.mxf', size: 3 * MB }, { file: 'CPL.xml', size: 500 }]);
  const task = await publish(dcp.dir, 'cfec-001-short', '0:0:1');
  assert.equal(task.cdn.url, `${sender.config.cdnurl}/dcp/cfec-001/incoming/short`);
  assert.equal(task.bt.url, `${sender.config.senderdomain}/dcp/cfec-001/dcps/short.torrent`, 'the torrents are where gentask writes them');
  await receive('cfec-001-short');
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, 'short', f.file)), f.hash, f.file);
});

test('machinetype hwecs: nothing is uploaded, obsstatus is what the bucket holds; once the bucket holds the share the task is ready', { timeout: 180_000 }, async () => {
  const { sender: hw } = await startLoopbackSender(s3, { root: path.join(base, 'hwecs'), config: { autosend: true, machinetype: 'hwecs' }, tuning: FAST });
  try {
    const dcp = await makeDcp(path.join(hw.root, 'data/dcp/cfec-001/dcps'), 'mounted', [{ file: 'reel.mxf', size: 2 * MB }, { file: 'CPL.xml', size: 600 }]);
    await gentaskOn(hw, { dcppath: dcp.dir, task: 'cfec-001-mounted', btobscdn: '0:1:0', until: 'none' });
    const missing = await waitFor(async () => {
      const u = (await hw.api('uploadprogress', { taskfile: 'cfec-001-mounted.task.json' })).return_content;
      return u.status === 'error' ? u : undefined;
    }, { timeoutMs: 60_000, what: 'the empty bucket is seen' });
    assert.equal(missing.obsstatus, 'uncompleted 0%');
    assert.equal(missing.desc, `obs: obs://cfec-001/dcps/mounted holds 0 of the OBS share's ${dcp.size} bytes (machinetype hwecs: the store is the bucket, nothing is uploaded; is the DCP in the bucket?)`);
    assert.ok(!s3.requests.some((q) => q.method === 'PUT' && q.path.includes('/mounted/')), 'nothing uploaded');

    // The DCP reaches the bucket (as obsfs would put it there); retry: obsstatus completed, ready.
    const client = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
    try {
      for (const f of dcp.filelist) await client.putFile({ bucket: 'cfec-001', key: `dcps/mounted/${f.file}`, file: path.join(dcp.dir, f.file), signal: new AbortController().signal });
    } finally {
      client.close();
    }
    await run(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', hw.root, 'retry', 'cfec-001-mounted']);
    const ready = await waitFor(async () => {
      const u = (await hw.api('uploadprogress', { taskfile: 'cfec-001-mounted.task.json' })).return_content;
      return u.status === 'ready' ? u : undefined;
    }, { timeoutMs: 60_000, what: 'ready once the bucket holds the share' });
    assert.equal(ready.obsstatus, 'completed');
  } finally {
    await hw.stop();
  }
});
