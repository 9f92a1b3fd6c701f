// End to end: a real receiver daemon (child process) downloads generated DCPs from a real
// HTTP origin with Range support, fed by every way a TMS enqueues a task.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, rename, readFile, readdir, open, stat, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { makeDcp, makeCdnTask, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
const FAST_ENV = { retrydelay: '200ms', retrymaxdelay: '1000ms', unparseablegrace: '3000ms' };

let originRoot: string;
let origin: TestOrigin;
let dcp: MadeDcp;
const cdnUrl = () => `${origin.url}/dcp/cfec-001/dcps/dcp-a`;

before(async () => {
  originRoot = await makeTempRoot();
  dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'dcp-a', [
    { file: 'video.mxf', size: 72 * MB },
    { file: 'audio.mxf', size: 3 * MB + 17 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'VOLINDEX', size: 155 },
  ]);
  origin = await startTestOrigin(originRoot);
});
after(async () => {
  await origin?.close();
  await rm(originRoot, { recursive: true, force: true });
});

function taskJson(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl: cdnUrl(), filelist: dcp.filelist, extra }), null, 2);
}

async function assertStored(d: Daemon, name: string): Promise<void> {
  const dir = path.join(d.paths.dcp, name);
  await stat(path.join(d.paths.dcp, `${name}.finished`));
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(dir, f.file)), f.hash, `${name}/${f.file}`);
  const names = await readdir(dir, { recursive: true });
  assert.deepEqual(names.filter((n) => !n.endsWith('sub')).sort(), dcp.filelist.map((f) => f.file).sort());
}

const downloaded = (d: Daemon, task: string) => () => stat(path.join(d.paths.downloaded, `${task}.task.json`)).then(() => true);

