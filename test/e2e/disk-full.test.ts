// A full disk on a real small filesystem (SPEC §4): a receiver whose root is a 24 MiB
// tmpfs gets a 40 MB DCP. The task must stop with `<task>.err` naming the filesystem and
// what the task still needs (no retry loop, no silent hang), keep every byte it wrote and
// a whole task file, and — once space is back and the `.err` deleted — resume from the
// bytes on disk (the Range of the next request says where) and finish verified.
// Needs root for mount(8) (CI runs as root); a refused mount fails the test loudly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, readdir } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../helpers/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../helpers/daemon.ts';

const MB = 1024 * 1024;
let base: string;
let root: string;
let mounted = false;
let origin: TestOrigin;
let dcp: MadeDcp;
let d: Daemon;

before(async () => {
  base = await makeTempRoot();
  root = path.join(base, 'root');
  await mkdir(root);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', root], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    throw new Error(`disk-full test: mounting a 24 MiB tmpfs at ${root} was refused (${(err as Error).message.trim()}); it needs root`);
  }
  dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'big', [
    { file: 'reel.mxf', size: 40 * MB },
    { file: 'CPL.xml', size: 3000 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
  // No disk reserve: this test is about running out for real, not about stopping short of it.
  d = await startDaemon({ root, config: { diskreserve: '0' }, env: { BFT2_RETRY_BASE_MS: '200', BFT2_RETRY_TRIES: '3' } });
});

after(async () => {
  await d?.stop();
  await origin?.close();
  if (mounted) execFileSync('umount', ['-l', root]);
  await rm(base, { recursive: true, force: true });
});

test('a receiver whose filesystem fills up: .err names it and the bytes still needed; after space returns and the .err is deleted, the download resumes from the bytes on disk', async () => {
  const task = 'cfec-001-big';
  const errFile = path.join(d.paths.downloading, `${task}.err`);
  const part = path.join(root, 'data/transfer/cdn/cfec-001/big/.bft2-reel.mxf.part');
  const t0 = Date.now();
  await writeFile(path.join(d.paths.queues, `${task}.task.json`), JSON.stringify(makeCdnTask({ name: 'big', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/big`, filelist: dcp.filelist })));

  const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 60_000, what: `${task}.err\n${d.output()}` });
  const stopAfter = Date.now() - t0;
  const first = text.split('\n')[0];
  const m = new RegExp(`^disk full: the filesystem at ${root} \\(tmpfs\\) has (\\d+) bytes free, the task still needs (\\d+) bytes; free space, then delete this \\.err to resume$`).exec(first);
  assert.ok(m, `the .err names the filesystem and the need: ${first}`);
  const partBytes = (await stat(part)).size;
  assert.ok(partBytes > 10 * MB, `what was written stays: ${partBytes} bytes in the part file`);
  const cplDone = (await stat(path.join(root, 'data/transfer/assembly/cfec-001/big/CPL.xml')).catch(() => undefined))?.size ?? 0;
  assert.equal(Number(m[2]), dcp.size - partBytes - cplDone, 'the need is the task size minus the bytes on disk');
  // Not a retry loop: one stop, and the origin saw no burst of requests for the reel.
  const getsAtStop = origin.getsFor('/big/reel.mxf');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(origin.getsFor('/big/reel.mxf'), getsAtStop, 'no further tries while the disk is full');
  const p = await d.api('progress', { taskfile: `${task}.task.json` });
  assert.equal(p.return_content.status, 'downloaderror');
  assert.equal(p.return_content.downerror, first);
  // The task file is whole (its rewrites are atomic).
  JSON.parse(await readFile(path.join(d.paths.downloading, `${task}.task.json`), 'utf8'));

  // Space returns; the operator deletes the .err.
  execFileSync('mount', ['-o', 'remount,size=96m', root]);
  const t1 = Date.now();
  await rm(errFile);
  await waitFor(() => readFile(path.join(d.paths.downloaded, `${task}.task.json`), 'utf8'), { timeoutMs: 60_000, what: `${task} downloaded\n${d.output()}` });
  const resumeTook = Date.now() - t1;
  const resumed = origin.requests.filter((r) => r.path.endsWith('/big/reel.mxf')).at(-1)!;
  assert.equal(resumed.range, `bytes=${partBytes}-`, 'resumed from the bytes on disk');
  assert.equal(await sha1File(path.join(d.paths.dcp, 'big', 'reel.mxf')), dcp.filelist[0].hash);
  assert.deepEqual((await readdir(d.paths.downloading)).filter((n) => n.startsWith(task)), []);
  console.log(`disk full: .err ${stopAfter} ms after the drop (${partBytes} bytes kept, ${m[2]} still needed); after space returned, finished ${resumeTook} ms after the .err was deleted`);
});
