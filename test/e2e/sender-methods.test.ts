// A sender's methods are independent (issue 22, point 4): a sender whose `cdnurl` is wrong
// publishes a 1:1:1 task — the CDN check fails (404, three quick tries) while BitTorrent
// goes on seeding and OBS finishes its upload; a receiver gets the whole DCP from the seed
// and the bucket. The `.err` names the way out as commands. After the config is fixed,
// `bft2 retry` says the config builds other URLs now, and `bft2 retry --rebuild-urls`
// writes them into the task, which then becomes ready.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MB = 1024 * 1024;
const TASK = 'cfec-001-feature';
const run = promisify(execFile);
const bft2 = (root: string, ...args: string[]) => run(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', root, ...args]);
let base: string;
let s3: TestS3;
let sender: Daemon;
let receiver: Daemon;
let origin: string;

before(async () => {
  base = await makeTempRoot();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  const env = { hashstable: '300ms', retrydelay: '200ms', quickdelay: '300ms', obspartsize: '5MB', obsparallelparts: 1 };
  ({ sender, origin } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: env }));
  // The operator's slip: the CDN's address with a wrong path.
  await setCdnUrl(`${origin}/wrong`);
  await mkdir(path.join(base, 'receiver/etc/bft2'), { recursive: true });
  await writeFile(path.join(base, 'receiver/etc/bft2/obsbuckets.txt'), `cfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
  receiver = await startDaemon({ root: path.join(base, 'receiver'), config: { obssignature: 'v2', obspathstyle: true, rebalance: 'failed' }, tuning: { retrydelay: '200ms', quickdelay: '200ms' } });
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

async function setCdnUrl(url: string): Promise<void> {
  const file = path.join(base, 'sender/etc/bft2/config.json');
  await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), cdnurl: url }, null, 2));
  const r = await sender.get('/reloadconf');
  assert.match(r.body, /reload config\.json ok/);
}

const uploadprogress = async () => (await sender.api('uploadprogress', { taskfile: `${TASK}.task.json` })).return_content;

test('a bad CDN URL fails the CDN only: BitTorrent seeds, OBS uploads, a receiver gets the DCP; the .err names the way out; retry --rebuild-urls uses the fixed config', { timeout: 300_000 }, async () => {
  const dcp = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), 'feature', [
    { file: 'a.mxf', size: 30 * MB },
    { file: 'b.mxf', size: 30 * MB },
    { file: 'c.mxf', size: 30 * MB },
    { file: 'CPL.xml', size: 800 },
  ]);
  await gentaskOn(sender, { dcppath: dcp.dir, task: TASK, btobscdn: '1:1:1', until: 'none' });

  // The CDN gives up while the others work on; uploadprogress says so at once.
  const cdnFailed = await waitFor(async () => {
    const u = await uploadprogress();
    return /cdn: /.test(u.desc ?? '') ? u : undefined;
  }, { timeoutMs: 60_000, intervalMs: 50, what: 'the CDN failure shows' });
  assert.match(cdnFailed.desc, /cdn: .*404/);
  assert.equal(cdnFailed.cdnstatus, 'unavailable');
  const failed = await waitFor(async () => {
    const u = await uploadprogress();
    return u.status === 'error' ? u : undefined;
  }, { timeoutMs: 120_000, what: 'the run ends with the CDN error' });
  assert.equal(failed.btstatus, 'seeding', 'BitTorrent still seeds');
  assert.equal(failed.obsstatus, 'completed', 'the OBS upload went to its end');
  assert.equal(failed.cdnstatus, 'unavailable');
  assert.match(failed.desc, new RegExp(`^cdn: HTTP 404 from ${origin}/wrong/dcp/cfec-001/dcps/feature/`));
  const task = JSON.parse(await readFile(path.join(base, `sender/data/sender/uploading/${TASK}.task.json`), 'utf8'));
  for (const f of task.obslist as string[]) assert.ok(s3.requests.some((q) => q.method === 'PUT' && q.path.startsWith(`/cfec-001/dcps/feature/${f}`)), `${f} uploaded`);

  // The .err: the reason, then the way out as commands.
  const err = await readFile(path.join(base, `sender/data/sender/uploading/${TASK}.err`), 'utf8');
  const lines = err.trim().split('\n');
  assert.equal(lines[0], failed.desc);
  assert.ok(lines.includes(`way out: fix the cause, then \`bft2 retry ${TASK}\` tries the task again as it is written`), err);
  assert.ok(lines.includes(`way out: or publish it afresh: \`bft2 cancel ${TASK}\`, then \`bft2 gentask ${dcp.dir} --basesubdir cfec-001 --btobscdn 1:1:1 --policy fulltime --deloldtorrent --wait\`, (autosend sends it)`), err);
  assert.ok(!lines.some((l) => l.includes('--rebuild-urls')), 'the config still builds the same URLs');

  // The seed is real: a receiver gets the whole DCP from it and the bucket (the CDN's bytes go to BitTorrent).
  const answer = (await receiver.api('recv', { taskfile: path.join(base, `sender/data/sender/uploading/${TASK}.task.json`) })).return_content;
  assert.match(answer.desc, /^succeed! \(copied to /);
  await waitFor(() => stat(path.join(receiver.paths.downloaded, `${TASK}.task.json`)).then(() => true), { timeoutMs: 120_000, what: `received\n${receiver.output()}` });
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, 'feature', f.file)), f.hash, f.file);

  // The config is fixed. A plain retry tries the URL written in the task, and says the config builds another now.
  await setCdnUrl(origin);
  const plain = await bft2(sender.root, 'retry', TASK);
  assert.match(plain.stdout, new RegExp(`^note: the config builds other URLs for this task now \\(cdn\\.url ${origin}/wrong/dcp/cfec-001/dcps/feature -> ${origin}/dcp/cfec-001/dcps/feature\\); \`bft2 retry --rebuild-urls ${TASK}\` uses them$`, 'm'));
  const again = await waitFor(async () => {
    const text = await readFile(path.join(base, `sender/data/sender/uploading/${TASK}.err`), 'utf8').catch(() => '');
    return text.includes('--rebuild-urls') ? text : undefined;
  }, { timeoutMs: 60_000, what: 'the .err again, now offering --rebuild-urls' });
  assert.ok(again.split('\n').includes(`way out: the config builds other URLs for this task now (cdn.url ${origin}/wrong/dcp/cfec-001/dcps/feature -> ${origin}/dcp/cfec-001/dcps/feature): \`bft2 retry --rebuild-urls ${TASK}\` writes them into the task and tries again`), again);
  assert.equal(again.split('\n').filter((l) => l.startsWith('way out:')).length, 3, 'the way out of this error only, not the last one too');

  const rebuilt = await bft2(sender.root, 'retry', '--rebuild-urls', TASK);
  assert.match(rebuilt.stdout, new RegExp(`^rebuilt from the config: cdn\\.url ${origin}/wrong/dcp/cfec-001/dcps/feature -> ${origin}/dcp/cfec-001/dcps/feature$`, 'm'));
  const ready = await waitFor(async () => {
    const u = await uploadprogress();
    return u.status === 'ready' ? u : undefined;
  }, { timeoutMs: 60_000, what: 'ready with the rebuilt URL' });
  assert.deepEqual([ready.btstatus, ready.obsstatus, ready.cdnstatus], ['seeding', 'completed', 'available']);
  const now = JSON.parse(await readFile(path.join(base, `sender/data/sender/uploaded/${TASK}.task.json`), 'utf8'));
  assert.equal(now.cdn.url, `${origin}/dcp/cfec-001/dcps/feature`);
  assert.deepEqual(now.filelist, task.filelist, 'nothing else changed');
  assert.equal(now.bt.url, task.bt.url);
});
