// The sender's OBS upload against a real S3-compatible store (s3rver): the bucket ends up
// holding exactly the share's objects with the right bytes, nothing is written beside the
// source, a second run sends nothing, an aborted upload stops at once and resumes without
// starting over, and `obsstatus` is computed from what the bucket holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { uploadShare, uploadedBytes, formatObsStatus, checkpointPath } from '../../src/transfer/obs/obs-upload.ts';
import type { ObsClient } from '../../src/transfer/obs/obs-client.ts';
import { MB, clientFor, objectSha1, listFiles, memoryLogger } from './obs-test-util.ts';

const FAST = { maxTries: 2, baseDelayMs: 50, maxDelayMs: 100 };

let s3: TestS3;
let client: ObsClient;
let work: string;
let dcp: MadeDcp;

before(async () => {
  s3 = await startS3Server();
  client = await clientFor(s3);
  work = await mkdtemp(path.join(os.tmpdir(), 'bft2-obs-up-'));
  dcp = await makeDcp(path.join(work, 'store'), 'dcp-up', [
    { file: 'video.mxf', size: 70 * MB + 123 },
    { file: 'audio.mxf', size: 3 * MB + 17 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'empty.txt', size: 0 },
  ]);
});
after(async () => {
  client?.close();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

test('uploadShare puts every file at <prefix>/<file> with its bytes; nothing beside the source; a second run sends nothing', async (t) => {
  const prefix = 'dcps/dcp-up';
  const checkpointDir = path.join(work, 'state', 'dcp-up');
  const { log, lines } = memoryLogger();
  let sent = 0;
  const started = Date.now();
  await uploadShare({
    client, bucket: s3.bucket, prefix, files: dcp.filelist, sourceDir: dcp.dir, checkpointDir,
    signal: new AbortController().signal, onBytes: (n) => (sent += n), log, policy: FAST,
  });
  const secs = (Date.now() - started) / 1000;
  t.diagnostic(`uploaded ${(dcp.size / MB).toFixed(1)} MB in ${secs.toFixed(2)} s: ${(dcp.size / MB / secs).toFixed(1)} MB/s`);
  assert.equal(sent, dcp.size);

  const listed = await client.listObjects(s3.bucket, prefix + '/');
  assert.deepEqual(listed.map((o) => o.key).sort(), dcp.filelist.map((f) => `${prefix}/${f.file}`).sort());
  for (const f of dcp.filelist) {
    assert.equal(listed.find((o) => o.key === `${prefix}/${f.file}`)?.size, f.size, f.file);
    assert.equal(await objectSha1(client, s3.bucket, `${prefix}/${f.file}`), f.hash, f.file);
    assert.equal((await client.headObject(s3.bucket, `${prefix}/${f.file}`))?.metadata.sha1, f.hash, `${f.file} carries its sha1`);
  }
  // The big file went multipart (16 MiB parts), the small ones as single PUTs.
  assert.equal(s3.partPuts('/video.mxf').length, 5);
  assert.equal(s3.partPuts('/audio.mxf').length, 0);
  // The source directory is a watched store: not one file added to it.
  assert.deepEqual(await listFiles(dcp.dir), dcp.filelist.map((f) => f.file).sort());
  assert.deepEqual(await listFiles(checkpointDir), [], 'resume records removed once complete');
  assert.ok(lines.some((l) => /obs upload dcps\/dcp-up\/video\.mxf: 70\.0 MB sent/.test(l)), lines.join('\n'));

  const p = await uploadedBytes({ client, bucket: s3.bucket, prefix, files: dcp.filelist, checkpointDir });
  assert.deepEqual(p, { bytes: dcp.size, total: dcp.size, complete: true });
  assert.equal(formatObsStatus(p), 'completed');

  const before = s3.requests.length;
  let again = 0;
  await uploadShare({
    client, bucket: s3.bucket, prefix, files: dcp.filelist, sourceDir: dcp.dir, checkpointDir,
    signal: new AbortController().signal, onBytes: (n) => (again += n), log, policy: FAST,
  });
  assert.equal(again, 0);
  assert.deepEqual(
    s3.requests.slice(before).filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.path}`),
    [],
    'the second run only asked HEADs',
  );
});

test('an object of the right size but another sha1 is uploaded again', async () => {
  const prefix = 'dcps/dcp-sha';
  const pkl = dcp.filelist.find((f) => f.file === 'PKL.xml')!;
  const wrong = { ...pkl, hash: '0'.repeat(40) };
  const { log } = memoryLogger();
  const common = { client, bucket: s3.bucket, prefix, sourceDir: dcp.dir, checkpointDir: path.join(work, 'state', 'sha'), signal: new AbortController().signal, log, policy: FAST };
  await uploadShare({ ...common, files: [wrong], onBytes: () => {} });
  let sent = 0;
  await uploadShare({ ...common, files: [pkl], onBytes: (n) => (sent += n) });
  assert.equal(sent, pkl.size);
  assert.equal((await client.headObject(s3.bucket, `${prefix}/PKL.xml`))?.metadata.sha1, pkl.hash);
  // Same sha1 (or none known): skipped.
  sent = 0;
  await uploadShare({ ...common, files: [pkl, { file: 'PKL.xml', size: pkl.size }], onBytes: (n) => (sent += n) });
  assert.equal(sent, 0);
});

test('an aborted upload stops at once, keeps its parts, reports uncompleted N%, and resumes without starting over', async () => {
  const prefix = 'dcps/dcp-abort';
  const video = dcp.filelist.find((f) => f.file === 'video.mxf')!;
  const files = dcp.filelist.filter((f) => f.file !== 'empty.txt');
  const checkpointDir = path.join(work, 'state', 'abort');
  const { log } = memoryLogger();
  const ac = new AbortController();
  let sent = 0;
  const common = { client, bucket: s3.bucket, prefix, files, sourceDir: dcp.dir, checkpointDir, log, policy: FAST, partSize: 8 * MB, parallelParts: 2 };
  await assert.rejects(
    uploadShare({
      ...common,
      signal: ac.signal,
      onBytes: (n) => {
        sent += n;
        if (sent >= 40 * MB && !ac.signal.aborted) ac.abort(new Error('stop for test'));
      },
    }),
    /stop for test/,
  );
  const putsAtAbort = s3.partPuts('dcp-abort/video.mxf').length;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(s3.partPuts('dcp-abort/video.mxf').length, putsAtAbort, 'no part sent after the abort');

  const record = checkpointPath(checkpointDir, 'video.mxf');
  assert.deepEqual(await listFiles(checkpointDir), ['video.mxf.upload_record'], record);
  const partial = await uploadedBytes({ client, bucket: s3.bucket, prefix, files, checkpointDir });
  assert.equal(partial.complete, false);
  assert.ok(partial.bytes >= 24 * MB && partial.bytes < video.size, `bucket holds ${partial.bytes}`);
  assert.match(formatObsStatus(partial), /^uncompleted ([3-5]\d)%$/);
  // Without the records only complete objects count: nothing of this share yet.
  assert.equal(formatObsStatus(await uploadedBytes({ client, bucket: s3.bucket, prefix, files })), 'uncompleted 0%');

  let resent = 0;
  await uploadShare({ ...common, signal: new AbortController().signal, onBytes: (n) => (resent += n) });
  const smalls = files.filter((f) => f.file !== 'video.mxf').reduce((s, f) => s + f.size, 0);
  assert.ok(resent - smalls <= video.size - partial.bytes + 2 * 8 * MB, `resent ${resent - smalls} of ${video.size} for the video`);
  assert.ok(resent - smalls < video.size * 0.8);
  assert.equal(await objectSha1(client, s3.bucket, `${prefix}/video.mxf`), video.hash);
  assert.deepEqual(await listFiles(checkpointDir), []);
  assert.equal(formatObsStatus(await uploadedBytes({ client, bucket: s3.bucket, prefix, files, checkpointDir })), 'completed');
});

test('a source file that differs from the task fails at once, naming the file', async () => {
  const { log } = memoryLogger();
  await assert.rejects(
    uploadShare({
      client, bucket: s3.bucket, prefix: 'dcps/bad', files: [{ file: 'PKL.xml', size: 958 }, { file: 'missing.xml', size: 1 }],
      sourceDir: dcp.dir, checkpointDir: path.join(work, 'state', 'bad'), signal: new AbortController().signal, onBytes: () => {}, log, policy: FAST,
    }),
    (err: Error & { code?: string }) => err.code === 'OBS_UPLOAD_SOURCE' && /PKL\.xml: .* has 957 bytes, the task says 958/.test(err.message),
  );
});

test('a resume record that no longer fits (source touched since, or torn by a crash) starts the file over', async () => {
  const video = dcp.filelist.find((f) => f.file === 'video.mxf')!;
  const src = path.join(dcp.dir, 'video.mxf');
  for (const damage of ['touched', 'torn'] as const) {
    const prefix = `dcps/dcp-${damage}`;
    const checkpointDir = path.join(work, 'state', damage);
    const { log, lines } = memoryLogger();
    const common = { client, bucket: s3.bucket, prefix, files: [video], sourceDir: dcp.dir, checkpointDir, log, policy: FAST, partSize: 8 * MB, parallelParts: 2 };
    const ac = new AbortController();
    let sent = 0;
    const stopAt20 = (n: number) => {
      sent += n;
      if (sent >= 20 * MB && !ac.signal.aborted) ac.abort(new Error('stop'));
    };
    await assert.rejects(uploadShare({ ...common, signal: ac.signal, onBytes: stopAt20 }), /stop/);
    const record = checkpointPath(checkpointDir, 'video.mxf');
    if (damage === 'touched') {
      const later = new Date(Date.now() + 120_000);
      await utimes(src, later, later);
    } else {
      await writeFile(record, '{"bucketName":"cfec-001","objectKey":"dcps/dcp-tor');
    }
    let resent = 0;
    await uploadShare({ ...common, signal: new AbortController().signal, onBytes: (n) => (resent += n) });
    assert.equal(resent, video.size, `${damage}: the whole file was sent again`);
    assert.ok(lines.some((l) => /resume record unusable/.test(l)), `${damage}: ${lines.join('\n')}`);
    assert.equal(await objectSha1(client, s3.bucket, `${prefix}/video.mxf`), video.hash, damage);
    assert.deepEqual(await listFiles(checkpointDir), [], damage);
  }
});
