// avoidrepeat end to end: a real receiver daemon with its hash watcher, a real origin.
// What the store already holds is copied, never downloaded; restarts re-hash nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, appendFile, rm, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { walkStore } from '../../src/hashtable/store-walk.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
const ENV = { retrydelay: '200ms', hashstable: '500ms', hashdebounce: '100ms' };

let base: string;
let origin: TestOrigin;
let dcpA: MadeDcp;
let dcpB: MadeDcp;
let d: Daemon;
const rootDir = () => path.join(base, 'root');

before(async () => {
  base = await makeTempRoot();
  const dcps = path.join(base, 'origin', 'cfec-001', 'dcps');
  dcpA = await makeDcp(dcps, 'A', [
    { file: 'video.mxf', size: 40 * MB },
    { file: 'audio.mxf', size: 8 * MB },
    { file: 'CPL.xml', size: 3000 },
    { file: 'sub/PKL.xml', size: 1200 },
  ]);
  // B shares the two mxf files with A (same bytes), and has its own XML.
  dcpB = await makeDcp(dcps, 'B', [
    { file: 'video.mxf', size: 40 * MB, seed: 'A/video.mxf' },
    { file: 'audio.mxf', size: 8 * MB, seed: 'A/audio.mxf' },
    { file: 'CPL.xml', size: 2900 },
    { file: 'sub/PKL.xml', size: 1100 },
  ]);
  assert.equal(dcpB.filelist[0].hash, dcpA.filelist[0].hash);
  origin = await startTestOrigin(path.join(base, 'origin'));
  d = await startDaemon({ root: rootDir(), config: { avoidrepeat: true }, tuning: ENV });
});
after(async () => {
  await d?.stop();
  await origin?.close();
  await rm(base, { recursive: true, force: true });
});

