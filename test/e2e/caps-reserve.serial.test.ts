// Bandwidth caps and the disk reserve on a real receiver (SPEC §3).
// - `cdnlimit` is one budget for every CDN transfer of the node: two tasks downloading at
//   once share 5 MB/s, which holds within 10% over 20 s; `reloadconf` with 10 MB/s changes
//   the running transfers at once.
// - `diskreserve` on a real small filesystem (a 96 MiB tmpfs): a task that would cross the
//   reserve waits in `queues` (progress says why) until space is freed; a running task
//   whose filesystem fills up (another writer) pauses before crossing the reserve and goes
//   on when space returns; the DCP is whole and verified at the end.
// - a store on its own tmpfs: the reserve is checked there too, and the DCP crosses from
//   the transfer area by a durable copy (rename gives EXDEV), hashes recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
let base: string;
let origin: TestOrigin;
let big: MadeDcp;
let mid: MadeDcp;

before(async () => {
  base = await makeTempRoot();
  big = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'big', [{ file: 'reel.mxf', size: 200 * MB }]);
  mid = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'mid', [
    { file: 'reel.mxf', size: 60 * MB },
    { file: 'CPL.xml', size: 2000 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
});
after(async () => {
  await origin?.close();
  await rm(base, { recursive: true, force: true });
});

/** Drops the `mid` task into the daemon's queues; returns a getter of its progress answer. */
async function dropMid(d: Daemon): Promise<() => Promise<any>> {
  const taskfile = 'cfec-001-mid.task.json';
  await writeFile(path.join(d.paths.queues, taskfile), JSON.stringify(makeCdnTask({ name: 'mid', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/mid`, filelist: mid.filelist })));
  return async () => (await d.api('progress', { taskfile })).return_content;
}

/** The progress answer once it says the queued task waits for disk space. */
function queuedForSpace(progress: () => Promise<any>): Promise<any> {
  return waitFor(async () => {
    const p = await progress();
    return /waiting for disk space/.test(p.desc ?? '') ? p : undefined;
  }, { timeoutMs: 20_000, what: 'the task waits for space' });
}

test('cdnlimit 5 MB/s is shared by two running tasks and holds within 10% over 20 s; reloadconf 10 MB/s changes it live', async () => {
  const d = await startDaemon({ root: path.join(base, 'caps'), config: { cdnlimit: '5MB/s', downloadingnum: 2 } });
  try {
    const cdnUrl = `${origin.url}/dcp/cfec-001/dcps/big`;
    for (const name of ['one', 'two']) {
      await writeFile(path.join(d.paths.queues, `cfec-001-${name}.task.json`), JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl, filelist: big.filelist })));
    }
    const total = async () => {
      let n = 0;
      for (const name of ['one', 'two']) n += Number((await d.api('progress', { taskfile: `cfec-001-${name}.task.json` })).return_content.downloaded ?? 0);
      return n;
    };
    await waitFor(async () => ((await total()) > 2 * MB ? true : undefined), { timeoutMs: 20_000, what: 'both started' });
    const measure = async (seconds: number) => {
      const b0 = await total();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return ((await total()) - b0) / ((performance.now() - t0) / 1000);
    };
    const five = await measure(20);
    console.log(`cdnlimit 5MB/s, two tasks: ${(five / MB).toFixed(2)} MiB/s over 20 s`);
    assert.ok(Math.abs(five - 5 * MB) <= 0.5 * MB, `5 MB/s within 10%: ${(five / MB).toFixed(2)} MiB/s`);
    // Both tasks moved: one budget, shared.
    for (const name of ['one', 'two']) assert.ok(Number((await d.api('progress', { taskfile: `cfec-001-${name}.task.json` })).return_content.downloaded) > 10 * MB, name);

    const configFile = path.join(d.root, 'etc/bft2/config.json');
    await writeFile(configFile, JSON.stringify({ ...JSON.parse(await readFile(configFile, 'utf8')), cdnlimit: '10MB/s' }));
    assert.equal(JSON.parse((await d.get('/reloadconf')).body), 'reload config.json ok. applied: cdnlimit.');
    await new Promise((r) => setTimeout(r, 1000));
    const ten = await measure(8);
    console.log(`after reloadconf cdnlimit 10MB/s: ${(ten / MB).toFixed(2)} MiB/s over 8 s`);
    assert.ok(Math.abs(ten - 10 * MB) <= 1 * MB, `10 MB/s within 10%: ${(ten / MB).toFixed(2)} MiB/s`);
  } finally {
    await d.stop();
  }
});

test('diskreserve on a small filesystem: a task that would cross it waits in queues; a running one pauses when another writer fills the disk and goes on when space returns; nothing is corrupt', async () => {
  const root = path.join(base, 'reserve');
  await mkdir(root);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', root], { stdio: 'pipe' });
  const reserve = 16 * MB;
  let d: Daemon | undefined;
  try {
    const filler = path.join(root, 'filler');
    // 30 MiB taken: 66 MiB free, less than the 60 MB task plus the 16 MiB reserve.
    await writeFile(filler, Buffer.alloc(30 * MB));
    origin.throttle(10 * MB);
    d = await startDaemon({ root, config: { diskreserve: '16MB' }, tuning: { chunk: '2MB' } });
    const progress = await dropMid(d);
    const queued = await queuedForSpace(progress);
    assert.equal(queued.status, 'queues');
    assert.match(queued.desc, new RegExp(`^task in queues, no progress now\\. \\(waiting for disk space: the filesystem at ${root} \\(tmpfs\\) has \\d+ bytes free; the task needs ${mid.size} and the reserve \\(16MB\\) \\d+ more\\)$`));

    // Space freed: it starts.
    await rm(filler);
    await waitFor(async () => ((await progress()).downloaded > 10 * MB ? true : undefined), { timeoutMs: 30_000, what: 'started after space was freed' });

    // Another writer takes space while it runs: the download pauses before crossing the reserve.
    // Slowed first, so the download does not write more between the look at free space and
    // the filler's last byte (on a loaded machine that write takes a while).
    origin.throttle(MB / 2);
    await new Promise((r) => setTimeout(r, 500));
    const { bavail, bsize } = await statfs(root);
    await writeFile(filler, Buffer.alloc(bavail * bsize - reserve - 6 * MB));
    const paused = await waitFor(async () => {
      const p = await progress();
      return /waiting for disk space/.test(p.waiting ?? '') ? p : undefined;
    }, { timeoutMs: 30_000, what: 'the running task pauses' });
    // Ranges already under way may still land (at 0.5 MB/s, slower on a loaded machine);
    // then nothing moves: two looks 1.5 s apart agree, well before the 20 s bound.
    let still = await progress();
    await waitFor(async () => {
      await new Promise((r) => setTimeout(r, 1500));
      const now = await progress();
      const stopped = now.downloaded === still.downloaded;
      still = now;
      return stopped ? true : undefined;
    }, { timeoutMs: 20_000, what: 'the paused task stops writing' });
    assert.equal(still.status, 'downloading', 'a pause, not an error');
    const free = (await statfs(root)).bavail * (await statfs(root)).bsize;
    assert.ok(free >= reserve - 2 * 2 * MB, `the reserve held: ${free} bytes free (two 2 MiB ranges may have been under way)`);
    assert.ok(paused.downloaded < mid.size);

    // Space returns: it goes on and the DCP is whole.
    await rm(filler);
    origin.throttle(null);
    await waitFor(async () => ((await progress()).status === 'downloaded' ? true : undefined), { timeoutMs: 60_000, what: 'downloaded' });
    for (const f of mid.filelist) assert.equal(await sha1File(path.join(d.paths.dcp, 'mid', f.file)), f.hash, f.file);
  } finally {
    origin.throttle(null);
    await d?.stop();
    execFileSync('umount', ['-l', root]);
  }
});

test('the store on another filesystem than the transfer area: the reserve is kept on the store too; the DCP is copied across whole and its hashes recorded', async () => {
  const root = await makeTempRoot();
  const store = path.join(root, 'data', 'dcp');
  await mkdir(store, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', store], { stdio: 'pipe' });
  let d: Daemon | undefined;
  try {
    // 30 MiB taken on the store: 66 MiB free there, less than the 60 MB task plus the
    // 16 MiB reserve; the transfer area (the root's disk) has plenty.
    const filler = path.join(store, 'filler');
    await writeFile(filler, Buffer.alloc(30 * MB));
    d = await startDaemon({ root, config: { diskreserve: '16MB', receiverstoreplan: 'A' } });
    const progress = await dropMid(d);
    const queued = await queuedForSpace(progress);
    assert.match(queued.desc, new RegExp(`waiting for disk space: the filesystem at ${store} \\(tmpfs\\) has \\d+ bytes free; the task needs ${mid.size}`));

    await rm(filler);
    await waitFor(async () => ((await progress()).status === 'downloaded' ? true : undefined), { timeoutMs: 60_000, what: 'downloaded' });
    for (const f of mid.filelist) assert.equal(await sha1File(path.join(store, 'mid', f.file)), f.hash, f.file);
    assert.deepEqual((await readdir(store)).sort(), ['mid', 'mid.finished'], 'no temp copy left in the store');
    assert.deepEqual(await readdir(path.join(root, 'data', 'transfer', 'assembly', 'cfec-001')).catch(() => []), [], 'nothing left in the transfer area');
    const table = await readFile(path.join(root, 'etc/bft2/hashtable.txt'), 'utf8');
    for (const f of mid.filelist) assert.ok(table.includes(`${f.hash}  ${path.join(store, 'mid', f.file)}`), `${f.file} in the hash table`);
    assert.doesNotMatch(await readFile(d.paths.log, 'utf8'), /STORE_FAILED|EXDEV/);
  } finally {
    await d?.stop();
    execFileSync('umount', ['-l', store]);
    await rm(root, { recursive: true, force: true });
  }
});
