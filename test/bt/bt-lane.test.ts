// bt-lane.ts on its own, against a real seed (another client over loopback), a real tracker
// and a real origin serving the torrent: an exception in one of its listeners (here the
// download's own callback, called from webtorrent's 'verified' event) fails the ranges it
// belongs to with an error that names it, never the process; the lane then goes on (the
// next range downloads); a cancelled range ends its wait at once; a torrent that is not
// whole is BT_TORRENT_INVALID, unrecoverable; a lane that gets nothing asks its tracker
// again 3 s after its fresh wait, then after twice as long each time (QUIET_FIRST_MS).
import { test, before, after } from 'node:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { seed } from '../../src/transfer/bt/bt-seed.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { BtLane, QUIET_FIRST_MS } from '../../src/transfer/bt/bt-lane.ts';
import { bencode } from '../../src/transfer/bt/bencode.ts';
import { isBft2Error } from '../../src/errors/catalogue.ts';
import { silentLogger } from '../../src/log/logger.ts';

const MiB = 1024 * 1024;
let tmp: string;
let tracker: RunningTracker;
let origin: TestOrigin;
let dcp: MadeDcp;
let seeder: BtClient;
let client: BtClient;

before(async () => {
  tmp = await makeTempRoot();
  tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  const dcps = path.join(tmp, 'store', 'cfec', 'dcps');
  dcp = await makeDcp(dcps, 'lane', [{ file: 'reel.mxf', size: 24 * MiB + 7 }]);
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: path.join(dcps, 'lane.torrent') });
  origin = await startTestOrigin(path.join(tmp, 'store'));
  seeder = await createBtClient({ port: 0, log: silentLogger() });
  await seed(seeder, { torrentFile: path.join(dcps, 'lane.torrent'), parentDir: dcps, trusted: true });
  client = await createBtClient({ port: 0, log: silentLogger() });
});

after(async () => {
  await client?.close();
  await seeder?.close();
  await origin?.close();
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
});

function lane(url: string, onDone: (file: string, start: number, end: number) => void, stallMs = 30_000): BtLane {
  return new BtLane({
    task: 'lane-test',
    client: async () => client,
    log: silentLogger(),
    shareUrl: url,
    fullUrl: '',
    shareFiles: dcp.filelist,
    exactShare: false,
    files: dcp.filelist,
    assembly: path.join(tmp, 'assembly', String(Math.random())),
    onDone,
    doneRanges: () => [],
    stallMs,
  });
}

test('an exception in a listener fails the range it belongs to, names it, and the lane goes on', async () => {
  let throwOnce = true;
  const done: [number, number][] = [];
  const l = lane(`${origin.url}/dcp/cfec/dcps/lane.torrent`, (_file, start, end) => {
    if (throwOnce) {
      throwOnce = false;
      throw new Error('boom in onDone');
    }
    done.push([start, end]);
  });
  try {
    await assert.rejects(l.fetch('reel.mxf', 0, 8 * MiB, new AbortController().signal), /^Error: bt: a verified piece: boom in onDone$/);
    // The process is still here; the next range downloads.
    await l.fetch('reel.mxf', 8 * MiB, 16 * MiB, new AbortController().signal);
    assert.ok(done.some(([s, e]) => s <= 8 * MiB && e >= 12 * MiB), JSON.stringify(done));
    // A cancelled range ends its wait at once, with the cancel's reason.
    const ac = new AbortController();
    const p = l.fetch('reel.mxf', 16 * MiB, 24 * MiB + 7, ac.signal);
    ac.abort(new Error('cancelled by the test'));
    await assert.rejects(p, /cancelled by the test/);
  } finally {
    await l.close();
  }
});

test('a torrent that is not whole is BT_TORRENT_INVALID (unrecoverable), named with its URL', async () => {
  const bad = bencode({ announce: tracker.announceUrl, info: { name: 'lane', 'piece length': 16 * 1024, pieces: Buffer.alloc(20), files: [{ length: dcp.filelist[0].size, path: ['reel.mxf'] }] } });
  await writeFile(path.join(tmp, 'store', 'cfec', 'dcps', 'bad.torrent'), bad);
  const url = `${origin.url}/dcp/cfec/dcps/bad.torrent`;
  const l = lane(url, () => {});
  try {
    await assert.rejects(l.fetch('reel.mxf', 0, MiB, new AbortController().signal), (err: unknown) => {
      assert.ok(isBft2Error(err));
      assert.equal(err.code, 'BT_TORRENT_INVALID');
      assert.equal(err.unrecoverable, true);
      assert.equal(err.message, `invalid torrent ${url}: 1 piece hash for ${dcp.filelist[0].size} bytes in 16384-byte pieces, which are 1537 pieces`);
      return true;
    });
  } finally {
    await l.close();
  }
});

test('a lane that gets nothing asks the tracker again after 3 s, then twice as long each time', { timeout: 60_000 }, async () => {
  // A tracker that knows no peer and records when it is asked.
  const asked: number[] = [];
  const quiet = http.createServer((_req, res) => {
    asked.push(Date.now());
    res.end(bencode({ interval: 600, peers: new Uint8Array(0) }));
  });
  await new Promise<void>((resolve) => quiet.listen(0, '127.0.0.1', resolve));
  const dcps = path.join(tmp, 'store', 'cfec', 'dcps');
  await makeTorrent({ dir: dcp.dir, tracker: `http://127.0.0.1:${(quiet.address() as AddressInfo).port}/announce`, outFile: path.join(dcps, 'alone.torrent') });
  const l = lane(`${origin.url}/dcp/cfec/dcps/alone.torrent`, () => {}, 120_000);
  const ac = new AbortController();
  const waiting = l.fetch('reel.mxf', 0, MiB, ac.signal).catch(() => undefined);
  try {
    const t0 = Date.now();
    while (asked.length < 4 && Date.now() - t0 < 40_000) await new Promise((r) => setTimeout(r, 200));
    const gaps = asked.slice(1, 4).map((t, i) => (t - asked[i]) / 1000);
    assert.equal(gaps.length, 3, `the tracker was asked ${asked.length} times in 40 s`);
    // The first announce is webtorrent's own, at the add; then 3, 6 and 12 s.
    const expected = [1, 2, 4].map((k) => (k * QUIET_FIRST_MS) / 1000);
    gaps.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) < 1.5, `announce gaps ${gaps.join(', ')} s, expected ${expected.join(', ')} s`));
  } finally {
    ac.abort(new Error('the test is done'));
    await waiting;
    await l.close();
    quiet.close();
  }
});