async function receive(task: string, name: string, dcp: MadeDcp, from: string): Promise<{ desc: string; gets: string[] }> {
  const before = origin.requests.length;
  const file = path.join(base, `${task}.task.json`);
  await writeFile(file, JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/${from}`, filelist: dcp.filelist })));
  const answer = await d.api('recv', { taskfile: file });
  assert.equal(answer.return_status, 'true', JSON.stringify(answer));
  await waitFor(() => stat(path.join(d.paths.downloaded, `${task}.task.json`)).then(() => true), { timeoutMs: 60_000, what: `${task} downloaded\n${d.output()}` });
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(d.paths.dcp, name, f.file)), f.hash, `${name}/${f.file}`);
  // The files fetched (a large file comes in several ranges: each file once here).
  const gets = [...new Set(origin.requests.slice(before).filter((r) => r.method === 'GET').map((r) => r.path.split('/').slice(5).join('/')))];
  return { desc: answer.return_content.desc, gets };
}

test('the same DCP twice: the second time nothing is downloaded and the copy is byte-identical', async () => {
  const first = await receive('cfec-001-first', 'first', dcpA, 'A');
  assert.equal(first.desc, 'succeed!');
  assert.deepEqual(first.gets.sort(), dcpA.filelist.map((f) => f.file).sort());
  // The received DCP's hashes went into the table without re-reading it: the hash
  // watcher, which sees the files arrive in the store, leaves them to the receiver.
  const table = await readFile(path.join(rootDir(), 'etc/bft2/hashtable.txt'), 'utf8');
  for (const f of dcpA.filelist) assert.ok(table.includes(`${f.hash}  ${path.join(d.paths.dcp, 'first', f.file)}`), f.file);
  await new Promise((r) => setTimeout(r, 1500)); // past the watcher's debounce and stable time
  const hashLog = await readFile(path.join(rootDir(), 'var/log/bft2/mhashtable.log'), 'utf8');
  assert.deepEqual(hashLog.split('\n').filter((l) => /hashed [1-9]/.test(l)), [], 'the watcher hashed files of the received DCP');

  const second = await receive('cfec-001-second', 'second', dcpA, 'A');
  assert.equal(second.desc, 'all localsamefiles existed copy and finished, succeed!');
  assert.deepEqual(second.gets, [], 'the origin saw no GET');
  const p = await d.api('progress', { taskfile: 'cfec-001-second.task.json' });
  assert.equal(p.return_content.localsamepercent, '100.000%');
  assert.equal(p.return_content.cdn2downpercent, '0.000%');
  const stored = JSON.parse(await readFile(path.join(d.paths.downloaded, 'cfec-001-second.task.json'), 'utf8'));
  assert.deepEqual([...stored.localsamefiles].sort(), dcpA.filelist.map((f) => f.file).sort());
  assert.deepEqual(stored.cdnlist2, ['']);
  assert.equal(stored.cdnlistsize2, 0);

  const again = await receive('cfec-001-first', 'first', dcpA, 'A');
  assert.equal(again.desc, 'same name task downloaded, all localsamefiles existed copy and finished, succeed!');
  assert.deepEqual(again.gets, []);
  await stat(path.join(d.paths.history, 'cfec-001-first.task.json'));
});

test('a DCP sharing half its files with a stored one downloads only the other half', async () => {
  const third = await receive('cfec-001-third', 'third', dcpB, 'B');
  assert.equal(third.desc, 'succeed!');
  assert.deepEqual(third.gets.sort(), ['CPL.xml', 'sub/PKL.xml']);
  const p = await d.api('progress', { taskfile: 'cfec-001-third.task.json' });
  const local = dcpB.filelist[0].size + dcpB.filelist[1].size;
  assert.equal(p.return_content.localsamepercent, ((local / dcpB.size) * 100).toFixed(3) + '%');
});

test('a file listed in the table but changed on disk is not trusted', async () => {
  // Change the stored copies of A's audio without the watcher having caught up yet.
  for (const n of ['first', 'second']) await appendFile(path.join(d.paths.dcp, n, 'audio.mxf'), 'x');
  await rm(path.join(d.paths.dcp, 'third', 'audio.mxf'));
  const fourth = await receive('cfec-001-fourth', 'fourth', dcpA, 'A');
  assert.equal(fourth.desc, 'succeed!');
  assert.deepEqual(fourth.gets, ['audio.mxf']);
});

test('a restart re-hashes nothing; a file changed while the daemon was down is re-hashed', async () => {
  const log = path.join(rootDir(), 'var/log/bft2/mhashtable.log');
  // Before the restart the table must hold every stored file, checked by sha1sum.
  const table = path.join(rootDir(), 'etc/bft2/hashtable.txt');
  await waitFor(async () => {
    const present = (await walkStore(d.paths.dcp)).length;
    const listed = (await readFile(table, 'utf8')).split('\n').filter(Boolean).length;
    if (present !== listed) return undefined;
    const { stdout } = await run('sha1sum', ['-c', '--quiet', table]).catch((e) => e);
    return stdout === '' ? true : undefined;
  }, { timeoutMs: 20_000, what: 'table complete before the restart' });
  await d.stop();
  d = await startDaemon({ root: rootDir(), config: d.config, tuning: ENV });
  const startLine = await waitFor(async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l.includes('start-up:'))[1], { timeoutMs: 10_000, what: 'start-up line after the restart' + d.output() });
  assert.match(startLine, /start-up: \d+ files, hashed 0 \(0 bytes\)/);

  await d.stop();
  await appendFile(path.join(d.paths.dcp, 'fourth', 'CPL.xml'), '<!-- edited -->');
  d = await startDaemon({ root: rootDir(), config: d.config, tuning: ENV });
  // The edited file is re-hashed by the start-up pass (or by the next one, if its mtime was
  // still too fresh to count as stable then): exactly one file.
  await waitFor(
    async () => {
      const lines = (await readFile(log, 'utf8')).split('\n');
      const third = lines.findIndex((l, i) => l.includes('start-up:') && lines.slice(0, i).filter((x) => x.includes('start-up:')).length === 2);
      return third >= 0 && lines.slice(third).some((l) => /hashed 1 \(/.test(l)) ? true : undefined;
    },
    { timeoutMs: 10_000, what: 'the edited file re-hashed after the second restart' },
  );
  const lines = (await readFile(log, 'utf8')).split('\n');
  assert.ok(!lines.slice(lines.findLastIndex((l) => l.includes('start-up:'))).some((l) => /hashed ([2-9]|\d\d+) \(/.test(l)), 'nothing else re-hashed');
  await run('sha1sum', ['-c', '--quiet', path.join(rootDir(), 'etc/bft2/hashtable.txt')]);
});
