// A sender killed with SIGKILL in the middle of a large OBS upload resumes it from the
// resume record in its checkpoint directory: the parts the store already acknowledged are
// not sent again, and the object ends up byte-identical to the source. The uploader runs
// in a child process (test/obs/fixtures/upload-child.ts) so that the kill is a real one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { waitFor } from '../../tools/harness/daemon.ts';
import { checkpointPath } from '../../src/transfer/obs/obs-upload.ts';
import type { ObsClient } from '../../src/transfer/obs/obs-client.ts';
import { MB, clientFor, objectSha1, listFiles } from './obs-test-util.ts';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'upload-child.ts');
const PART = 8 * MB;

let s3: TestS3;
let client: ObsClient;
let work: string;
let dcp: MadeDcp;

before(async () => {
  s3 = await startS3Server();
  client = await clientFor(s3);
  work = await mkdtemp(path.join(os.tmpdir(), 'bft2-obs-resume-'));
  dcp = await makeDcp(path.join(work, 'store'), 'dcp-big', [
    { file: 'reel1.mxf', size: 208 * MB + 4321 },
    { file: 'CPL.xml', size: 2048 },
  ]);
});
after(async () => {
  client?.close();
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

function startChild(args: Record<string, unknown>) {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, exited };
}

interface Record_ {
  partCount: number;
  partsMeta: Record<string, { isCompleted: boolean }>;
}
const completedParts = (r: Record_) => Object.entries(r.partsMeta ?? {}).filter(([, p]) => p.isCompleted).map(([n]) => Number(n));

test('an upload killed with SIGKILL mid-way resumes from its record without re-sending the acknowledged parts', async (t) => {
  const prefix = 'dcps/dcp-big';
  const checkpointDir = path.join(work, 'state', 'dcp-big');
  const reel = dcp.filelist.find((f) => f.file === 'reel1.mxf')!;
  const totalParts = Math.ceil(reel.size / PART);
  const args = {
    endpoint: s3.endpoint, ak: s3.ak, sk: s3.sk, bucket: s3.bucket, prefix,
    // The big file first, so the kill lands inside it.
    files: [reel, ...dcp.filelist.filter((f) => f !== reel)],
    sourceDir: dcp.dir, checkpointDir, partSize: PART, parallelParts: 2,
  };
  const record = checkpointPath(checkpointDir, 'reel1.mxf');

  // Run 1: killed once the store has acknowledged at least 40% of the parts.
  const first = startChild(args);
  await waitFor(
    async () => {
      const r = JSON.parse(await readFile(record, 'utf8')) as Record_;
      return completedParts(r).length >= Math.ceil(totalParts * 0.4);
    },
    { timeoutMs: 60_000, intervalMs: 10, what: 'the child to upload 40% of the parts' },
  );
  first.child.kill('SIGKILL');
  const end1 = await first.exited;
  assert.equal(end1.signal, 'SIGKILL', `child ended by itself: ${end1.code} ${end1.out} ${end1.err}`);

  assert.equal(await client.headObject(s3.bucket, `${prefix}/reel1.mxf`), undefined, 'the object is not complete yet');
  const atKill = JSON.parse(await readFile(record, 'utf8')) as Record_;
  const done = completedParts(atKill);
  assert.ok(done.length < totalParts, `killed mid-way: ${done.length} of ${totalParts} parts`);
  const putsRun1 = s3.partPuts('/reel1.mxf').length;
  t.diagnostic(`killed after ${done.length} of ${totalParts} acknowledged parts (${putsRun1} part PUTs started)`);

  // Run 2: a new process, same checkpoint dir.
  const second = startChild(args);
  const end2 = await second.exited;
  assert.equal(end2.code, 0, end2.err);
  const { sent } = JSON.parse(end2.out.trim().split('\n').at(-1)!) as { sent: number };
  const run2Parts = s3.partPuts('/reel1.mxf').slice(putsRun1).map((r) => Number(r.query.get('partNumber')));
  t.diagnostic(`second run sent ${(sent / MB).toFixed(1)} MB of ${(reel.size / MB).toFixed(1)} MB in ${run2Parts.length} part PUTs`);

  // Not one acknowledged part sent again, and the rest sent once.
  assert.deepEqual(run2Parts.filter((n) => done.includes(n)), [], 'acknowledged parts were re-sent');
  assert.deepEqual([...new Set(run2Parts)].sort((a, b) => a - b), Array.from({ length: totalParts }, (_, i) => i + 1).filter((n) => !done.includes(n)));
  const cpl = dcp.filelist.find((f) => f.file === 'CPL.xml')!;
  assert.ok(sent - cpl.size <= reel.size - done.length * PART + PART, `second run sent ${sent}`);
  assert.ok(sent < reel.size * 0.65, `second run sent ${sent} of ${reel.size}`);

  for (const f of dcp.filelist) assert.equal(await objectSha1(client, s3.bucket, `${prefix}/${f.file}`), f.hash, f.file);
  assert.deepEqual(await listFiles(checkpointDir), [], 'record removed after completion');
  assert.deepEqual(await listFiles(dcp.dir), dcp.filelist.map((f) => f.file).sort(), 'nothing written beside the source');
});
