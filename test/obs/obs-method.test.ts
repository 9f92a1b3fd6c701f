// The receiver's OBS method against a real S3-compatible store (s3rver): a share lands in
// targetDir verified by sha1, a partial file resumes with a ranged GET after an
// interruption (abort, restart, dropped connection), a replaced object restarts the
// partial from zero, and wrong hashes or missing objects fail naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../helpers/dcp-fixture.ts';
import { startS3Server, type TestS3 } from '../helpers/s3-server.ts';
import { uploadShare } from '../../src/transfer/obs/obs-upload.ts';
import { ObsMethod } from '../../src/transfer/obs/obs-method.ts';
import type { ObsClient, ObsClientOptions } from '../../src/transfer/obs/obs-client.ts';
import type { ShareDownload } from '../../src/transfer/method.ts';
import type { FileEntry } from '../../src/task/schema.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { MB, clientFor, listFiles, memoryLogger, startCutProxy } from './obs-test-util.ts';

const FAST = { maxTries: 2, baseDelayMs: 50, maxDelayMs: 100 };

let s3: TestS3;
let client: ObsClient;
let work: string;
let dcp: MadeDcp;
let n = 0;

/** The task's file entries (schema type: the fixture's interface lacks the index signature). */
const entries = (files: MadeDcp['filelist']): FileEntry[] => files.map((f) => ({ file: f.file, hash: f.hash, size: f.size }));

async function upload(made: MadeDcp, prefix: string): Promise<void> {
  const { log } = memoryLogger();
  await uploadShare({
    client, bucket: s3.bucket, prefix, files: made.filelist, sourceDir: made.dir, checkpointDir: path.join(work, 'up-state', prefix),
    signal: new AbortController().signal, onBytes: () => {}, log, policy: FAST,
  });
}

const resolver = (endpoint?: string) => (bucket: string): ObsClientOptions => {
  assert.equal(bucket, s3.bucket);
  return { ak: s3.ak, sk: s3.sk, endpoint: endpoint ?? s3.endpoint, signature: 'v2', pathStyle: true };
};

interface Job extends ShareDownload {
  bytes: () => number;
  tries: string[];
}

async function job(url: string, files: FileEntry[], opts: { signal?: AbortSignal; dirs?: { stagingDir: string; targetDir: string }; onBytes?: (n: number) => void } = {}): Promise<Job> {
  const dirs = opts.dirs ?? { stagingDir: path.join(work, `staging-${++n}`), targetDir: path.join(work, `target-${n}`) };
  let bytes = 0;
  const tries: string[] = [];
  return {
    task: 'cfec-001-test', files, url, ...dirs,
    signal: opts.signal ?? new AbortController().signal,
    onBytes: (b) => {
      bytes += b;
      opts.onBytes?.(b);
    },
    onTryFailed: (file, reason) => tries.push(`${file}: ${reason}`),
    log: silentLogger(),
    bytes: () => bytes,
    tries,
  };
}

before(async () => {
  s3 = await startS3Server();
  client = await clientFor(s3);
  work = await mkdtemp(path.join(os.tmpdir(), 'bft2-obs-dl-'));
  dcp = await makeDcp(path.join(work, 'store'), 'dcp-m', [
    { file: 'video.mxf', size: 72 * MB + 5 },
    { file: 'audio.mxf', size: 3 * MB + 17 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'PKL.xml', size: 957 },
    { file: 'empty.txt', size: 0 },
  ]);
  await upload(dcp, 'dcps/dcp-m');
});
after(async () => {
  client?.close();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

test('ObsMethod downloads a share into targetDir, every file sha1-verified, staging left empty', async (t) => {
  const j = await job(`obs://${s3.bucket}/dcps/dcp-m`, entries(dcp.filelist));
  const started = Date.now();
  await new ObsMethod(resolver(), FAST).download(j);
  const secs = (Date.now() - started) / 1000;
  t.diagnostic(`downloaded ${(dcp.size / MB).toFixed(1)} MB in ${secs.toFixed(2)} s: ${(dcp.size / MB / secs).toFixed(1)} MB/s`);
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(j.targetDir, f.file)), f.hash, f.file);
  assert.deepEqual(await listFiles(j.targetDir), dcp.filelist.map((f) => f.file).sort());
  assert.deepEqual(await listFiles(j.stagingDir), []);
  assert.equal(j.bytes(), dcp.size);
  assert.deepEqual(j.tries, []);
  // Files already verified in targetDir are not fetched again.
  const gets = s3.requests.length;
  await new ObsMethod(resolver(), FAST).download({ ...j });
  assert.equal(s3.requests.length, gets);
});

