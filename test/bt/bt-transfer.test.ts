// BitTorrent end to end on loopback: a real HTTP tracker (tracker.ts), a seeder in a child
// process (fixtures/seeder.ts: bt-client + bt-seed), torrents made by makeTorrent and served
// by the real HTTP origin, and BtMethod downloading in this process with its own client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp, type FileEntry } from '../helpers/dcp-fixture.ts';
import { makeTempRoot } from '../helpers/daemon.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { seed } from '../../src/transfer/bt/bt-seed.ts';
import { BtMethod, stagedPath } from '../../src/transfer/bt/bt-method.ts';
import { makeTorrent, readTorrentFiles } from '../../src/transfer/bt/make-torrent.ts';
import { isBft2Error } from '../../src/errors/catalogue.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { spawnSeeder, makeJob, filesUnder, type SeederProcess } from './helpers.ts';

const MB = 1024 * 1024;
const FAST = { maxTries: 2, baseDelayMs: 20, maxDelayMs: 50 };
let tmp: string;
let store: string; // plays the sender's <root>/data/dcp, served at /dcp/
let tracker: RunningTracker;
let origin: TestOrigin;
let dcp: MadeDcp;
let seeder: SeederProcess;
let client: BtClient;
let fullUrl: string;
let tmpUrl: string;
let fullInfoHash: string;
const BT_SHARE = ['CPL.xml', 'PKL.xml', 'audio.mxf', 'empty.txt', 'sub/ASSETMAP.xml'];
const entry = (file: string): FileEntry => dcp.filelist.find((f) => f.file === file)!;
let caseNo = 0;
/** A fresh staging and target dir per case, as the receiver gives each task its own. */
const dirs = () => {
  caseNo += 1;
  return { stagingDir: path.join(tmp, `case${caseNo}`, 'staging'), targetDir: path.join(tmp, `case${caseNo}`, 'assembly', 'dcp-a') };
};

