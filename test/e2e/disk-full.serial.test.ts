// A full disk on a real small filesystem (SPEC §4): a receiver whose root is a 64 MiB
// tmpfs gets a 40 MB DCP, and while it downloads another writer fills the filesystem. The
// task must stop with `<task>.err` naming the filesystem and what the task still needs
// (no retry loop, no silent hang), keep every byte it wrote and a whole task file, and —
// once space is back and the `.err` deleted — resume from the bytes on disk (no request
// asks for a byte it had) and finish verified. (Running short of the disk reserve, bft2
// waits instead; that is tested in caps-reserve.serial.test.ts.)
// Needs root for mount(8) (CI runs as root); a refused mount fails the test loudly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, readdir, statfs } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
/** Bytes in when another writer fills the filesystem. */
const FILL_AT = 3 * MB;
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
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', root], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    throw new Error(`disk-full test: mounting a 64 MiB tmpfs at ${root} was refused (${(err as Error).message.trim()}); it needs root`);
  }
  dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'big', [
    { file: 'reel.mxf', size: 40 * MB },
    { file: 'CPL.xml', size: 3000 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
  // No disk reserve: this test is about running out for real, not about stopping short of it.
  d = await startDaemon({ root, config: { diskreserve: '0' }, tuning: { retrydelay: '200ms', retrytries: 3 } });
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
  const assembly = path.join(root, 'data/transfer/assembly/cfec-001/big');
  const filler = path.join(root, 'filler');
  // The filesystem must fill while a range is in flight: the 40 MB reel goes in ranges of
  // about 5 MB, two at a time, so at 4 MB/s the filler lands with some 7 MB still on the
  // way (at 8 MB/s and 8 MB in, the ranges could end first, and then bft2 rightly waits
  // for space to start the next one instead of failing).
  origin.throttle(4 * MB);
  const t0 = Date.now();
  await writeFile(path.join(d.paths.queues, `${task}.task.json`), JSON.stringify(makeCdnTask({ name: 'big', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/big`, filelist: dcp.filelist })));
  await waitFor(async () => ((await d.api('progress', { taskfile: `${task}.task.json` })).return_content.downloaded > FILL_AT ? true : undefined), { timeoutMs: 30_000, what: `${FILL_AT} bytes in` });
  // Another writer takes all but 2 MiB of what is free. The download is slowed first, so it
  // does not fill the gap between the look at free space and the filler's last byte (a
  // write that takes a while on a loaded machine); the ranges stay in flight.
  origin.throttle(MB / 4);
  await new Promise((r) => setTimeout(r, 300));
  const { bavail, bsize } = await statfs(root);
  await writeFile(filler, Buffer.alloc(bavail * bsize - 2 * MB));
  origin.throttle(null);

  const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 60_000, what: `${task}.err` }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await readFile(d.paths.log, 'utf8').catch(() => '')).slice(-4000)}`);
  });
  const stopAfter = Date.now() - t0;
  const first = text.split('\n')[0];
  const m = new RegExp(`^disk full: the filesystem at ${root} \\(tmpfs\\) has (\\d+) bytes free, the task still needs (\\d+) bytes; free space, then delete this \\.err to resume$`).exec(first);
  assert.ok(m, `the .err names the filesystem and the need: ${first}`);
  // What the reel's part holds: with the disk full its record may live only in the daemon
  // (written once space returns); the part itself keeps the bytes.
  const partBytes = (await stat(path.join(assembly, '.bft2-reel.mxf.part'))).size;
  assert.ok(partBytes > FILL_AT, `what was written stays: the part reaches byte ${partBytes}`);
  const cplDone = (await stat(path.join(assembly, 'CPL.xml')).catch(() => undefined))?.size ?? 0;
  assert.ok(Number(m[2]) >= dcp.size - partBytes - cplDone && Number(m[2]) < dcp.size - FILL_AT, `the need (${m[2]}) is the task size minus the bytes on disk`);
  // Not a retry loop: one stop, and the origin saw no more requests for the reel.
  const getsAtStop = origin.getsFor('/big/reel.mxf');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(origin.getsFor('/big/reel.mxf'), getsAtStop, 'no further tries while the disk is full');
  const p = await d.api('progress', { taskfile: `${task}.task.json` });
  assert.equal(p.return_content.status, 'downloaderror');
  assert.equal(p.return_content.downerror, first);
  // The task file is whole (its rewrites are atomic).
  JSON.parse(await readFile(path.join(d.paths.downloading, `${task}.task.json`), 'utf8'));

  // Space returns; the operator deletes the .err.
  await rm(filler);
  const afterStop = origin.requests.length;
  const t1 = Date.now();
  await rm(errFile);
  await waitFor(() => readFile(path.join(d.paths.downloaded, `${task}.task.json`), 'utf8'), { timeoutMs: 60_000, what: `${task} downloaded\n${d.output()}` });
  const resumeTook = Date.now() - t1;
  // No byte of the reel is asked for twice: what was fetched before the disk filled up is not fetched again.
  const asked = origin.requests.filter((x) => x.path.endsWith('/big/reel.mxf')).map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')!.slice(1).map(Number));
  const after = asked.slice(asked.length - origin.requests.slice(afterStop).filter((x) => x.path.endsWith('/big/reel.mxf')).length);
  const fetchedAfter = after.reduce((n, [s, e]) => n + e + 1 - s, 0);
  assert.ok(fetchedAfter <= dcp.filelist[0].size - FILL_AT, `after the restart ${fetchedAfter} bytes of the reel were asked for; ${partBytes} were on disk`);
  assert.equal(await sha1File(path.join(d.paths.dcp, 'big', 'reel.mxf')), dcp.filelist[0].hash);
  assert.deepEqual((await readdir(d.paths.downloading)).filter((n) => n.startsWith(task)), []);
  console.log(`disk full: .err ${stopAfter} ms after the drop (the reel's part reached byte ${partBytes}, ${m[2]} bytes still needed); after space returned, finished ${resumeTook} ms after the .err was deleted, asking for ${fetchedAfter} bytes of the reel`);
});