test('an interrupted download keeps its .bft2-<name>.part and resumes with a range after a restart', async () => {
  const video = entries(dcp.filelist).find((f) => f.file === 'video.mxf')!;
  const ac = new AbortController();
  let got = 0;
  const j1 = await job(`obs://${s3.bucket}/dcps/dcp-m/`, [video], {
    signal: ac.signal,
    onBytes: (b) => {
      got += b;
      if (got >= 30 * MB && !ac.signal.aborted) ac.abort(new Error('daemon stopping'));
    },
  });
  await assert.rejects(new ObsMethod(resolver(), FAST).download(j1), /daemon stopping/);
  const part = path.join(j1.stagingDir, '.bft2-video.mxf.part');
  const partSize = (await stat(part)).size;
  assert.ok(partSize >= 30 * MB && partSize < video.size, `part holds ${partSize}`);
  const meta = JSON.parse(await readFile(path.join(j1.stagingDir, '.bft2-video.mxf.part.json'), 'utf8'));
  assert.equal(meta.url, `obs://${s3.bucket}/dcps/dcp-m/video.mxf`);
  assert.match(meta.validator, /^"[0-9a-f-]+"$/);
  await assert.rejects(stat(path.join(j1.targetDir, 'video.mxf')), /ENOENT/);

  // A new method instance (a restarted daemon) over the same staging dir.
  const before = s3.gets('/dcps/dcp-m/video.mxf').length;
  const j2 = await job(j1.url, [video], { dirs: { stagingDir: j1.stagingDir, targetDir: j1.targetDir } });
  await new ObsMethod(resolver(), FAST).download(j2);
  assert.equal(j2.bytes(), video.size - partSize, 'only the missing bytes were fetched');
  assert.deepEqual(s3.gets('/dcps/dcp-m/video.mxf').slice(before).map((r) => r.range), [`bytes=${partSize}-`]);
  assert.equal(await sha1File(path.join(j2.targetDir, 'video.mxf')), video.hash);
  assert.deepEqual(await listFiles(j2.stagingDir), []);
});

test('a connection dropped mid-body is resumed at once from where it broke', async () => {
  const proxy = await startCutProxy(s3.endpoint);
  try {
    const video = entries(dcp.filelist).find((f) => f.file === 'video.mxf')!;
    proxy.cutOnce('/dcps/dcp-m/video.mxf', 20 * MB);
    const j = await job(`obs://${s3.bucket}/dcps/dcp-m`, [video]);
    const before = s3.gets('/dcps/dcp-m/video.mxf').length;
    await new ObsMethod(resolver(proxy.endpoint), FAST).download(j);
    assert.equal(await sha1File(path.join(j.targetDir, 'video.mxf')), video.hash);
    assert.equal(j.tries.length, 1, j.tries.join('\n'));
    const ranges = s3.gets('/dcps/dcp-m/video.mxf').slice(before).map((r) => r.range);
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0], 'bytes=0-');
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    assert.ok(resumedAt > 10 * MB && resumedAt <= 20 * MB, `resumed at ${ranges[1]}`);
    assert.equal(j.bytes(), video.size, 'no byte fetched twice');
  } finally {
    await proxy.close();
  }
});

