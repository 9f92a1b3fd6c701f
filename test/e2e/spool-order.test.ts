// The spool's scheduling and the sender's front half, with real daemons: downloadingnum
// bounds the active tasks and the rest start in arrival order; the CLI drives the API;
// a sender moves complete task files from tmp to queues (autosend) and marks broken ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, readdir, rm, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { makeDcp, makeCdnTask } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT } from '../../tools/harness/daemon.ts';

const run = promisify(execFile);
const bft2 = path.join(REPO_ROOT, 'bin/bft2');
const ENV = { retrydelay: '100ms', unparseablegrace: '2000ms' };

test('downloadingnum 1: one task at a time, the others wait in queues and start in arrival order; the CLI speaks to the API', async () => {
  const base = await makeTempRoot();
  const dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'd', [{ file: 'f.mxf', size: 8 * 1024 * 1024 }]);
  const origin = await startTestOrigin(path.join(base, 'origin'));
  // Slow until every task is in: the first must still be running when the third arrives,
  // however long each CLI call takes on a loaded machine.
  origin.throttle(64 * 1024);
  const root = path.join(base, 'root');
  const d = await startDaemon({ root, config: { downloadingnum: 1 }, tuning: ENV });
  try {
    const names = ['first', 'second', 'third'];
    for (const n of names) {
      const task = makeCdnTask({ name: n, basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/d`, filelist: dcp.filelist });
      const file = path.join(base, `cfec-001-${n}.task.json`);
      await writeFile(file, JSON.stringify(task));
      const { stdout } = await run(bft2, ['--root', root, 'recv', file]);
      assert.equal(stdout.trim(), 'succeed!');
      await new Promise((r) => setTimeout(r, 50));
    }
    const active = (await readdir(d.paths.downloading)).filter((n) => n.endsWith('.task.json'));
    assert.deepEqual(active, ['cfec-001-first.task.json']);
    // The seed: a queued task has no progress — a false answer (exit 1) with its text.
    const queued = await run(bft2, ['--root', root, 'progress', 'cfec-001-third']).then(
      () => assert.fail('progress of a queued task answers false'),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(queued.code, 1);
    assert.equal(JSON.parse(queued.stdout).status, 'queues');
    assert.equal(JSON.parse(queued.stdout).desc, 'task in queues, no progress now.');
    origin.throttle(2 * 1024 * 1024);
    await waitFor(() => stat(path.join(d.paths.downloaded, 'cfec-001-third.task.json')).then(() => true), { timeoutMs: 90_000, what: `third downloaded\n${d.output()}` });
    const log = await readFile(d.paths.log, 'utf8');
    const order = [...log.matchAll(/downloading cfec-001-(\w+):/g)].map((m) => m[1]);
    assert.deepEqual(order, names);
    const { stdout: status } = await run(bft2, ['--root', root, 'status']);
    for (const n of names) assert.match(status, new RegExp(`^receiver/downloaded\\s+cfec-001-${n}\\s+100\\.000%`, 'm'));
    const cancel = await run(bft2, ['--root', root, 'cancel', 'cfec-001-first']).catch((e) => e);
    assert.match(cancel.stdout, /^no need to cancel, task already downloaded: /);
  } finally {
    await d.stop();
    await origin.close();
    await rm(base, { recursive: true, force: true });
  }
});

test('sender: autosend moves a complete task from tmp to queues; a broken one gets .err in tmp; send says it was autosent; cancel', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { servertype: 'sender', autosend: true }, tuning: ENV });
  const sender = (s: string) => path.join(root, 'data/sender', s);
  try {
    const task = makeCdnTask({ name: 'out', basesubdir: 'cfec-001', cdnUrl: 'http://127.0.0.1:9/dcp/cfec-001/dcps/out', filelist: [{ file: 'a.mxf', hash: 'a'.repeat(40), size: 10 }] });
    await writeFile(path.join(sender('tmp'), 'cfec-001-out.task.json'), JSON.stringify(task));
    await writeFile(path.join(sender('tmp'), 'cfec-001-broken.task.json'), '{"name": "out", ');
    // Sent: in queues, or already uploading (its CDN origin does not answer, so it never gets further).
    await waitFor(
      async () => (await stat(path.join(sender('queues'), 'cfec-001-out.task.json')).catch(() => stat(path.join(sender('uploading'), 'cfec-001-out.task.json')))) && true,
      { timeoutMs: 10_000, what: 'autosend to queues' },
    );
    const err = await waitFor(() => readFile(path.join(sender('tmp'), 'cfec-001-broken.err'), 'utf8'), { timeoutMs: 10_000, what: 'broken.err' });
    assert.equal(err.split('\n')[0], `invalid json format:${path.join(sender('tmp'), 'cfec-001-broken.task.json')}`);
    await stat(path.join(sender('tmp'), 'cfec-001-broken.task.json'));
    // send of a task autosend already took: true, and says so.
    const again = await d.api('send', { taskfile: path.join(sender('tmp'), 'cfec-001-out.task.json') });
    assert.equal(again.return_status, 'true');
    assert.match(again.return_content.desc, /^already sent by autosend: .*\/data\/sender\/(queues|uploading)\/cfec-001-out\.task\.json$/);
    // cancel of a sender task: stops it and files it in history with a .cancelled marker.
    const cancel = await d.api('cancel', { taskfile: 'cfec-001-out.task.json' });
    assert.equal(cancel.return_content.desc, 'succeeded!');
    await stat(path.join(sender('history'), 'cfec-001-out.task.json'));
    await stat(path.join(sender('history'), 'cfec-001-out.cancelled'));
    // The seed's cancel clears the task from its spool: uploadprogress answers as for an unknown task, naming the cancel (issue 22).
    const gone = await d.api('uploadprogress', { taskfile: 'cfec-001-out.task.json' });
    assert.equal(gone.return_status, 'false');
    assert.equal(gone.return_content.status, 'unknown');
    assert.match(gone.return_content.desc, /^cancelled: /);
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});
