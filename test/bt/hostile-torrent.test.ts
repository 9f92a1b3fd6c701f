// A corpus of hostile and broken torrents against a real receiver daemon (issue 20: a
// torrent of one 10 MiB file in 16 KiB pieces with one piece hash made the receiver exit 1,
// and again at every restart). Each torrent is served over HTTP by a real origin as a BT
// task's `bt.url`; each task must end as `downloading/<task>.err` whose first line names
// the problem (`invalid torrent <url>: ...`), `recv` must answer false with the same text,
// and the daemon must keep running: the same process answers `/heartbeat` and still
// delivers a good task dropped after them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostileTorrents, type HostileTorrent as Case } from './hostile-torrents.ts';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const ENV = { retrydelay: '100ms', retrymaxdelay: '200ms', retrytries: 3 };
const SHA1 = 'a'.repeat(40);

let base: string;
let origin: TestOrigin;
let d: Daemon;
let good: MadeDcp;
const torrentDir = () => path.join(base, 'origin', 'cfec-001', 'dcps');
const torrentUrl = (name: string) => `${origin.url}/dcp/cfec-001/dcps/${name}.torrent`;

before(async () => {
  base = await makeTempRoot();
  await mkdir(torrentDir(), { recursive: true });
  good = await makeDcp(torrentDir(), 'fine', [{ file: 'a.mxf', size: 200_000 }]);
  origin = await startTestOrigin(path.join(base, 'origin'));
  await mkdir(path.join(base, 'root'));
  d = await startDaemon({ root: path.join(base, 'root'), config: {}, tuning: ENV });
});
after(async () => {
  await d?.stop();
  await origin?.close();
  await rm(base, { recursive: true, force: true });
});

function btTask(c: { name: string; files: { file: string; size: number }[] }, url: string): Record<string, unknown> {
  const size = c.files.reduce((s, f) => s + f.size, 0);
  const filelist = c.files.map((f) => ({ file: f.file, hash: SHA1, size: f.size }));
  return makeCdnTask({
    name: c.name,
    basesubdir: 'cfec-001',
    cdnUrl: '',
    filelist,
    extra: {
      'bt-obs-cdn': '1:0:0',
      bt: { localtorrent: '', url, tmpurl: '', tracker: '', seedtime: 0, priortime: '00:00-23:59' },
      cdn: { url: '', priortime: '00:00-23:59' },
      btlist: c.files.map((f) => f.file),
      cdnlist: [''],
      btlistsize: size,
      cdnlistsize: 0,
      btlistsize2: size,
      cdnlistsize2: 0,
    },
  });
}

async function errOf(file: string, what: string): Promise<string> {
  const text = await waitFor(() => readFile(file, 'utf8'), { timeoutMs: 30_000, what: `${what}\n${d.output().slice(-3000)}` });
  return text.split('\n')[0];
}

test('hostile torrents: recv says false, a dropped task gets its .err, a resumed one its downloading .err, each naming the problem; the daemon keeps running', async () => {
  const cases = hostileTorrents();
  assert.ok(cases.length >= 14);
  for (const c of cases) await writeFile(path.join(torrentDir(), `${c.name}.torrent`), c.torrent);
  const problem = (c: Case, first: string) => {
    assert.ok(first.startsWith(`invalid torrent ${torrentUrl(c.name)}: `), `${c.name}: ${first}`);
    assert.match(first, c.problem, c.name);
  };
  // recv: the torrent is fetched and checked before the task is taken.
  const outside = path.join(base, 'tasks');
  await mkdir(outside);
  for (const c of cases) {
    const file = path.join(outside, `cfec-001-${c.name}.task.json`);
    await writeFile(file, JSON.stringify(btTask(c, torrentUrl(c.name))));
    const a = await d.api('recv', { taskfile: file, reactive: 'false' });
    assert.equal(a.return_status, 'false', `${c.name}: ${JSON.stringify(a)}`);
    problem(c, a.return_content?.desc ?? JSON.stringify(a));
  }
  // Dropped into queues: pickup checks the torrent as recv does.
  for (const c of cases) await writeFile(path.join(d.paths.queues, `cfec-001-${c.name}.task.json`), JSON.stringify(btTask(c, torrentUrl(c.name))));
  for (const c of cases) problem(c, await errOf(path.join(d.paths.queues, `cfec-001-${c.name}.err`), `queues/${c.name}.err`));
  assert.equal(d.exited(), false);
  assert.equal((await d.get('/heartbeat')).status, 200);

  // Already downloading when the daemon starts (the origin served a good torrent at pickup,
  // or the daemon died under it): the download fetches the torrent itself. This is where
  // the first case took the receiver down, and again at every restart.
  await d.stop();
  for (const c of cases) {
    await rm(path.join(d.paths.queues, `cfec-001-${c.name}.err`));
    await rm(path.join(d.paths.queues, `cfec-001-${c.name}.task.json`));
    await writeFile(path.join(d.paths.downloading, `cfec-001-${c.name}.task.json`), JSON.stringify(btTask(c, torrentUrl(c.name))));
  }
  d = await startDaemon({ root: path.join(base, 'root'), config: {}, tuning: ENV });
  const pid = d.proc.pid;
  for (const c of cases) {
    problem(c, await errOf(path.join(d.paths.downloading, `cfec-001-${c.name}.err`), `downloading/${c.name}.err`));
    assert.equal(d.exited(), false, `daemon still running after ${c.name}\n${d.output().slice(-3000)}`);
  }
  assert.equal(d.proc.pid, pid);
  assert.equal((await d.get('/heartbeat')).status, 200);
  // Still working: a good task dropped after them is delivered.
  const task = makeCdnTask({ name: 'fine', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/fine`, filelist: good.filelist });
  await writeFile(path.join(d.paths.queues, 'cfec-001-fine.task.json'), JSON.stringify(task));
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-fine.task.json'), 'utf8'), { timeoutMs: 30_000, what: `fine downloaded\n${d.output().slice(-3000)}` });
  assert.equal((await readdir(d.paths.downloading)).filter((n) => n.endsWith('.task.json')).length, cases.length, 'the hostile tasks stay in downloading with their .err');
});
