// The download engine of one task (src/download/task-download.ts) against real sources on
// loopback: the HTTP origin (test-origin.ts) as the CDN, s3rver as OBS, and a webtorrent
// seeder in a child process behind a real tracker — every method through the same suite.
// Also: resuming from the bytes on disk, a wrong sha1, rebalancing when a method fails for
// good (and not when it is off), an idle method taking over chunks of a slow one, and
// transfer windows opening and closing on a clock the test moves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { link, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';
import { memoryLogger, clientFor } from '../obs/obs-test-util.ts';
import { spawnSeeder, type SeederProcess } from '../../tools/harness/seeder.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { pieceBuffers } from '../../src/transfer/bt/buffer-pool.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { uploadShare } from '../../src/transfer/obs/obs-upload.ts';
import { createObsClient } from '../../src/transfer/obs/obs-client.ts';
import { TaskDownload } from '../../src/download/task-download.ts';
import { TransferCaps } from '../../src/download/transfer-caps.ts';
import { WindowScheduler } from '../../src/schedule/window-scheduler.ts';
import { TryLog } from '../../src/transfer/try-log.ts';
import { setTuning } from '../../src/config/tuning.ts';
import { configSchema } from '../../src/config/schema.ts';
import { validateTask } from '../../src/task/validate-task.ts';
import { METHODS, type Method } from '../../src/task/schema.ts';

/** Short waits, as a test's config.json would set them (config `tuning`). */
const TUNING = { retrydelay: '50ms', retrymaxdelay: '100ms', retrytries: 3, quickdelay: '50ms', chunk: '4MB', btstall: '4s' };

const MB = 1024 * 1024;
let tmp: string;
let dcp: MadeDcp;
let origin: TestOrigin;
let s3: TestS3;
let tracker: RunningTracker;
let seeder: SeederProcess;
let client: BtClient;
const SPLIT = { bt: ['CPL.xml', 'audio.mxf', 'empty.txt'], obs: ['PKL.xml', 'sub/ASSETMAP.xml', 'zreel.mxf'], cdn: ['video.mxf'] };
let caseNo = 0;

before(async () => {
  tmp = await makeTempRoot();
  const store = path.join(tmp, 'store');
  const dcps = path.join(store, 'cfec', 'dcps');
  dcp = await makeDcp(dcps, 'film', [
    { file: 'CPL.xml', size: 2345 },
    { file: 'PKL.xml', size: 957 },
    { file: 'audio.mxf', size: 6 * MB + 13 },
    { file: 'empty.txt', size: 0 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'video.mxf', size: 40 * MB + 5 },
    { file: 'zreel.mxf', size: 9 * MB + 101 },
  ]);
  tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: path.join(dcps, 'film.torrent') });
  const share = path.join(store, 'cfec', 'dcps-tmp', 'film-tmp');
  for (const f of SPLIT.bt) {
    await mkdir(path.dirname(path.join(share, f)), { recursive: true });
    await link(path.join(dcp.dir, f), path.join(share, f));
  }
  await makeTorrent({ dir: share, tracker: tracker.announceUrl, outFile: path.join(store, 'cfec', 'dcps-tmp', 'film-tmp.torrent') });
  origin = await startTestOrigin(store);
  s3 = await startS3Server({ bucket: 'cfec' });
  const obs = await clientFor(s3);
  await uploadShare({
    client: obs,
    bucket: 'cfec',
    prefix: 'dcps/film',
    files: dcp.filelist.map((f) => ({ file: f.file, size: f.size })),
    sourceDir: dcp.dir,
    checkpointDir: path.join(tmp, 'obs-up'),
    signal: new AbortController().signal,
    onBytes: () => {},
    log: memoryLogger().log,
  });
  obs.close();
  seeder = await spawnSeeder({
    torrents: [
      { torrentFile: path.join(dcps, 'film.torrent'), parentDir: dcps, trusted: true },
      { torrentFile: path.join(store, 'cfec', 'dcps-tmp', 'film-tmp.torrent'), parentDir: path.join(store, 'cfec', 'dcps-tmp'), trusted: true },
    ],
  });
  client = await createBtClient({ port: 0, log: memoryLogger().log });
});

