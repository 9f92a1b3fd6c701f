// Failures that more tries will not cure reach the operator within a minute (SPEC §4), with
// the daemons' real retry settings (no test knobs): while a method waits to try again,
// `progress` / `uploadprogress` say `retrying: <reason>, next try <time>`; after a few
// quick tries the task stops with `.err`, whose first line is the reason and whose further
// lines are every try. Receiver: a CDN answering 404, a refused connection. Sender: OBS
// refusing the access key, a CDN URL answering 404.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, type Daemon } from '../../tools/harness/daemon.ts';
import { startHostileServer, type HostileServer } from '../helpers/hostile-server.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

let base: string;
let hostile: HostileServer;
let s3: TestS3;
let receiver: Daemon;
let sender: Daemon;
let dcp: MadeDcp;
const RETRYING = /^retrying: (cdn|obs) .+, next try \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

before(async () => {
  base = await makeTempRoot();
  hostile = await startHostileServer();
  s3 = await startS3Server({ bucket: 'cfec-001' });
  receiver = await startDaemon({ root: path.join(base, 'receiver'), config: {} });
  const originPort = await freePort();
  sender = await startDaemon({
    root: path.join(base, 'sender'),
    config: {
      servertype: 'sender',
      senderdomain: `http://127.0.0.1:${originPort}`,
      httporigin: `127.0.0.1:${originPort}`,
      cdnurl: `${hostile.url}/status/404`,
      obsurl: 'obs://cfec-001',
      obsak: 'NOT-A-KEY-S3RVER-KNOWS',
      obssk: 'wrong',
      obsendpoint: s3.endpoint,
      obssignature: 'v2',
      obspathstyle: true,
    },
    tuning: { hashstable: '300ms' },
  });
  dcp = await makeDcp(path.join(base, 'sender', 'data/dcp/cfec-001/dcps'), 'film', [
    { file: 'reel.mxf', size: 200_000 },
    { file: 'CPL.xml', size: 1500 },
  ]);
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await hostile?.close();
  await s3?.close();
  await rm(base, { recursive: true, force: true });
});

test('receiver: a 404 and a refused connection show "retrying" in progress at once; the 404 stops with .err within a minute, the refused connection (transient) is still being retried then', async () => {
  const refusedPort = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
  const tasks = {
    'cfec-001-gone': `${hostile.url}/status/404/film`,
    'cfec-001-refused': `http://127.0.0.1:${refusedPort}/dcp/cfec-001/dcps/film`,
  };
  const t0 = Date.now();
  for (const [task, url] of Object.entries(tasks)) {
    await writeFile(path.join(receiver.paths.queues, `${task}.task.json`), JSON.stringify(makeCdnTask({ name: task.slice(9), basesubdir: 'cfec-001', cdnUrl: url, filelist: dcp.filelist })));
  }
  for (const task of Object.keys(tasks)) {
    const shown = await waitFor(
      async () => {
        const c = (await receiver.api('progress', { taskfile: `${task}.task.json` })).return_content;
        return RETRYING.test(c.downerror) ? c : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: `${task}: retrying in progress` },
    );
    assert.equal(shown.status, 'downloading', 'still trying, not failed yet');
    assert.match(shown.downerror, task.endsWith('gone') ? /HTTP 404 from/ : /ECONNREFUSED/);
  }
  // A 404 will not cure itself: 3 quick tries, then .err with every try.
  const text = await waitFor(() => readFile(path.join(receiver.paths.downloading, 'cfec-001-gone.err'), 'utf8'), { timeoutMs: 60_000, what: 'cfec-001-gone.err' });
  const lines = text.trim().split('\n');
  assert.match(lines[0], /^cdn download error: (reel\.mxf|CPL\.xml): HTTP 404 from /);
  assert.ok(lines.filter((l) => /retry in \d+ s/.test(l)).length >= 2, `every try is in the history:\n${text}`);
  assert.doesNotMatch(text, /^autoretry:/m, 'a 404 is not retried by itself later');
  const took = Date.now() - t0;
  assert.ok(took < 60_000, `reported after ${took} ms`);
  // A refused connection is transient (an origin restarting): it is still being retried, with growing delays.
  const refused = (await receiver.api('progress', { taskfile: 'cfec-001-refused.task.json' })).return_content;
  assert.equal(refused.status, 'downloading', JSON.stringify(refused));
  assert.match(refused.downerror, /^retrying: cdn .*ECONNREFUSED.*, next try \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  await assert.rejects(readFile(path.join(receiver.paths.downloading, 'cfec-001-refused.err'), 'utf8'), { code: 'ENOENT' });
  assert.equal((await receiver.api('cancel', { taskfile: 'cfec-001-refused.task.json' })).return_content.desc, 'succeeded!');
  console.log(`receiver: 404 reached .err ${took} ms after the drop; the refused connection was still being retried`);
});

test('sender: OBS refusing the key and a CDN URL answering 404 show in uploadprogress at once; .err within a minute keeps every try', async () => {
  const taskfile = path.join(base, 'sender', 'data/sender/tmp/cfec-001-film.task.json');
  const t0 = Date.now();
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile: path.join(base, 'film.task.json'), basesubdir: 'cfec-001', btobscdn: '0:1:1', policy: 'fulltime' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile: path.join(base, 'film.task.json') })).return_content.status === 'finished' || undefined, { timeoutMs: 30_000, what: 'gentask' });
  await writeFile(taskfile, await readFile(path.join(base, 'film.task.json'), 'utf8'));
  const shown = await waitFor(
    async () => {
      const c = (await sender.api('uploadprogress', { taskfile: 'cfec-001-film.task.json' })).return_content;
      return c.status === 'uploading' && RETRYING.test(c.desc.split('; ')[0]) ? c : undefined;
    },
    { timeoutMs: 15_000, intervalMs: 200, what: 'sender: retrying in uploadprogress' },
  );
  assert.match(shown.desc, /(InvalidAccessKeyId|HTTP 404)/);
  const text = await waitFor(() => readFile(path.join(base, 'sender', 'data/sender/uploading/cfec-001-film.err'), 'utf8'), { timeoutMs: 60_000, what: 'sender .err' });
  const lines = text.trim().split('\n');
  assert.match(lines[0], /^(obs|cdn): /);
  assert.ok(lines.length >= 3, `the tries are kept:\n${text}`);
  const up = (await sender.api('uploadprogress', { taskfile: 'cfec-001-film.task.json' })).return_content;
  assert.equal(up.status, 'error');
  const took = Date.now() - t0;
  assert.ok(took < 60_000, `reported after ${took} ms`);
  console.log(`sender: ${lines[0]} — reached .err ${took} ms after the drop, ${lines.length - 1} history lines`);
});