test('a partial of an object that was replaced since is started over, not spliced', async () => {
  const v1 = await makeDcp(path.join(work, 'v1'), 'dcp-r', [{ file: 'reel.mxf', size: 12 * MB, seed: 'one' }]);
  const v2 = await makeDcp(path.join(work, 'v2'), 'dcp-r', [{ file: 'reel.mxf', size: 12 * MB, seed: 'two' }]);
  await upload(v1, 'dcps/dcp-r');
  const ac = new AbortController();
  let got = 0;
  const j1 = await job(`obs://${s3.bucket}/dcps/dcp-r`, entries(v1.filelist), {
    signal: ac.signal,
    onBytes: (b) => {
      got += b;
      if (got >= 4 * MB && !ac.signal.aborted) ac.abort(new Error('pause'));
    },
  });
  await assert.rejects(new ObsMethod(resolver(), FAST).download(j1));
  assert.ok((await stat(path.join(j1.stagingDir, '.bft2-reel.mxf.part'))).size > 0);

  // The sender replaces the object (same key, same size, other bytes); the new task has v2's hash.
  // (uploadShare skips same-size objects only when their sha1 metadata matches: v2's differs.)
  await upload(v2, 'dcps/dcp-r');
  const before = s3.gets('/dcps/dcp-r/reel.mxf').length;
  const j2 = await job(j1.url, entries(v2.filelist), { dirs: { stagingDir: j1.stagingDir, targetDir: j1.targetDir } });
  await new ObsMethod(resolver(), FAST).download(j2);
  assert.equal(await sha1File(path.join(j2.targetDir, 'reel.mxf')), v2.filelist[0].hash);
  const ranges = s3.gets('/dcps/dcp-r/reel.mxf').slice(before).map((r) => r.range);
  // The ranged GET saw another ETag: its body was dropped and the file started over.
  assert.equal(ranges.length, 2, `ranges asked: ${ranges.join(', ')}`);
  assert.match(ranges[0] ?? '', /^bytes=[1-9]\d*-$/);
  assert.equal(ranges[1], 'bytes=0-');
  assert.equal(j2.bytes(), 12 * MB);
});

test('a wrong sha1 fails with an error naming the file; nothing unverified reaches targetDir', async () => {
  const pkl = entries(dcp.filelist).find((f) => f.file === 'PKL.xml')!;
  const j = await job(`obs://${s3.bucket}/dcps/dcp-m`, [{ ...pkl, hash: 'f'.repeat(40) }]);
  await assert.rejects(new ObsMethod(resolver(), { maxTries: 1, baseDelayMs: 10, maxDelayMs: 10 }).download(j), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SHA1_MISMATCH');
    assert.match(err.message, /^sha1 mismatch: PKL\.xml: expected f{40}, got [0-9a-f]{40}$/);
    return true;
  });
  assert.deepEqual(await listFiles(j.targetDir), []);
  assert.deepEqual(await listFiles(j.stagingDir), [], 'the bad bytes are deleted, not resumed from');
});

test('a missing object fails after the policy tries with the obs download error naming the file', async () => {
  const j = await job(`obs://${s3.bucket}/dcps/nothing-here`, [{ file: 'sub/gone.mxf', hash: 'a'.repeat(40), size: 10 }]);
  await assert.rejects(new ObsMethod(resolver(), FAST).download(j), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DOWNLOAD_FAILED');
    assert.match(err.message, /^obs download error: sub\/gone\.mxf: .*HTTP 404 NoSuchKey/);
    return true;
  });
  assert.equal(j.tries.length, 2);
});

test('a bad obs url or missing credentials fail before any request', async () => {
  const j = await job('http://not-obs/dcps/x', entries(dcp.filelist));
  await assert.rejects(new ObsMethod(resolver(), FAST).download(j), /invalid obs url/);
  const j2 = await job(`obs://${s3.bucket}/dcps/dcp-m`, entries(dcp.filelist));
  await assert.rejects(
    new ObsMethod(() => ({ ak: '', sk: '', endpoint: s3.endpoint }), FAST).download(j2),
    /no OBS access key/,
  );
});