after(async () => {
  await seeder?.stop();
  await client?.close();
  await origin?.close();
  await s3?.close();
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
});

function taskOf(lists: Record<Method, string[]>, over: Record<string, unknown> = {}) {
  const split = (lists.obs.length > 0 || lists.cdn.length > 0) && lists.bt.length > 0;
  return validateTask(
    {
      name: 'film',
      basesubdir: 'cfec',
      size: dcp.size,
      policy: 'fulltime',
      bt: { url: `${origin.url}/dcp/cfec/dcps/film.torrent`, tmpurl: split ? `${origin.url}/dcp/cfec/dcps-tmp/film-tmp.torrent` : '' },
      obs: { url: 'obs://cfec/dcps/film' },
      cdn: { url: `${origin.url}/dcp/cfec/dcps/film` },
      filelist: dcp.filelist,
      btlist: lists.bt,
      obslist: lists.obs,
      cdnlist: lists.cdn,
      ...over,
    },
    'test.task.json',
  );
}

interface Started {
  td: TaskDownload;
  run: Promise<void>;
  tries: TryLog;
  abort: AbortController;
  assembly: string;
  lines: string[];
}

function start(lists: Record<Method, string[]>, opts: { config?: Record<string, unknown>; scheduler?: WindowScheduler; over?: Record<string, unknown>; assembly?: string; obsKey?: string } = {}): Started {
  const t = taskOf(lists, opts.over);
  const config = configSchema.parse({ servertype: 'receiver', tuning: TUNING, ...opts.config });
  setTuning(config.tuning);
  const { log, lines } = memoryLogger();
  const tries = new TryLog();
  const abort = new AbortController();
  const assembly = opts.assembly ?? path.join(tmp, `case${++caseNo}`, 'assembly', 'film');
  const td = new TaskDownload({
    task: `case${caseNo}`,
    t,
    lists2: lists,
    assembly,
    storeDir: path.join(tmp, `case${caseNo}`, 'store', 'film'),
    available: new Set(METHODS),
    config: () => config,
    log,
    scheduler: opts.scheduler ?? new WindowScheduler(),
    caps: new TransferCaps(() => config, log),
    btClient: async () => client,
    obsClient: () => createObsClient({ ak: opts.obsKey ?? s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true }),
    tries,
    onBytes: () => {},
    signal: abort.signal,
    rebalance: config.rebalance,
  });
  return { td, run: td.run(), tries, abort, assembly, lines };
}

