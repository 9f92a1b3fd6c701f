// The memory bench's data and figures (bench/lib/sparse-dcp.ts, bench/lib/loopback.ts
// placeObjects, common.ts peakByFifth): sparse DCPs that take no disk yet have a distinct
// sha1 per file, a published task re-addressed to one method that the task validator
// accepts, objects put into a real s3rver's store as hard links that s3rver then serves
// byte for byte, and a run's RSS peak by fifth of its time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeSparseDcp, METHODS, STAMP_BYTES, taskForMethod } from '../../bench/lib/sparse-dcp.ts';
import { placeObjects, type Task } from '../../bench/lib/loopback.ts';
import { peakByFifth } from '../../bench/lib/common.ts';
import { makeCdnTask, sha1File } from '../../tools/harness/dcp-fixture.ts';
import { startS3Server } from '../../tools/harness/s3-server.ts';
import { validateTask } from '../../src/task/validate-task.ts';

async function sparseTask(dir: string, name: string, mib: number): Promise<Task> {
  const files = await makeSparseDcp(dir, name, mib);
  const filelist = [];
  for (const f of files) filelist.push({ ...f, hash: await sha1File(path.join(dir, name, f.file)) });
  const task = makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl: `http://127.0.0.1:1/dcp/cfec-001/dcps/${name}`, filelist }) as Task;
  task.obs = { ...(task.obs as object), url: `obs://cfec-001/dcps/${name}` };
  return task;
}

test('a sparse DCP has its sizes, names each file in its first bytes, takes no disk, and no two files share a sha1', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-sparse-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files = await makeSparseDcp(dir, 'one', 64);
  assert.equal(files.length, 12, 'a DCP of 4 reels: 4 XML files, a picture and a sound per reel');
  assert.ok(Math.abs(files.reduce((s, f) => s + f.size, 0) - 64 * 1024 * 1024) < 16, 'about the asked total');
  let allocated = 0;
  for (const f of files) {
    const p = path.join(dir, 'one', f.file);
    const st = await stat(p);
    assert.equal(st.size, f.size, f.file);
    allocated += st.blocks * 512;
    const fh = await open(p, 'r');
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    await fh.close();
    assert.ok(head.toString('latin1').startsWith(`bft2 bench one/${f.file}\n`), `${f.file} begins with its name`);
  }
  assert.ok(allocated <= files.length * 64 * 1024, `the files are holes but for their first ${STAMP_BYTES} bytes (${allocated} bytes allocated)`);
  await makeSparseDcp(dir, 'two', 64);
  const hashes = new Set<string>();
  for (const name of ['one', 'two']) for (const f of files) hashes.add(await sha1File(path.join(dir, name, f.file)));
  assert.equal(hashes.size, 2 * files.length, 'every file of both DCPs has a sha1 of its own');
});

test('a task re-addressed to one method passes the task validator with every file on that method', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-sparse-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const task = await sparseTask(dir, 'bench-dcp', 1);
  const size = task.filelist.reduce((s, f) => s + f.size, 0);
  for (const m of METHODS) {
    const one = taskForMethod(task, m);
    const checked = validateTask(JSON.parse(JSON.stringify(one)), `task for ${m}`);
    assert.equal(checked['bt-obs-cdn'], METHODS.map((x) => (x === m ? '1' : '0')).join(':'));
    for (const x of METHODS) {
      assert.deepEqual(one[`${x}list`], x === m ? task.filelist.map((f) => f.file) : [''], `${m}: ${x}list`);
      assert.equal(one[`${x}listsize`], x === m ? size : 0, `${m}: ${x}listsize`);
      assert.equal(one[`${x}listsize2`], x === m ? size : 0, `${m}: ${x}listsize2`);
    }
  }
});

test('objects placed into s3rver are hard links that it serves whole and by range; objects it does not serve fail at once', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-sparse-'));
  const s3 = await startS3Server({ bucket: 'cfec-001' });
  t.after(async () => {
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });
  const task = await sparseTask(dir, 'placed', 2);
  await placeObjects(s3, task, path.join(dir, 'placed'));
  for (const f of task.filelist) {
    const object = path.join(s3.dir, 'cfec-001', 'dcps', 'placed', path.dirname(f.file), `${path.basename(f.file)}._S3rver_object`);
    assert.equal((await stat(object)).ino, (await stat(path.join(dir, 'placed', f.file))).ino, `${f.file} is a link, not a copy`);
  }
  const picture = task.filelist.find((f) => f.file === 'reel2/picture.mxf')!;
  const url = `${s3.endpoint}/cfec-001/dcps/placed/reel2/picture.mxf`;
  const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
  assert.equal(whole.length, picture.size);
  assert.equal((await import('node:crypto')).createHash('sha1').update(whole).digest('hex'), picture.hash, 's3rver serves the file byte for byte');
  const ranged = await fetch(url, { headers: { range: 'bytes=10-99' } });
  assert.equal(ranged.status, 206);
  assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), whole.subarray(10, 100));
  // Objects laid out where s3rver does not look are caught by the HEAD, not left to fail a download.
  const notServed = await mkdtemp(path.join(os.tmpdir(), 'bft2-not-s3-'));
  t.after(() => rm(notServed, { recursive: true, force: true }));
  await assert.rejects(placeObjects({ dir: notServed, endpoint: s3.endpoint }, { ...task, obs: { url: 'obs://cfec-001/dcps/other' } } as Task, path.join(dir, 'placed')), /answers 404 .*its filesystem layout is not the one this bench knows/);
});

test("a run's peak by fifth of its time tells a level that climbs from a single spike", () => {
  const climbing = Array.from({ length: 100 }, (_, i) => ({ ms: i * 10, kb: 1000 + i }));
  assert.deepEqual(peakByFifth(climbing, 1000), [1019, 1039, 1059, 1079, 1099]);
  const spike = Array.from({ length: 100 }, (_, i) => ({ ms: i * 10, kb: i === 42 ? 5000 : 1000 }));
  assert.deepEqual(peakByFifth(spike, 1000), [1000, 1000, 5000, 1000, 1000]);
  // A sample taken at or after the end (the one stop() adds) counts in the last fifth; no sample leaves 0.
  assert.deepEqual(peakByFifth([{ ms: 1200, kb: 7 }], 1000), [0, 0, 0, 0, 7]);
});