test('a task enqueued by cp, by a slow in-place write, by rsync-style rename and by the API ends downloaded with correct files', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { downloadingnum: 2 }, tuning: FAST_ENV });
  try {
    // cp into queues
    const outside = path.join(root, '..', path.basename(root) + '-tms');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'cfec-001-by-cp.task.json'), taskJson('by-cp'));
    await run('cp', [path.join(outside, 'cfec-001-by-cp.task.json'), d.paths.queues]);

    // rsync-style: a dot temp name renamed into place
    const temp = path.join(d.paths.queues, '.cfec-001-by-rsync.task.json.Xa81Qz');
    await writeFile(temp, taskJson('by-rsync'));
    await new Promise((r) => setTimeout(r, 300));
    await rename(temp, path.join(d.paths.queues, 'cfec-001-by-rsync.task.json'));

    // the API, from a path outside the root
    const apiFile = path.join(outside, 'cfec-001-by-api.task.json');
    await writeFile(apiFile, taskJson('by-api'));
    const answer = await d.api('recv', { taskfile: apiFile, reactive: 'false' });
    assert.equal(answer.return_status, 'true', JSON.stringify(answer));
    assert.equal(answer.return_content.desc, 'succeed!');
    assert.equal(answer.request_message_id, answer.reqest_message_id);

    // scp-style: written in place, slowly, over about four seconds
    const slow = path.join(d.paths.queues, 'cfec-001-by-scp.task.json');
    const text = taskJson('by-scp');
    const fh = await open(slow, 'w');
    const step = Math.ceil(text.length / 10);
    for (let i = 0; i < text.length; i += step) {
      await fh.write(text.slice(i, i + step));
      await fh.sync();
      await new Promise((r) => setTimeout(r, 400));
      if (i + step < text.length) {
        // Never taken early, never marked bad while the writer is still at it.
        assert.ok(await stat(slow).then(() => true), 'slow file still in queues while being written');
        await assert.rejects(stat(path.join(d.paths.queues, 'cfec-001-by-scp.err')));
        await assert.rejects(stat(path.join(d.paths.downloading, 'cfec-001-by-scp.task.json')));
      }
    }
    await fh.close();

    for (const t of ['by-cp', 'by-rsync', 'by-api', 'by-scp']) {
      await waitFor(downloaded(d, `cfec-001-${t}`), { timeoutMs: 90_000, what: `${t} downloaded\n${d.output()}` });
      await assertStored(d, t);
      const p = await d.api('progress', { taskfile: `cfec-001-${t}.task.json` });
      assert.equal(p.return_status, 'true');
      assert.equal(p.return_content.status, 'downloaded');
      assert.equal(p.return_content.totalpercent, '100.000%');
      assert.equal(p.return_content.dcppath, path.join(d.paths.dcp, t));
      assert.equal(p.return_content.downloaded, dcp.size);
      const stored = JSON.parse(await readFile(path.join(d.paths.downloaded, `cfec-001-${t}.task.json`), 'utf8'));
      assert.match(stored.receivetime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.match(stored.finishedtime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.deepEqual(stored.cdnlist2, dcp.filelist.map((f) => f.file));
    }
    // The rsync temp name was never taken nor marked; each task was taken once.
    const log = await readFile(d.paths.log, 'utf8');
    assert.equal(log.match(/task cfec-001-by-rsync queued/g)?.length, 1);
    assert.equal((await readdir(d.paths.queues)).filter((n) => !n.startsWith('.gitkeep')).length, 0);
    // The staging and assembly areas are empty again.
    const transfer = path.join(root, 'data', 'transfer');
    for (const m of ['cdn', 'assembly']) {
      const left = await readdir(path.join(transfer, m), { recursive: true }).catch(() => []);
      assert.deepEqual(left.filter((n) => !/^cfec-001$/.test(n)), [], `${m} left: ${left}`);
    }
    await rm(outside, { recursive: true, force: true });
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('kill -9 in the middle of a large file: after restart the download resumes from the bytes on disk, fetching none of them again', async () => {
  const root = await makeTempRoot();
  origin.throttle(12 * MB);
  let d = await startDaemon({ root, config: {}, tuning: FAST_ENV });
  try {
    const before = origin.requests.length;
    await writeFile(path.join(d.paths.queues, 'cfec-001-crash.task.json'), taskJson('crash'));
    const assembly = path.join(root, 'data/transfer/assembly/cfec-001/crash');
    const recorded = async (): Promise<[number, number][]> => JSON.parse(await readFile(path.join(assembly, '.bft2-ranges.json'), 'utf8')).files['video.mxf']?.done ?? [];
    const sum = (r: [number, number][]) => r.reduce((n, [s, e]) => n + e - s, 0);
    await waitFor(async () => sum(await recorded()) > 20 * MB || undefined, { timeoutMs: 60_000, what: 'video.mxf 20 MB recorded' });
    await d.kill('SIGKILL');
    const done = await recorded();
    const onDisk = sum(done);
    assert.ok(onDisk > 20 * MB && onDisk < dcp.filelist[0].size, `recorded ${onDisk}`);
    origin.throttle(null);
    const afterKill = origin.requests.length;

    d = await startDaemon({ root, config: d.config, tuning: FAST_ENV });
    await waitFor(downloaded(d, 'cfec-001-crash'), { timeoutMs: 60_000, what: `crash task downloaded\n${d.output()}` });
    await assertStored(d, 'crash');
    // After the restart, no request asks for a byte that was on disk.
    const resumed = origin.requests.slice(afterKill).filter((r) => r.method === 'GET' && r.path.endsWith('/video.mxf'));
    assert.ok(resumed.length > 0 && before < afterKill);
    let asked = 0;
    for (const r of resumed) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
      assert.ok(m, `a ranged GET: ${r.range}`);
      const [s, e] = [Number(m[1]), Number(m[2]) + 1];
      asked += e - s;
      for (const [ds, de] of done) assert.ok(e <= ds || s >= de, `bytes ${s}-${e} were on disk (${ds}-${de})`);
    }
    assert.equal(asked, dcp.filelist[0].size - onDisk, 'exactly the missing bytes were asked for');
    assert.match(await readFile(d.paths.log, 'utf8'), /start downloading taskfiles: cfec-001-crash/);
  } finally {
    origin.throttle(null);
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('the origin drops the connection mid-range: the download goes on from the byte it reached', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: {}, tuning: FAST_ENV });
  try {
    const before = origin.requests.length;
    origin.dropConnectionOnce('/video.mxf', 6 * MB);
    await writeFile(path.join(d.paths.queues, 'cfec-001-drop.task.json'), taskJson('drop'));
    await waitFor(downloaded(d, 'cfec-001-drop'), { timeoutMs: 60_000, what: `drop task downloaded\n${d.output()}` });
    await assertStored(d, 'drop');
    const videoGets = origin.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/video.mxf'));
    const starts = videoGets.map((r) => Number(r.range?.match(/^bytes=(\d+)-/)?.[1]));
    // The cut range was asked again from where it broke (inside the first 16 MiB range), not from its start.
    const first = starts[0];
    assert.ok(starts.some((s) => s > first && s < first + 16 * MB), `a range resumed mid-way: ${JSON.stringify(videoGets.map((r) => r.range))}`);
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('progress while downloading, status lists every task, cancel stops it and files it in history', async () => {
  const root = await makeTempRoot();
  origin.throttle(8 * MB);
  const d = await startDaemon({ root, config: {}, tuning: FAST_ENV });
  try {
    await writeFile(path.join(d.paths.queues, 'cfec-001-slowone.task.json'), taskJson('slowone'));
    const staging = path.join(root, 'data/transfer/cdn/cfec-001/slowone');
    const p = await waitFor(
      async () => {
        const a = await d.api('progress', { taskfile: 'cfec-001-slowone.task.json' });
        return a.return_content.status === 'downloading' && a.return_content.downloaded > 4 * MB ? a : undefined;
      },
      { timeoutMs: 30_000, what: 'progress while downloading' },
    );
    const c = p.return_content;
    assert.equal(p.return_status, 'true');
    assert.equal(c.taskfullpath, path.join(d.paths.downloading, 'cfec-001-slowone.task.json'));
    assert.match(c.rate, /^\d+ (B|KB|MB)\/s$/);
    assert.match(c.cdnrate, /^\d+ (B|KB|MB)\/s$/);
    assert.equal(c.btrate, '');
    assert.match(c.totalpercent, /^\d+\.\d{3}%$/);
    assert.equal(c.totalpercent, c.totoalpercent);
    assert.equal(c.totalpercent, c.cdnpercent);
    assert.equal(c.cdn2downpercent, '100.000%');
    assert.equal(c.localsamepercent, '0.000%');
    assert.equal(c.totalbytes, String(dcp.size));
    assert.ok(Number.isInteger(c.ecompletedtime) && c.ecompletedtime >= 0, `eta ${c.ecompletedtime}`);
    assert.equal(c.dcppath, '');

    const status = await run(path.join(process.cwd(), 'bin/bft2'), ['--root', root, 'status']);
    assert.match(status.stdout, /^receiver\/downloading\s+cfec-001-slowone\s+\d+\.\d{3}%\s+\d+ (B|KB|MB)\/s(\s+(\d+ min|\d+ h \d\d min))?$/m);

    const cancel = await d.api('cancel', { taskfile: 'cfec-001-slowone.task.json' });
    assert.equal(cancel.return_content.desc, 'succeeded!');
    await stat(path.join(d.paths.history, 'cfec-001-slowone.task.json'));
    await stat(path.join(d.paths.history, 'cfec-001-slowone.cancelled'));
    await assert.rejects(stat(staging), 'staging data removed');
    await assert.rejects(stat(path.join(root, 'data/transfer/assembly/cfec-001/slowone')));
    await assert.rejects(stat(path.join(d.paths.dcp, 'slowone')));
    const after = await d.api('progress', { taskfile: 'cfec-001-slowone.task.json' });
    assert.equal(after.return_content.status, 'history');
    const again = await d.api('cancel', { taskfile: 'cfec-001-slowone.task.json' });
    assert.match(again.return_content.desc, /^no need to cancel, task already in history: /);
  } finally {
    origin.throttle(null);
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('recv moves the task file (one it may not remove is copied, and the answer says so); reactive true restarts a same-name task, keeping its bytes', async () => {
  const root = await makeTempRoot();
  const callers = path.join(root, 'callers');
  const readonly = path.join(root, 'readonly');
  await mkdir(callers);
  await mkdir(readonly);
  origin.throttle(4 * MB);
  const d = await startDaemon({ root: path.join(root, 'r'), config: {}, tuning: FAST_ENV });
  try {
    const moved = path.join(callers, 'cfec-001-moved.task.json');
    await writeFile(moved, taskJson('moved'));
    assert.equal((await d.api('recv', { taskfile: moved })).return_content.desc, 'succeed!');
    await assert.rejects(stat(moved), 'the file was moved, not copied');

    // A read-only filesystem: the file cannot be removed, so it is copied and the answer says so.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', readonly]);
    try {
      const kept = path.join(readonly, 'cfec-001-kept.task.json');
      // One text: taskJson stamps gentime with the current second.
      const keptText = taskJson('kept');
      await writeFile(kept, keptText);
      await run('mount', ['-o', 'remount,ro', readonly]);
      const answer = await d.api('recv', { taskfile: kept });
      assert.equal(answer.return_status, 'true');
      assert.equal(answer.return_content.desc, `succeed! (copied to ${path.join(d.paths.tmp, 'cfec-001-kept.task.json')}: the original could not be removed, EROFS)`);
      assert.equal(await readFile(kept, 'utf8'), keptText);
    } finally {
      await run('umount', ['-l', readonly]);
    }
    // 'kept' fetches the same origin files: cancelled, so the count below is the restart's alone.
    assert.equal((await d.api('cancel', { taskfile: 'cfec-001-kept.task.json' })).return_content.desc, 'succeeded!');

    // reactive true while the same name downloads: it starts over with the new file, from the bytes on disk.
    await waitFor(async () => ((await d.api('progress', { taskfile: 'cfec-001-moved.task.json' })).return_content.downloaded > 8 * MB ? true : undefined), { timeoutMs: 30_000, what: 'moved downloading' });
    const again = path.join(callers, 'cfec-001-moved.task.json');
    await writeFile(again, taskJson('moved'));
    const refused = await d.api('recv', { taskfile: again, reactive: 'false' });
    assert.equal(refused.return_status, 'false');
    assert.match(refused.return_content.desc, /^same taskfile in (queues|downloading):/);
    const before = origin.requests.length;
    const restarted = await d.api('recv', { taskfile: again, reactive: 'true' });
    assert.equal(restarted.return_content.desc, 'restarted same name task, succeed!');
    origin.throttle(null);
    await waitFor(downloaded(d, 'cfec-001-moved'), { timeoutMs: 60_000, what: `moved downloaded\n${d.output()}` });
    await assertStored(d, 'moved');
    const asked = origin.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/video.mxf')).reduce((n, r) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')!;
      return n + Number(m[2]) + 1 - Number(m[1]);
    }, 0);
    assert.ok(asked <= dcp.filelist[0].size - 8 * MB, `the restart kept the bytes on disk: ${asked} bytes of the reel asked again`);
    assert.ok((await readdir(d.paths.history)).includes('cfec-001-moved.task.json'), 'the old file is in history');
  } finally {
    origin.throttle(null);
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});