/** The assembly holds exactly the DCP's files under their names, each with its sha1. */
async function assertAssembled(assembly: string, files = dcp.filelist.map((f) => f.file)): Promise<void> {
  const names = (await readdir(assembly, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && !e.name.startsWith('.bft2-'))
    .map((e) => path.relative(assembly, path.join(e.parentPath, e.name)))
    .sort();
  assert.deepEqual(names, [...files].sort());
  for (const f of files) assert.equal(await sha1File(path.join(assembly, f)), dcp.filelist.find((x) => x.file === f)!.hash, f);
}

const all = () => dcp.filelist.map((f) => f.file);
const none: string[] = [];

for (const m of METHODS) {
  test(`${m} alone fetches the whole DCP; every file verified under its name`, async () => {
    const lists = { bt: none, obs: none, cdn: none, [m]: all() } as Record<Method, string[]>;
    const pool = { taken: pieceBuffers.taken, returned: pieceBuffers.returned };
    const s = start(lists, { config: { rebalance: 'off' } });
    await s.run;
    await assertAssembled(s.assembly);
    const snap = s.td.snapshot()!;
    assert.equal(snap.bytes[m], dcp.size);
    for (const other of METHODS) if (other !== m) assert.equal(snap.bytes[other], 0);
    // The task's signal outlives its ranges and keeps nothing of them: no listener, and none
    // of the signals Node 20's AbortSignal.any would leave in it (about 1 KB a range, for good).
    assert.equal(getEventListeners(s.abort.signal, 'abort').length, 0, 'listeners left on the task signal');
    const dependants = Object.getOwnPropertySymbols(s.abort.signal).find((k) => k.description === 'kDependantSignals');
    assert.equal(dependants ? (s.abort.signal as unknown as Record<symbol, Set<unknown>>)[dependants].size : 0, 0, 'signals following the task signal');
    if (m === 'bt') {
      // webtorrent assembled its pieces in pooled buffers (patches/piece-buffer.ts), and every one
      // came back once written.
      const taken = pieceBuffers.taken - pool.taken;
      assert.ok(taken > 0, 'pieces assembled in pooled buffers');
      assert.equal(pieceBuffers.returned - pool.returned, taken);
    }
  });
}

test('a split task: each share by its method, BitTorrent from the -tmp torrent', async () => {
  const s = start(SPLIT, { config: { rebalance: 'off' } });
  await s.run;
  await assertAssembled(s.assembly);
  const snap = s.td.snapshot()!;
  const size = (files: string[]) => files.reduce((n, f) => n + dcp.filelist.find((x) => x.file === f)!.size, 0);
  for (const m of METHODS) assert.equal(snap.bytes[m], size(SPLIT[m]), m);
  assert.deepEqual(snap.moved.filter((x) => x.bytes > 0), []);
});

test('stopped mid-way, a new download (a restart) fetches none of the bytes already on disk', async () => {
  origin.throttle(8 * MB);
  const lists = { bt: none, obs: none, cdn: all() };
  const first = start(lists, { config: { rebalance: 'off' } });
  let onDisk = 0;
  try {
    await waitUntil(() => (first.td.snapshot()?.bytes.cdn ?? 0) > 16 * MB, 30_000);
    first.abort.abort(new Error('stopped'));
    await assert.rejects(first.run);
    onDisk = first.td.snapshot()!.bytes.cdn;
  } finally {
    origin.throttle(null);
  }
  const before = origin.requests.length;
  const second = start(lists, { config: { rebalance: 'off' }, assembly: first.assembly });
  await second.run;
  await assertAssembled(second.assembly);
  const asked = origin.requests.slice(before).filter((r) => r.method === 'GET').reduce((n, r) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')!;
    return n + Number(m[2]) + 1 - Number(m[1]);
  }, 0);
  assert.ok(asked <= dcp.size - 16 * MB + 2 * 4 * MB, `asked ${asked} bytes after the restart (${onDisk} were on disk)`);
});

test('a wrong sha1: the file is fetched again, then the download fails naming it, with every try in the history', async () => {
  const wrong = dcp.filelist.map((f) => (f.file === 'PKL.xml' ? { ...f, hash: 'f'.repeat(40) } : f));
  const s = start({ bt: none, obs: none, cdn: all() }, { config: { rebalance: 'off' }, over: { filelist: wrong } });
  await assert.rejects(s.run, (err: Error) => err.message === `sha1 mismatch: PKL.xml: expected ${'f'.repeat(40)}, got ${dcp.filelist.find((f) => f.file === 'PKL.xml')!.hash}`);
  assert.ok(s.tries.history.filter((l) => l.includes('sha1 mismatch: PKL.xml')).length >= 3, s.tries.history.join('\n'));
});

test('rebalance failed: OBS refusing the key fails for good and CDN fetches its files; with rebalance off the task fails with the OBS error', async () => {
  const ok = start(SPLIT, { config: { rebalance: 'failed' }, obsKey: 'UNKNOWN-KEY' });
  await ok.run;
  await assertAssembled(ok.assembly);
  const moved = ok.td.snapshot()!.moved.filter((x) => x.bytes > 0);
  assert.ok(moved.some((x) => x.from === 'obs' && x.to !== 'obs'), JSON.stringify(moved));
  assert.ok(ok.lines.some((l) => /obs failed for good .*rebalance: its bytes go to/.test(l)), ok.lines.join('\n'));

  const off = start(SPLIT, { config: { rebalance: 'off' }, obsKey: 'UNKNOWN-KEY' });
  await assert.rejects(off.run, (err: Error) => /^obs download error: .*InvalidAccessKeyId/.test(err.message));
});

