// The sender's side of the hostile-input corpus (SPEC §4, trust boundary): a task file is
// data from outside, whoever dropped it. Tasks whose `senderlocalpath` points out of the
// store, DCPs that hold a symlink, a FIFO or a file changed since gentask, task files that
// are symlinks or FIFOs — each gets its clear error, and nothing from outside the store
// ever reaches the bucket, the origin or a torrent. Real sender daemon, real s3rver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile, symlink, chmod, readdir, lstat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { createObsClient } from '../../src/transfer/obs/obs-client.ts';

let base: string;
let root: string;
let s3: TestS3;
let d: Daemon;
let dcp: MadeDcp;
let originUrl: string;
let corpusCount = 0;
const secretText = 'mode-600 secret of another directory\n';
const store = () => path.join(root, 'data/dcp');
const dcps = () => path.join(store(), 'cfec-001/dcps');
const sender = (state: string) => path.join(root, 'data/sender', state);

before(async () => {
  base = await makeTempRoot();
  root = path.join(base, 'root');
  s3 = await startS3Server({ bucket: 'cfec-001' });
  const originPort = await freePort();
  originUrl = `http://127.0.0.1:${originPort}`;
  d = await startDaemon({
    root,
    config: {
      servertype: 'sender',
      senderid: 'cfec',
      senderdomain: originUrl,
      cdnurl: originUrl,
      httporigin: `127.0.0.1:${originPort}`,
      obsurl: 'obs://cfec-001',
      obsak: s3.ak,
      obssk: s3.sk,
      obsendpoint: s3.endpoint,
      obssignature: 'v2',
      obspathstyle: true,
      autosend: true,
    },
    tuning: { hashstable: '300ms', retrydelay: '200ms', retrytries: 2, unparseablegrace: '2000ms' },
  });
  dcp = await makeDcp(dcps(), 'legit', [
    { file: 'reel.mxf', size: 400_000 },
    { file: 'CPL.xml', size: 1200 },
  ]);
  // Outside the store: a private file a hostile task would like to publish.
  await mkdir(path.join(base, 'private', 'legit'), { recursive: true });
  await writeFile(path.join(base, 'private', 'legit', 'reel.mxf'), secretText);
  await chmod(path.join(base, 'private', 'legit', 'reel.mxf'), 0o600);
});
after(async () => {
  console.log(`bad-input corpus (sender): ${corpusCount} hostile inputs`);
  await d?.stop();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

/** A 0:1:0 task of `legit` (every file to OBS), as gentask would write it, with `over` applied. */
function obsTask(over: Record<string, unknown> = {}): Record<string, unknown> {
  const size = dcp.filelist.reduce((s, f) => s + f.size, 0);
  return {
    sourcetype: 'sender',
    name: 'legit',
    type: 'dir',
    senderlocalpath: dcps(),
    basesubdir: 'cfec-001',
    datasource: 'local',
    size,
    'bt-obs-cdn': '0:1:0',
    policy: 'fulltime',
    bt: { url: '', tmpurl: '', seedtime: 1 },
    obs: { url: 'obs://cfec-001/dcps/legit', priortime: '' },
    cdn: { url: '', priortime: '' },
    filelist: dcp.filelist.map((f) => ({ file: f.file, hash: f.hash, size: f.size })),
    btlist: [''],
    obslist: dcp.filelist.map((f) => f.file),
    cdnlist: [''],
    ...over,
  };
}

async function bucketKeys(): Promise<string[]> {
  const client = await createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
  try {
    return (await client.listObjects('cfec-001', '')).map((o) => o.key).sort();
  } finally {
    client.close();
  }
}

const errOf = (dir: string, task: string) => waitFor(() => readFile(path.join(dir, `${task}.err`), 'utf8'), { timeoutMs: 20_000, what: `${task}.err in ${dir}\n${d.output()}` });

test('gentask refuses at once a DCP outside the store, one holding a symlink (out or in), a FIFO, and bad parameters — naming the file', async () => {
  const elsewhere = path.join(base, 'elsewhere', 'film');
  await mkdir(elsewhere, { recursive: true });
  await writeFile(path.join(elsewhere, 'a.mxf'), 'x'.repeat(1000));
  const withLinkOut = await makeDcp(dcps(), 'linkout', [{ file: 'a.mxf', size: 5000 }]);
  await symlink(path.join(base, 'private', 'legit', 'reel.mxf'), path.join(withLinkOut.dir, 'secret.mxf'));
  const withLinkIn = await makeDcp(dcps(), 'linkin', [{ file: 'a.mxf', size: 5000 }]);
  await symlink(path.join(dcp.dir, 'CPL.xml'), path.join(withLinkIn.dir, 'CPL.xml'));
  const withFifo = await makeDcp(dcps(), 'withfifo', [{ file: 'a.mxf', size: 5000 }]);
  execFileSync('mkfifo', [path.join(withFifo.dir, 'pipe.mxf')]);
  const tf = (n: string) => path.join(base, 'tasks', `cfec-001-${n}.task.json`);
  await mkdir(path.join(base, 'tasks'), { recursive: true });
  const params = (dcppath: string, n: string) => ({ dcppath, taskfile: tf(n), basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime' });

  const immediate: [Record<string, string>, string | RegExp][] = [
    [{}, 'error, please provide taskfile path.'],
    [{ taskfile: tf('none'), dcppath: path.join(base, 'nothing-here') }, `error, not exist dcp path: ${path.join(base, 'nothing-here')}.`],
    [params(elsewhere, 'elsewhere'), `dcppath ${elsewhere} is outside ${store()}: refused`],
    [{ ...params(dcp.dir, 'ratio'), btobscdn: '1:x:0' }, /^gentask parameter btobscdn "1:x:0"/],
    [{ ...params(dcp.dir, 'policy'), policy: 'sometimes' }, /^gentask parameter policy "sometimes"/],
    [{ ...params(dcp.dir, 'base'), basesubdir: '../..' }, /^gentask parameter basesubdir "\.\.\/\.\."/],
  ];
  // Refused at once, naming the file: nothing of the DCP is read, no torrent or task is made.
  const refused: [string, string][] = [
    ['linkout', `dcp file ${path.join(withLinkOut.dir, 'secret.mxf')} is a symbolic link: only regular files are published`],
    ['linkin', `dcp file ${path.join(withLinkIn.dir, 'CPL.xml')} is a symbolic link: only regular files are published`],
    ['withfifo', `dcp file ${path.join(withFifo.dir, 'pipe.mxf')} is a FIFO: only regular files are published`],
  ];
  corpusCount += immediate.length + refused.length;
  for (const [p, expected] of immediate) {
    const a = await d.api('gentask', p);
    assert.equal(a.return_status, 'false', JSON.stringify(p));
    if (typeof expected === 'string') assert.equal(a.return_content.desc, expected);
    else assert.match(a.return_content.desc, expected);
  }
  for (const [n, expected] of refused) {
    const dir = path.join(dcps(), n);
    const a = await d.api('gentask', params(dir, n));
    assert.equal(a.return_status, 'false', n);
    assert.equal(a.return_content.desc, expected);
    const q = await d.api('taskfilesquery', { dcppath: dir, taskfile: tf(n) });
    assert.deepEqual(q.return_content, { status: 'error', desc: expected });
    await assert.rejects(lstat(tf(n)), `${n}: no task file written`);
    await assert.rejects(lstat(path.join(dcps(), `${n}.torrent`)), `${n}: no torrent made`);
  }
});

test('tasks that point outside the store, or whose files differ from the store, are never published; the bucket gets nothing', async () => {
  const putsBefore = s3.requests.filter((r) => r.method === 'PUT' || r.method === 'POST').length;
  const outsideDir = path.join(base, 'private');
  const cases: [string, Record<string, unknown>, string, string | RegExp][] = [
    // senderlocalpath out of the store, and the task even carries the private file's size
    ['outside', obsTask({ senderlocalpath: outsideDir }), 'tmp', `dcp directory ${path.join(outsideDir, 'legit')} is outside ${store()}: refused`],
    ['dotdot', obsTask({ senderlocalpath: path.join(dcps(), '../../../../../private') }), 'tmp', /^dcp directory .*private\/legit is outside .*: refused$/],
    ['wrongsha', obsTask({ filelist: dcp.filelist.map((f, i) => ({ ...f, hash: i === 0 ? 'a'.repeat(40) : f.hash })) }), 'uploading', `obs: refusing to publish ${path.join(dcp.dir, 'reel.mxf')}: its sha1 is ${dcp.filelist[0].hash}, the task says ${'a'.repeat(40)}`],
    ['wrongsize', obsTask({ filelist: dcp.filelist.map((f, i) => ({ ...f, size: i === 0 ? 5 : f.size })), size: 5 + dcp.filelist[1].size }), 'uploading', `obs: refusing to publish ${path.join(dcp.dir, 'reel.mxf')}: it has ${dcp.filelist[0].size} bytes, the task says 5`],
    ['basesubdir', obsTask({ basesubdir: '..' }), 'tmp', /^unsafe path in basesubdir: "\.\."/],
  ];
  corpusCount += cases.length;
  for (const [n, t] of cases) await writeFile(path.join(sender('tmp'), `cfec-001-${n}.task.json`), JSON.stringify(t));
  for (const [n, , state, expected] of cases) {
    const first = (await errOf(sender(state), `cfec-001-${n}`)).split('\n')[0];
    if (typeof expected === 'string') assert.equal(first, expected, n);
    else assert.match(first, expected, n);
  }
  // The same through the API: `send` answers false with the same text.
  const apiTask = path.join(base, 'tasks', 'cfec-001-apiout.task.json');
  await writeFile(apiTask, JSON.stringify(obsTask({ senderlocalpath: outsideDir })));
  const sent = await d.api('send', { taskfile: apiTask, reactive: 'false' });
  corpusCount += 1;
  assert.equal(sent.return_status, 'false');
  assert.equal(sent.return_content.desc, `dcp directory ${path.join(outsideDir, 'legit')} is outside ${store()}: refused`);

  assert.deepEqual(await bucketKeys(), [], 'nothing reached the bucket');
  assert.equal(s3.requests.filter((r) => r.method === 'PUT' || r.method === 'POST').length, putsBefore, 'no upload was even started');
  for (const [n, , state] of cases) await rm(path.join(sender(state), `cfec-001-${n}.task.json`), { force: true });
});

test('a store file swapped for a symlink after gentask is not seeded, uploaded or served by the origin', async () => {
  const film = await makeDcp(dcps(), 'swapped', [
    { file: 'reel.mxf', size: 300_000 },
    { file: 'CPL.xml', size: 900 },
  ]);
  const taskfile = path.join(sender('tmp'), 'cfec-001-swapped.task.json');
  const g = await d.api('gentask', { dcppath: film.dir, taskfile: path.join(base, 'tasks', 'cfec-001-swapped.task.json'), basesubdir: 'cfec-001', btobscdn: '0:1:0', policy: 'fulltime' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: film.dir, taskfile: path.join(base, 'tasks', 'cfec-001-swapped.task.json') })).return_content.status === 'finished' || undefined, { timeoutMs: 30_000, what: 'gentask swapped' });
  // The swap: the reel becomes a link to the private file, same name.
  await rm(path.join(film.dir, 'reel.mxf'));
  await symlink(path.join(base, 'private', 'legit', 'reel.mxf'), path.join(film.dir, 'reel.mxf'));
  await writeFile(taskfile, await readFile(path.join(base, 'tasks', 'cfec-001-swapped.task.json'), 'utf8'));
  corpusCount += 2;
  const first = (await errOf(sender('uploading'), 'cfec-001-swapped')).split('\n')[0];
  assert.equal(first, `obs: dcp file ${path.join(film.dir, 'reel.mxf')} is a symbolic link: only regular files are published`);
  assert.deepEqual(await bucketKeys(), []);
  // The origin does not serve it either (its real path leaves the store).
  const res = await request(`${originUrl}/dcp/cfec-001/dcps/swapped/reel.mxf`);
  const body = await res.body.text();
  assert.equal(res.statusCode, 404);
  assert.ok(!body.includes('secret'));
});

test('hostile sender spool entries: a symlinked task file in tmp, a FIFO in queues, send of a FIFO path — refused, left in place, never followed', async () => {
  const victim = path.join(base, 'tasks', 'victim.task.json');
  const victimText = JSON.stringify(obsTask());
  await writeFile(victim, victimText);
  await symlink(victim, path.join(sender('tmp'), 'cfec-001-link.task.json'));
  execFileSync('mkfifo', [path.join(sender('queues'), 'cfec-001-pipe.task.json')]);
  const fifoPath = path.join(base, 'tasks', 'cfec-001-fifo.task.json');
  execFileSync('mkfifo', [fifoPath]);
  corpusCount += 3;
  assert.equal((await errOf(sender('tmp'), 'cfec-001-link')).split('\n')[0], `taskfile is not a regular file: ${path.join(sender('tmp'), 'cfec-001-link.task.json')} is a symbolic link`);
  assert.equal((await errOf(sender('queues'), 'cfec-001-pipe')).split('\n')[0], `taskfile is not a regular file: ${path.join(sender('queues'), 'cfec-001-pipe.task.json')} is a FIFO`);
  const sent = await d.api('send', { taskfile: fifoPath, reactive: 'false' });
  assert.equal(sent.return_status, 'false');
  assert.equal(sent.return_content.desc, `taskfile is not a regular file: ${fifoPath} is a FIFO`);
  assert.equal(await readFile(victim, 'utf8'), victimText, 'the symlink target is untouched');
  assert.ok((await lstat(path.join(sender('tmp'), 'cfec-001-link.task.json'))).isSymbolicLink());

  // Still working: the legit DCP, sent properly, reaches the bucket whole.
  const legit = path.join(sender('tmp'), 'cfec-001-legit.task.json');
  await writeFile(legit, JSON.stringify(obsTask()));
  await waitFor(async () => (await d.api('uploadprogress', { taskfile: 'cfec-001-legit.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 30_000, what: `legit ready\n${d.output()}` });
  assert.deepEqual(await bucketKeys(), ['dcps/legit/CPL.xml', 'dcps/legit/reel.mxf']);
  assert.ok(!d.exited());
  // Nothing written outside the root: base holds only what the test made.
  assert.deepEqual((await readdir(base)).sort(), ['elsewhere', 'private', 'root', 'tasks']);
});
