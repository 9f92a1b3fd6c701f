// The seed's texts and behaviour (issue 22, point 8; seed §4.3.2, §4.3.3, §4.3.6), each
// quoted from the seed, on real daemons:
// - a second `recv` of a task that is downloading: "same taskfile in downloading:<path>";
// - "all localsamefiles existed copy and finished, succeed!" only once the copies are
//   finished: an all-local task takes no download slot, so it is done within the answer
//   even while another task holds the only slot; one that must wait for another task of
//   its DCP is answered with what it waits for instead;
// - an all-local task received again seeds its BitTorrent share (`receiverseed`);
// - `uploadprogress` of an unknown task: the seed's answer, field for field; of a cancelled
//   one: the same (the seed's cancel clears the task away), naming the cancel;
// - `taskfilesquery` while the torrent is being made: "process making seed ".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const FAST = { retrydelay: '200ms', quickdelay: '200ms', hashstable: '300ms' };
let base: string;
let origin: TestOrigin;
let big: MadeDcp;
let small: MadeDcp;

before(async () => {
  base = await makeTempRoot();
  big = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'big', [{ file: 'reel.mxf', size: 40 * MB }]);
  small = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'small', [
    { file: 'reel.mxf', size: 3 * MB },
    { file: 'CPL.xml', size: 900 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
});
after(async () => {
  await origin?.close();
  await rm(base, { recursive: true, force: true });
});

/** A CDN task file (outside any spool) for a DCP of the origin, received under `name`. */
async function handed(task: string, name: string, dcp: MadeDcp): Promise<string> {
  const file = path.join(base, `${task}.task.json`);
  await writeFile(file, JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/${path.basename(dcp.dir)}`, filelist: dcp.filelist })));
  return file;
}

test('recv of a task already downloading answers the seed\'s "same taskfile in downloading:<path>"', { timeout: 120_000 }, async () => {
  origin.throttle(2 * MB);
  const d = await startDaemon({ root: path.join(base, 'r1'), config: {}, tuning: FAST });
  try {
    assert.equal((await d.api('recv', { taskfile: await handed('cfec-001-big', 'big', big) })).return_content.desc, 'succeed!');
    await waitFor(async () => ((await d.api('progress', { taskfile: 'cfec-001-big.task.json' })).return_content.downloaded > 0 ? true : undefined), { timeoutMs: 30_000, what: 'downloading' });
    const again = await d.api('recv', { taskfile: await handed('cfec-001-big', 'big', big), reactive: 'false' });
    assert.equal(again.return_status, 'false');
    assert.equal(again.return_content.desc, `same taskfile in downloading:${path.join(d.paths.downloading, 'cfec-001-big.task.json')}`);
  } finally {
    origin.throttle(null);
    await d.stop();
  }
});

test('"all localsamefiles existed copy and finished, succeed!" only once the copies are finished; a task that must wait says for what', { timeout: 180_000 }, async () => {
  const d = await startDaemon({ root: path.join(base, 'r2'), config: { avoidrepeat: true, downloadingnum: 1 }, tuning: FAST });
  try {
    // The store gets `small`; its files are then in the hash table.
    assert.equal((await d.api('recv', { taskfile: await handed('cfec-001-small', 'small', small) })).return_content.desc, 'succeed!');
    await waitFor(() => stat(path.join(d.paths.downloaded, 'cfec-001-small.task.json')).then(() => true), { timeoutMs: 60_000, what: 'small downloaded' });
    await waitFor(async () => ((await readFile(path.join(d.root, 'etc/bft2/hashtable.txt'), 'utf8')).includes(small.filelist[0].hash) ? true : undefined), { timeoutMs: 30_000, what: 'small in the hash table' });

    // `big` takes the only download slot for a while.
    origin.throttle(2 * MB);
    assert.equal((await d.api('recv', { taskfile: await handed('cfec-001-big', 'big', big) })).return_content.desc, 'succeed!');
    await waitFor(() => stat(path.join(d.paths.downloading, 'cfec-001-big.task.json')).then(() => true), { timeoutMs: 30_000, what: 'big downloading' });

    // The same files under another name: every file is local, no slot is needed, the copies are done when the answer comes.
    const copy = await d.api('recv', { taskfile: await handed('cfec-001-copy', 'copy', small) });
    assert.equal(copy.return_content.desc, 'all localsamefiles existed copy and finished, succeed!');
    await stat(path.join(d.paths.dcp, 'copy.finished'));
    await stat(path.join(d.paths.downloaded, 'cfec-001-copy.task.json'));
    assert.equal((await d.api('progress', { taskfile: 'cfec-001-copy.task.json' })).return_content.totalpercent, '100.000%');

    // Received again: the seed's other text, also only when done.
    const again = await d.api('recv', { taskfile: await handed('cfec-001-copy', 'copy', small) });
    assert.equal(again.return_content.desc, 'same name task downloaded, all localsamefiles existed copy and finished, succeed!');

    // All local, but its DCP (`big`) is being downloaded by another task: it must wait, and the answer says so.
    const blocked = await d.api('recv', { taskfile: await handed('cfec-001-other', 'big', small) });
    assert.equal(blocked.return_status, 'true');
    assert.match(blocked.return_content.desc, /^succeed! \(all localsamefiles existed; the copies are not finished yet: waiting for cfec-001-big: it works on the same DCP \(.*\/data\/dcp\/big\)\)$/);
    assert.notEqual(blocked.return_content.desc, 'all localsamefiles existed copy and finished, succeed!');
  } finally {
    origin.throttle(null);
    await d.stop();
  }
});

test('an all-local task received again seeds its BitTorrent share (receiverseed)', { timeout: 180_000 }, async () => {
  const { sender } = await startLoopbackSender({ ak: 'none', sk: 'none', endpoint: 'http://127.0.0.1:9' }, { root: path.join(base, 's3'), config: { autosend: true }, tuning: FAST });
  const d = await startDaemon({ root: path.join(base, 'r3'), config: { avoidrepeat: true, receiverseed: true }, tuning: FAST });
  try {
    const dcp = await makeDcp(path.join(sender.root, 'data/dcp/cfec-001/dcps'), 'trailer', [{ file: 'trailer.mxf', size: 3 * MB }, { file: 'CPL.xml', size: 700 }]);
    await gentaskOn(sender, { dcppath: dcp.dir, task: 'cfec-001-trailer', btobscdn: '1:0:0', until: 'ready' });
    const uploaded = path.join(sender.root, 'data/sender/uploaded/cfec-001-trailer.task.json');
    await d.api('recv', { taskfile: uploaded });
    await waitFor(() => stat(path.join(d.paths.downloaded, 'cfec-001-trailer.task.json')).then(() => true), { timeoutMs: 60_000, what: 'downloaded' });
    await waitFor(async () => ((await readFile(path.join(d.root, 'etc/bft2/hashtable.txt'), 'utf8')).includes(dcp.filelist[0].hash) ? true : undefined), { timeoutMs: 30_000, what: 'in the hash table' });
    // The seed starts once the DCP is stored (a moment after the task file reaches downloaded).
    await waitFor(async () => ((await d.api('progress', { taskfile: 'cfec-001-trailer.task.json' })).return_content.btstatus === 'btseeding' ? true : undefined), { timeoutMs: 30_000, what: 'the first receive seeds' });

    // Received again: every file is local; the new task seeds its share too.
    const again = await d.api('recv', { taskfile: uploaded });
    assert.match(again.return_content.desc, /^same name task downloaded, all localsamefiles existed copy and finished, succeed!/);
    const p = await waitFor(async () => {
      const x = (await d.api('progress', { taskfile: 'cfec-001-trailer.task.json' })).return_content;
      return x.btstatus === 'btseeding' ? x : undefined;
    }, { timeoutMs: 30_000, what: `the re-received task seeds\n${await readFile(d.paths.log, 'utf8').catch(() => '')}` });
    assert.equal(p.status, 'downloaded');
    assert.equal(p.localsamepercent, '100.000%');
  } finally {
    await d.stop();
    await sender.stop();
  }
});

test('uploadprogress of an unknown and of a cancelled task: the seed\'s answer; taskfilesquery while making the torrent: "process making seed "', { timeout: 120_000 }, async () => {
  const { sender } = await startLoopbackSender({ ak: 'none', sk: 'none', endpoint: 'http://127.0.0.1:9' }, { root: path.join(base, 's4'), config: { autosend: false }, tuning: FAST });
  try {
    const unknown = await sender.api('uploadprogress', { taskfile: 'cfec-001-nothing.task.json' });
    assert.equal(unknown.return_status, 'false');
    // Seed §4.3.3, 异常: {"taskfile":"","status":"unknown","desc":"","btstatus":"unknown","obsstatus":"completed","cdnstatus":"unknown"}
    assert.deepEqual(unknown.return_content, { taskfile: '', status: 'unknown', desc: '', btstatus: 'unknown', obsstatus: 'completed', cdnstatus: 'unknown' });

    const dcp = await makeDcp(path.join(sender.root, 'data/dcp/cfec-001/dcps'), 'big', [{ file: 'reel.mxf', size: 400 * MB }]);
    const taskfile = path.join(sender.root, 'data/sender/tmp/cfec-001-big.task.json');
    assert.equal((await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '0:0:1', policy: 'fulltime' })).return_status, 'true');
    const making = await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile });
    assert.equal(making.return_status, 'true');
    assert.equal(making.return_content.status, 'unfinished');
    // Seed §4.3.6, 未完成: "desc":"process making seed "
    assert.equal(making.return_content.desc, 'process making seed ');
    assert.match(making.return_content.step, /^making .*big\.torrent$|^listing files$/);
    await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 120_000, what: 'task made' });

    assert.equal((await sender.api('send', { taskfile, reactive: 'false' })).return_content.desc, 'succeeded!');
    await waitFor(async () => (await sender.api('uploadprogress', { taskfile: 'cfec-001-big.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, what: 'ready' });
    assert.equal((await sender.api('cancel', { taskfile: 'cfec-001-big.task.json' })).return_content.desc, 'succeeded!');
    const cancelled = await sender.api('uploadprogress', { taskfile: 'cfec-001-big.task.json' });
    assert.equal(cancelled.return_status, 'false');
    assert.equal(cancelled.return_content.status, 'unknown', 'not "finished": the task did not finish, it was cancelled');
    assert.match(cancelled.return_content.desc, new RegExp(`^cancelled: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d cancelled while in uploaded \\(task file: ${path.join(sender.root, 'data/sender/history/cfec-001-big.task.json')}\\)$`));
    assert.equal(cancelled.return_content.btstatus, 'unknown');
  } finally {
    await sender.stop();
  }
});
