// BitTorrent seeding and the client on loopback: a real HTTP tracker (tracker.ts) and
// torrents made by makeTorrent and served by the real HTTP origin. Downloads through BitTorrent are tested
// with the whole download engine in test/download/task-download.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { seed } from '../../src/transfer/bt/bt-seed.ts';
import { makeTorrent, readTorrentFiles } from '../../src/transfer/bt/make-torrent.ts';
import { silentLogger } from '../../src/log/logger.ts';

const MB = 1024 * 1024;
const FAST = { maxTries: 2, baseDelayMs: 20, maxDelayMs: 50 };
let tmp: string;
let store: string; // plays the sender's <root>/data/dcp, served at /dcp/
let tracker: RunningTracker;
let origin: TestOrigin;
let dcp: MadeDcp;
let client: BtClient;
const BT_SHARE = ['CPL.xml', 'PKL.xml', 'audio.mxf', 'empty.txt', 'sub/ASSETMAP.xml'];
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
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: path.join(dcps, 'dcp-a.torrent') });
  // The sender's BT share of a split task: hard links in dcps-tmp/<name>-tmp, its own torrent.
  const share = path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp');
  for (const f of BT_SHARE) {
    await mkdir(path.dirname(path.join(share, f)), { recursive: true });
    await link(path.join(dcp.dir, f), path.join(share, f));
  }
  await makeTorrent({ dir: share, tracker: tracker.announceUrl, outFile: path.join(store, 'cfec', 'dcps-tmp', 'dcp-a-tmp.torrent') });
  origin = await startTestOrigin(store);
  client = await createBtClient({ port: 0, log: silentLogger() });
});

after(async () => {
  await client?.close();
  await origin?.close();
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
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