before(async () => {
  tmp = await makeTempRoot();
  store = path.join(tmp, 'store');
  tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  const dcps = path.join(store, 'cfec', 'dcps');
  dcp = await makeDcp(dcps, 'dcp-a', [
    { file: 'CPL.xml', size: 2345 },
    { file: 'PKL.xml', size: 957 },
    { file: 'audio.mxf', size: 6 * MB + 13 },
    { file: 'empty.txt', size: 0 },
    { file: 'sub/ASSETMAP.xml', size: 1466 },
    { file: 'video.mxf', size: 64 * MB + 5 },
    { file: 'zreel.mxf', size: 9 * MB + 101 },
  ]);
  const full = await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: path.join(dcps, 'dcp-a.torrent') });
  fullInfoHash = full.infoHash;
  // The sender's BT share of a split task: hard links in dcps-tmp/<name>-tmp, its own torrent.
  const share = path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp');
  for (const f of BT_SHARE) {
    await mkdir(path.dirname(path.join(share, f)), { recursive: true });
    await link(path.join(dcp.dir, f), path.join(share, f));
  }
  await makeTorrent({ dir: share, tracker: tracker.announceUrl, outFile: path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp.torrent') });
  origin = await startTestOrigin(store);
  fullUrl = `${origin.url}/dcp/cfec/dcps/dcp-a.torrent`;
  tmpUrl = `${origin.url}/dcp/cfec/dcps-tmp/dcp-a-tmp.torrent`;
  seeder = await spawnSeeder({
    torrents: [
      { torrentFile: path.join(dcps, 'dcp-a.torrent'), parentDir: dcps, trusted: true },
      { torrentFile: path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp.torrent'), parentDir: path.join(store, 'cfec', 'dcps-tmp'), trusted: true },
    ],
  });
  assert.deepEqual(seeder.seeds.map((s) => s.progress), [1, 1]);
  client = await createBtClient({ port: 0, log: silentLogger() });
});

after(async () => {
  const uploaded = await seeder?.stop();
  if (uploaded) assert.ok((uploaded[fullInfoHash] ?? 0) > 0, 'the child seeder uploaded the full torrent');
  await client?.close();
  await origin?.close();
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function assertTarget(targetDir: string, files: string[]): Promise<void> {
  assert.deepEqual(await filesUnder(targetDir), [...files].sort(), 'exactly the selected files, nothing else');
  for (const f of files) assert.equal(await sha1File(path.join(targetDir, f)), entry(f).hash, f);
}

test('-tmp share torrent: only the receiver lists2 files arrive in targetDir, byte-identical', async () => {
  const { stagingDir, targetDir } = dirs();
  // CPL.xml is a local-same file on this receiver: not in lists2.
  const wanted = ['PKL.xml', 'audio.mxf', 'empty.txt', 'sub/ASSETMAP.xml'];
  const r = makeJob({ files: wanted.map(entry), stagingDir, targetDir, url: tmpUrl });
  const t0 = performance.now();
  await new BtMethod(client, { policy: FAST }).download(r.job);
  const ms = performance.now() - t0;
  await assertTarget(targetDir, wanted);
  assert.equal(r.bytes(), wanted.reduce((s, f) => s + entry(f).size, 0), 'onBytes counts exactly the share bytes');
  assert.deepEqual(r.tries, []);
  assert.equal(client.wt.torrents.length, 0, 'the torrent left the client');
  console.log(`# -tmp share: ${(r.bytes() / MB).toFixed(1)} MiB in ${ms.toFixed(0)} ms`);
});

test('subset of the full torrent: selected files only in targetDir; straddling neighbours stay in staging', async () => {
  const { stagingDir, targetDir } = dirs();
  const wanted = ['audio.mxf', 'sub/ASSETMAP.xml', 'zreel.mxf', 'empty.txt'];
  const r = makeJob({ files: wanted.map(entry), stagingDir, targetDir, url: fullUrl });
  await new BtMethod(client, { policy: FAST }).download(r.job);
  await assertTarget(targetDir, wanted);
  assert.equal(r.bytes(), wanted.reduce((s, f) => s + entry(f).size, 0));
  // Pieces at the edges of audio.mxf and zreel.mxf also hold bytes of PKL.xml / video.mxf:
  // webtorrent writes those partial files in staging only.
  const staged = await filesUnder(stagingDir);
  assert.ok(staged.includes('dcp-a/video.mxf'), `partial neighbour kept in staging: ${staged.join(', ')}`);
  const partial = await stat(stagedPath(stagingDir, 'dcp-a', 'video.mxf'));
  assert.ok(partial.size > 0);
});

test('the full torrent with every file, then a second call finds everything done without fetching the torrent', async () => {
  const { stagingDir, targetDir } = dirs();
  const all = dcp.filelist.map((f) => f.file);
  const r = makeJob({ files: dcp.filelist, stagingDir, targetDir, url: fullUrl });
  const t0 = performance.now();
  await new BtMethod(client, { policy: FAST }).download(r.job);
  const ms = performance.now() - t0;
  await assertTarget(targetDir, all);
  console.log(`# full torrent over loopback: ${(dcp.size / MB).toFixed(1)} MiB in ${ms.toFixed(0)} ms, ${(dcp.size / MB / (ms / 1000)).toFixed(0)} MiB/s (incl. torrent fetch and sha1 checks)`);
  const gets = origin.getsFor('/dcp-a.torrent');
  const again = makeJob({ files: dcp.filelist, stagingDir, targetDir, url: fullUrl });
  await new BtMethod(client, { policy: FAST }).download(again.job);
  assert.equal(origin.getsFor('/dcp-a.torrent'), gets, 'no torrent fetch when targetDir is complete');
  assert.equal(again.bytes(), 0);
});

test('a torrent that lacks a share file (or has another size) fails at once with the differences listed', async () => {
  const { stagingDir, targetDir } = dirs();
  const files = [entry('PKL.xml'), entry('video.mxf'), { ...entry('audio.mxf'), size: entry('audio.mxf').size + 1 }];
  const r = makeJob({ files, stagingDir, targetDir, url: tmpUrl });
  await assert.rejects(new BtMethod(client, { policy: FAST }).download(r.job), (err: unknown) => {
    assert.ok(isBft2Error(err));
    assert.equal(err.code, 'BT_TORRENT_FILES');
    assert.equal(err.unrecoverable, true);
    assert.match(err.message, new RegExp(`^taskfile btlist is not equal torrent content, check taskfile or tmp torrent: ${tmpUrl.replace(/[.?]/g, '\\$&')}`));
    assert.match(err.message, /not in the torrent: video\.mxf/);
    assert.match(err.message, /size differs: audio\.mxf task 6291470 torrent 6291469/);
    assert.doesNotMatch(err.message, /PKL/);
    return true;
  });
  assert.equal(r.tries.length, 1, 'no retries for a mismatch');
  assert.equal(r.tries[0].delay, undefined);
  assert.deepEqual(await filesUnder(targetDir), []);
});

test('a torrent URL that fails is retried by the policy, then reported with the seed text', async () => {
  const { stagingDir, targetDir } = dirs();
  const url = `${origin.url}/dcp/cfec/dcps-tmp/nope-tmp.torrent`;
  const r = makeJob({ files: [entry('PKL.xml')], stagingDir, targetDir, url });
  await assert.rejects(new BtMethod(client, { policy: FAST }).download(r.job), (err: unknown) => {
    assert.ok(isBft2Error(err));
    assert.equal(err.code, 'BT_TORRENT_FETCH');
    assert.equal(err.message, `could not download tmptorrent from ${url}`);
    return true;
  });
  assert.equal(r.tries.length, 2);
  assert.match(r.tries[0].reason, /HTTP 404/);
  const full = `${origin.url}/dcp/cfec/dcps/nope.torrent`;
  const r2 = makeJob({ files: [entry('PKL.xml')], stagingDir, targetDir, url: full });
  await assert.rejects(new BtMethod(client, { policy: { ...FAST, maxTries: 1 } }).download(r2.job), { message: `could not download torrent from ${full}` });
});

test('abort keeps the staged data; the same method and then a fresh one (a restart) resume from it', async () => {
  const { stagingDir, targetDir } = dirs();
  const files = [entry('video.mxf')];
  const method = new BtMethod(client, { policy: FAST });
  const size = entry('video.mxf').size;

  // First run: abort once 8 MiB are verified.
  const r1 = makeJob({ files, stagingDir, targetDir, url: fullUrl, onBytes: (_n, total) => total >= 8 * MB && r1.abort.abort(new Error('window closed')) });
  await assert.rejects(method.download(r1.job), { message: 'window closed' });
  assert.equal(client.wt.torrents.length, 0, 'abort removed the torrent from the client');
  assert.deepEqual(await filesUnder(targetDir), []);
  const staged = stagedPath(stagingDir, 'dcp-a', 'video.mxf');
  assert.ok((await stat(staged)).size > 0, 'partial data kept in staging');
  assert.ok(r1.bytes() >= 8 * MB && r1.bytes() < size);

  // Same instance (a window pause in a running daemon): abort again a bit later.
  const r2 = makeJob({ files, stagingDir, targetDir, url: fullUrl, onBytes: (_n, total) => total >= 24 * MB && r2.abort.abort(new Error('window closed')) });
  await assert.rejects(method.download(r2.job), { message: 'window closed' });
  assert.ok(r2.byteCalls[0] >= 8 * MB, `resumed bytes are reported first (${r2.byteCalls[0]})`);

  // A fresh method (a restarted daemon): webtorrent re-verifies staging and completes.
  const r3 = makeJob({ files, stagingDir, targetDir, url: fullUrl });
  await new BtMethod(client, { policy: FAST }).download(r3.job);
  assert.ok(r3.byteCalls[0] >= 24 * MB, `resumed bytes are reported first (${r3.byteCalls[0]})`);
  assert.equal(r3.bytes(), size, 'a call reports resumed plus new bytes: the whole file, once');
  await assertTarget(targetDir, ['video.mxf']);
});

test('no peer has the data: each try stalls, then the share fails as a bt download error', async () => {
  const lonely = await makeDcp(path.join(store, 'cfec', 'dcps'), 'lonely', [{ file: 'a.mxf', size: 1 * MB }]);
  await makeTorrent({ dir: lonely.dir, tracker: tracker.announceUrl, outFile: path.join(store, 'cfec', 'dcps', 'lonely.torrent') });
  const { stagingDir, targetDir } = dirs();
  const r = makeJob({ files: lonely.filelist, stagingDir, targetDir, url: `${origin.url}/dcp/cfec/dcps/lonely.torrent` });
  await assert.rejects(new BtMethod(client, { policy: FAST, stallMs: 300 }).download(r.job), (err: unknown) => {
    assert.ok(isBft2Error(err));
    assert.equal(err.code, 'DOWNLOAD_FAILED');
    assert.match(err.message, /^bt download error: lonely\.torrent: no data from peers for 0\.3 s/);
    return true;
  });
  assert.equal(r.tries.length, 2);
  assert.equal(client.wt.torrents.length, 0);
});

test('trusted seeding is ready at once without reading the data; untrusted verifies first', async () => {
  const big = await makeDcp(path.join(tmp, 'seedstore'), 'big', [
    { file: 'reel.mxf', size: 512 * MB },
    { file: 'CPL.xml', size: 1000 },
  ]);
  const torrentFile = path.join(tmp, 'seedstore', 'big.torrent');
  await makeTorrent({ dir: big.dir, tracker: tracker.announceUrl, outFile: torrentFile });
  const own = await createBtClient({ port: 0, log: silentLogger() });
  try {
    let t0 = performance.now();
    const trusted = await seed(own, { torrentFile, parentDir: path.dirname(big.dir), trusted: true });
    const trustedMs = performance.now() - t0;
    assert.equal(trusted.progress, 1);
    await assert.rejects(seed(own, { torrentFile, parentDir: path.dirname(big.dir), trusted: true }), /already seeding/);
    await trusted.stop();
    assert.equal(trusted.stopped, true);
    assert.ok((await stat(path.join(big.dir, 'reel.mxf'))).size === 512 * MB, 'stop keeps the data');

    t0 = performance.now();
    const verified = await seed(own, { torrentFile, parentDir: path.dirname(big.dir), trusted: false });
    const verifyMs = performance.now() - t0;
    assert.equal(verified.progress, 1);
    await verified.stop();
    console.log(`# seed 512 MiB: trusted ready in ${trustedMs.toFixed(0)} ms, verified in ${verifyMs.toFixed(0)} ms`);
    assert.ok(trustedMs < 250, `trusted seed ready in ${trustedMs} ms`);
    assert.ok(trustedMs * 5 < verifyMs, `trusted ${trustedMs} ms vs verify ${verifyMs} ms`);

    // Changed data, not trusted: only the matching part is served and nothing is written.
    const fh = await open(path.join(big.dir, 'CPL.xml'), 'r+');
    await fh.write(Buffer.from('changed'), 0, 7, 10);
    await fh.close();
    const before = await readFile(path.join(big.dir, 'CPL.xml'));
    const partial = await seed(own, { torrentFile, parentDir: path.dirname(big.dir), trusted: false });
    assert.ok(partial.progress < 1 && partial.progress > 0.9, `progress ${partial.progress}`);
    await partial.stop();
    assert.deepEqual(await readFile(path.join(big.dir, 'CPL.xml')), before, 'a seed never writes the store');
  } finally {
    await own.close();
    await rm(path.join(tmp, 'seedstore'), { recursive: true, force: true });
  }
});

test('the client finds peers only through trackers: no DHT, LSD, uTP, UPnP/NAT-PMP; a busy port is a clear error', async () => {
  const wt = client.wt as unknown as Record<string, unknown>;
  assert.equal(wt.dht, false);
  assert.equal(wt.lsd, false);
  assert.equal(wt.utp, false);
  assert.equal(wt.natTraversal, undefined);
  assert.equal(wt.enableWebSeeds, false);
  await assert.rejects(createBtClient({ port: client.port, log: silentLogger() }), new RegExp(`cannot listen on port ${client.port}`));
});

test('readTorrentFiles of the served torrents: the -tmp torrent holds exactly the BT share', async () => {
  const info = await readTorrentFiles(await readFile(path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp.torrent')));
  assert.equal(info.name, 'dcp-a-tmp');
  assert.deepEqual(info.files.map((f) => f.path), BT_SHARE);
  assert.deepEqual(info.announce, [tracker.announceUrl]);
});