test('rebalance idle: a slow CDN is helped by BitTorrent (the full torrent) with chunks taken from the end of its file', async () => {
  origin.throttle(3 * MB);
  try {
    const s = start(SPLIT, { config: { rebalance: 'idle' } });
    await s.run;
    await assertAssembled(s.assembly);
    const moved = s.td.snapshot()!.moved.filter((x) => x.bytes > 0);
    const toBt = moved.find((x) => x.from === 'cdn' && x.to === 'bt');
    assert.ok(toBt && toBt.bytes >= 8 * MB, JSON.stringify(moved));
    assert.ok(s.lines.some((l) => /rebalance: bt takes video\.mxf bytes \d+-\d+ from cdn/.test(l)));
  } finally {
    origin.throttle(null);
  }
});

test('rebalance idle, a task that gives BitTorrent no share: no byte over BitTorrent (the sender seeds nothing of it), the CDN alone', async () => {
  // The seeder of this suite seeds the full torrent anyway; a sender would not (SPEC §5: BT
  // seeding only for a task with a BT share), so ranges taken over by BitTorrent would wait
  // tuning.helpstall for peers that never come.
  origin.throttle(16 * MB);
  try {
    const s = start({ bt: none, obs: none, cdn: all() }, { config: { rebalance: 'idle' } });
    await s.run;
    await assertAssembled(s.assembly);
    const snap = s.td.snapshot()!;
    assert.equal(snap.bytes.bt, 0);
    assert.equal(snap.bytes.cdn, dcp.size);
    assert.ok(!s.lines.some((l) => /rebalance: bt takes/.test(l)), s.lines.join('\n'));
  } finally {
    origin.throttle(null);
  }
});

test('windows: a closed window fetches nothing; at the opening it fetches; a closing stops it without an error or a try; the next opening goes on from the byte it stopped at', async () => {
  let now = new Date(2026, 5, 1, 9, 59, 30).getTime();
  const scheduler = new WindowScheduler({ now: () => now });
  origin.throttle(4 * MB);
  try {
    const before = origin.requests.length;
    const s = start({ bt: none, obs: none, cdn: all() }, { config: { rebalance: 'off', priorpolicy: 'priortime' }, scheduler, over: { policy: 'priortime', cdn: { url: `${origin.url}/dcp/cfec/dcps/film`, priortime: '10:00-11:00' } } });
    await sleep(800);
    assert.equal(origin.requests.length, before, 'nothing before the opening');
    const waiting = s.td.snapshot()!;
    assert.equal(waiting.waiting.cdn, 'waiting for cdn window 10:00');
    assert.equal(waiting.next.cdn?.getTime(), new Date(2026, 5, 1, 10, 0).getTime());

    now = new Date(2026, 5, 1, 10, 0, 0).getTime();
    scheduler.recheck();
    await waitUntil(() => (s.td.snapshot()?.bytes.cdn ?? 0) > 10 * MB, 30_000);
    now = new Date(2026, 5, 1, 11, 0, 0).getTime();
    scheduler.recheck();
    await sleep(500);
    const atClose = s.td.snapshot()!.bytes.cdn;
    const requestsAtClose = origin.requests.length;
    await sleep(1000);
    assert.equal(s.td.snapshot()!.bytes.cdn, atClose, 'no byte while closed');
    assert.equal(origin.requests.length, requestsAtClose);
    assert.equal(s.tries.history.length, 0, 'a closing window is not a failed try');
    assert.equal(s.td.snapshot()!.next.cdn?.getTime(), new Date(2026, 5, 2, 10, 0).getTime());

    origin.throttle(null);
    now = new Date(2026, 5, 2, 10, 0, 0).getTime();
    scheduler.recheck();
    await s.run;
    await assertAssembled(s.assembly);
    // The first request after the reopening starts where the bytes on disk end (mid-chunk).
    const after = origin.requests.slice(requestsAtClose).filter((r) => r.method === 'GET');
    assert.ok(after.length > 0);
    assert.ok(after.some((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1]) % (4 * MB) !== 0), `a range resumed mid-chunk: ${after.map((r) => r.range).join(' ')}`);
  } finally {
    origin.throttle(null);
    scheduler.close();
  }
});

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(fn: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}
