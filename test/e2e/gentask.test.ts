// gentask and taskfilesquery on a real sender daemon: the task file matches the schema and
// the allocation rules, the torrents parse, the `-tmp` torrent holds exactly btlist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { validateTask } from '../../src/task/validate-task.ts';
import { readTorrentFiles } from '../../src/transfer/bt/make-torrent.ts';

const MB = 1024 * 1024;
const DOMAIN = 'http://127.0.0.1:18080';
let root: string;
let d: Daemon;
let dcp: MadeDcp;
const dcps = () => path.join(root, 'data/dcp/cfec-001/dcps');

before(async () => {
  root = await makeTempRoot();
  d = await startDaemon({
    root,
    config: { servertype: 'sender', senderid: 'cfec', senderdomain: DOMAIN, cdnurl: DOMAIN, tracker: 'http://127.0.0.1:16969/announce', obsurl: 'obs://cfec-001', defaultseedtime: '72', autosend: false, obsak: 'CONFIG-AK', obssk: 'CONFIG-SK', obsendpoint: 'http://127.0.0.1:19000' },
    tuning: { hashstable: '300ms' },
  });
  dcp = await makeDcp(dcps(), 'feature', [
    { file: 'picture.mxf', size: 24 * MB },
    { file: 'sound.mxf', size: 6 * MB },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'sub/CPL.xml', size: 2100 },
    { file: 'VOLINDEX', size: 155 },
  ]);
});
after(async () => {
  await d?.stop();
  await rm(root, { recursive: true, force: true });
});

async function gentask(ratio: string, extra: Record<string, unknown> = {}) {
  const taskfile = path.join(root, 'data/sender/tmp', `cfec-001-feature-${ratio.replace(/:/g, '')}.task.json`);
  const answer = await d.api('gentask', { dcppath: path.join(dcps(), 'feature'), taskfile, basesubdir: 'cfec-001', btobscdn: ratio, policy: 'fulltime', deloldtorrent: 'true', ...extra });
  assert.equal(answer.return_status, 'true', JSON.stringify(answer));
  const q = await waitFor(
    async () => {
      const r = await d.api('taskfilesquery', { dcppath: path.join(dcps(), 'feature'), taskfile });
      return r.return_content.status === 'unfinished' ? undefined : r;
    },
    { timeoutMs: 30_000, what: `gentask ${ratio}` },
  );
  assert.equal(q.return_status, 'true', JSON.stringify(q));
  assert.deepEqual(q.return_content, { status: 'finished', desc: 'succeed!' });
  return { answer, taskfile, task: JSON.parse(await readFile(taskfile, 'utf8')) };
}

for (const ratio of ['1:0:0', '0:0:1', '1:1:1', '2:1:1', '0:1:1']) {
  test(`gentask ${ratio}: schema, allocation, torrents and URLs`, async () => {
    const { answer, taskfile, task } = await gentask(ratio);
    const full = path.join(dcps(), 'feature.torrent');
    const share = path.join(root, 'data/dcp/cfec-001/dcps-tmp/feature-tmp.torrent');
    const [bt, obs, cdn] = ratio.split(':').map(Number);
    // The answer names what it makes: the -tmp torrent only when BitTorrent has a share of a split task.
    const made = bt > 0 && obs + cdn > 0 ? `${full}, ${share}` : full;
    assert.equal(answer.return_content.desc, `please wait until ${made} and ${taskfile} all are finished.`);
    const t = validateTask(task, taskfile); // schema and every §4 check
    assert.equal(t.size, dcp.size);
    assert.deepEqual(new Map(t.filelist.map((f) => [f.file, f.hash])), new Map(dcp.filelist.map((f) => [f.file, f.hash])));
    assert.equal(task['bt-obs-cdn'], ratio);
    // The seed's rule: no keys given, so a task with an OBS share carries the config's.
    assert.deepEqual([task.obs.ak, task.obs.sk, task.obs.endpoint], obs > 0 ? ['CONFIG-AK', 'CONFIG-SK', 'http://127.0.0.1:19000'] : ['', '', '']);
    if (bt === 0) assert.deepEqual(t.btlist, []);
    if (obs === 0) assert.deepEqual(t.obslist, []);
    if (cdn === 0) assert.deepEqual(t.cdnlist, []);
    assert.equal(task.btlistsize + task.obslistsize + task.cdnlistsize, dcp.size);

    const fullInfo = await readTorrentFiles(await readFile(full));
    assert.deepEqual(fullInfo.files.map((f) => f.path).sort(), dcp.filelist.map((f) => f.file).sort());
    assert.deepEqual(fullInfo.announce, ['http://127.0.0.1:16969/announce']);
    // ctfilesorder: BT takes a run from the front of the torrent order.
    const order = fullInfo.files.map((f) => f.path);
    assert.deepEqual(t.btlist, order.slice(0, t.btlist.length));

    assert.equal(task.bt.url, `${DOMAIN}/dcp/cfec-001/dcps/feature.torrent`);
    assert.equal(task.cdn.url, `${DOMAIN}/dcp/cfec-001/dcps/feature`);
    assert.equal(task.obs.url, 'obs://cfec-001/dcps/feature');
    assert.equal(task.bt.seedtime, 72);
    if (t.btlist.length > 0 && (t.obslist.length > 0 || t.cdnlist.length > 0)) {
      assert.equal(task.bt.tmpurl, `${DOMAIN}/dcp/cfec-001/dcps-tmp/feature-tmp.torrent`);
      const shareInfo = await readTorrentFiles(await readFile(share));
      assert.deepEqual(shareInfo.files.map((f) => f.path).sort(), [...t.btlist].sort());
      for (const f of t.btlist) {
        const a = await stat(path.join(dcps(), 'feature', f));
        const b = await stat(path.join(root, 'data/dcp/cfec-001/dcps-tmp/feature-tmp', f));
        assert.equal(a.ino, b.ino, `${f} is a hard link`);
      }
    } else {
      assert.equal(task.bt.tmpurl, '');
      await assert.rejects(stat(share));
    }
  });
}

test('the torrents prepared beforehand: gentask (deloldtorrent false) writes the task at once and answers succeeded!; obsbuckets.txt keeps the keys out of the task', async () => {
  await gentask('2:1:1');
  const taskfile = path.join(root, 'data/sender/tmp/cfec-001-feature-again.task.json');
  const torrentBefore = await stat(path.join(dcps(), 'feature.torrent'));
  await writeFile(path.join(root, 'etc/bft2/obsbuckets.txt'), 'cfec-001 FILE-AK FILE-SK http://127.0.0.1:19001\n');
  try {
    const answer = await d.api('gentask', { dcppath: path.join(dcps(), 'feature'), taskfile, basesubdir: 'cfec-001', btobscdn: '2:1:1', policy: 'fulltime' });
    assert.deepEqual(answer.return_content, { desc: 'succeeded!' });
    // Written before the answer; the torrents were kept, not made again.
    const task = JSON.parse(await readFile(taskfile, 'utf8'));
    validateTask(task, taskfile);
    assert.equal((await stat(path.join(dcps(), 'feature.torrent'))).mtimeMs, torrentBefore.mtimeMs);
    assert.deepEqual([task.obs.ak, task.obs.sk], ['', ''], 'obsbuckets.txt names the bucket: receivers have keys of their own');
  } finally {
    await rm(path.join(root, 'etc/bft2/obsbuckets.txt'), { force: true });
  }
});

test('the DCP is hashed once: gentask takes the hash table, and fills it for files it had to hash', async () => {
  const table = await readFile(path.join(root, 'etc/bft2/hashtable.txt'), 'utf8');
  for (const f of dcp.filelist) assert.ok(table.includes(`${f.hash}  ${path.join(dcps(), 'feature', f.file)}`), f.file);
  assert.ok(!table.includes('dcps-tmp'), 'the share of hard links is not in the table');
  assert.ok(!table.includes('.torrent'));
  assert.equal(await sha1File(path.join(dcps(), 'feature', 'picture.mxf')), dcp.filelist[0].hash);
});

test('gentask errors: the seed texts; taskfilesquery reports unknown DCPs and broken task files', async () => {
  const big = await makeDcp(dcps(), 'big', [{ file: 'reel.mxf', size: 300 * MB }]);
  const taskfile = path.join(root, 'data/sender/tmp/cfec-001-big.task.json');
  const first = await d.api('gentask', { dcppath: big.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime' });
  assert.equal(first.return_status, 'true');
  const busy = await d.api('gentask', { dcppath: big.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime' });
  assert.equal(busy.return_status, 'false');
  assert.equal(busy.return_content.desc, `same torrent process is generating:${path.join(dcps(), 'big.torrent')} `);
  const during = await d.api('taskfilesquery', { dcppath: big.dir, taskfile });
  assert.equal(during.return_content.status, 'unfinished');
  assert.match(during.return_content.desc, /^process making seed/);

  const bad = await d.api('gentask', { dcppath: big.dir, taskfile: path.join(root, 'x.task.json'), basesubdir: 'cfec-001', btobscdn: '1:x:0', policy: 'fulltime' });
  assert.match(bad.return_content.desc, /^gentask parameter btobscdn "1:x:0": /);
  const badPolicy = await d.api('gentask', { dcppath: big.dir, taskfile: path.join(root, 'x.task.json'), basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'sometimes' });
  assert.equal(badPolicy.return_content.desc, 'gentask parameter policy "sometimes": must be fulltime or priortime');
  const nodir = await d.api('taskfilesquery', { dcppath: path.join(dcps(), 'nothing'), taskfile });
  assert.equal(nodir.return_status, 'false');
  assert.deepEqual(nodir.return_content, { status: 'error', desc: `not exist ${path.join(dcps(), 'nothing')} ` });
  const none = await d.api('taskfilesquery', { dcppath: big.dir, taskfile: path.join(root, 'none.task.json') });
  assert.deepEqual(none.return_content, { status: 'unfinished', desc: 'no make seed process and not found task.json.' });
  await waitFor(async () => (await d.api('taskfilesquery', { dcppath: big.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 60_000, what: 'big task' });
  assert.deepEqual((await readdir(path.join(root, 'data/sender/tmp'))).filter((n) => n.includes('big')), ['cfec-001-big.task.json']);
});
