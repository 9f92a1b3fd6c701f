// The centre's seed with cachers and cinemas (centre-seeding.ts, initial-seeding.ts, the
// patches shown-pieces.ts and last-resort.ts) on loopback: a real sender seed
// (deferToCachers), real cacher lanes (bt-lane.ts as a cacher runs it: rarest first, the
// sender a last resort), a real cinema lane, the embedded tracker, the torrent from a real
// origin. The centre's uplink is throttled (webtorrent's own limit), so that cachers have a
// reason to trade; on loopback an unthrottled centre would serve everything at once.
// - three cachers fetch the DCP: the centre uploads it about once (≤ 1.1 x; before: each
//   cacher took most of a copy from the centre), every cacher's copy is byte for byte the
//   DCP, and initial seeding ends once a cacher holds it all;
// - a cinema that connects while cachers are connected is shown nothing by the centre and
//   gets its DCP from the cachers; a cacher that leaves mid-deal gives its pieces back and the
//   others still complete;
// - when the last cacher goes, a cinema waiting on the centre is shown every piece on the
//   connection it has and completes from the centre.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import type { Wire } from 'webtorrent';
import { createBtClient, roleOfPeer, type BtClient, type PeerRole } from '../../src/transfer/bt/bt-client.ts';
import { seed, type SeedHandle } from '../../src/transfer/bt/bt-seed.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { BtLane } from '../../src/transfer/bt/bt-lane.ts';
import { partPathOf } from '../../src/transfer/segments/part-store.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';

const MiB = 1024 * 1024;
const MB = 1e6;
let tmp: string;
let tracker: RunningTracker;
let origin: TestOrigin;
let dcp: MadeDcp;
let torrentUrl: string;
let torrentFile: string;

before(async () => {
  tmp = await makeTempRoot();
  tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  const dcps = path.join(tmp, 'store', 'cfec', 'dcps');
  // 4 reels, 32 pieces of 1 MiB: 8 dealt ahead per cacher (8 MiB windows).
  dcp = await makeDcp(dcps, 'deal', [1, 2, 3, 4].map((r) => ({ file: `reel${r}.mxf`, size: 8 * MiB - r * 1000 })));
  torrentFile = path.join(dcps, 'deal.torrent');
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: torrentFile, pieceLength: MiB });
  origin = await startTestOrigin(path.join(tmp, 'store'));
  torrentUrl = `${origin.url}/dcp/cfec/dcps/deal.torrent`;
});

after(async () => {
  await origin?.close();
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
});

interface Node {
  client: BtClient;
  lane: BtLane;
  assembly: string;
  /** Resolves when every file is fetched. */
  fetchAll(): Promise<void>;
  close(): Promise<void>;
}

async function node(role: PeerRole, name: string, uploadBps: number): Promise<Node> {
  const client = await createBtClient({ port: 0, log: log(name), role });
  client.wt.throttleUpload(uploadBps);
  const assembly = path.join(tmp, 'nodes', name);
  const cacher = role === 'cacher';
  const lane = new BtLane({
    task: name,
    client: async () => client,
    log: client.log,
    shareUrl: torrentUrl,
    fullUrl: '',
    shareFiles: dcp.filelist,
    exactShare: false,
    files: dcp.filelist,
    assembly,
    onDone: () => {},
    doneRanges: () => [],
    stallMs: 60_000,
    strategy: cacher ? 'rarest' : 'sequential',
    serveWhilePaused: cacher,
    senderLastResort: cacher,
  });
  return {
    client,
    lane,
    assembly,
    fetchAll: async () => {
      // A cacher wants its whole share at once (rarest first); a cinema a file after another.
      const fetch = (f: (typeof dcp.filelist)[number]) => lane.fetch(f.file, 0, f.size, new AbortController().signal);
      if (cacher) await Promise.all(dcp.filelist.map(fetch));
      else for (const f of dcp.filelist) await fetch(f);
    },
    close: async () => {
      await lane.close();
      await client.close();
    },
  };
}

const logs: string[] = [];
function log(name: string): Logger {
  const file = path.join(tmp, `${name}.log`);
  logs.push(file);
  return createLogger(file, { level: 'info' });
}

interface Centre {
  client: BtClient;
  seed: SeedHandle;
  logFile: string;
  /** Connections cinemas opened to the centre, and the bytes it sent on them. */
  cinemaConnections(): { count: number; uploaded: number };
}

async function centre(uploadBps: number): Promise<Centre> {
  const client = await createBtClient({ port: 0, log: log('centre'), role: 'sender' });
  client.wt.throttleUpload(uploadBps);
  const handle = await seed(client, { torrentFile, parentDir: path.dirname(dcp.dir), trusted: true, deferToCachers: true });
  const cinemaWires: Wire[] = [];
  client.wt.torrents[0].on('wire', (w: Wire) => {
    if (roleOfPeer(w.peerId) === 'receiver') cinemaWires.push(w);
  });
  return {
    client,
    seed: handle,
    logFile: path.join(tmp, 'centre.log'),
    cinemaConnections: () => ({ count: cinemaWires.length, uploaded: cinemaWires.reduce((n, w) => n + w.uploaded, 0) }),
  };
}

async function assertCopy(n: Node): Promise<void> {
  for (const f of dcp.filelist) assert.equal(await sha1File(partPathOf(n.assembly, f.file)), f.hash, `${n.assembly}: ${f.file}`);
}

const waitLog = async (file: string, text: string, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await readFile(file, 'utf8').catch(() => '')).includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no "${text}" in ${file} within ${ms} ms:\n${await readFile(file, 'utf8').catch(() => '')}`);
};

test('three cachers: the centre uploads the DCP about once, the cachers trade the rest, every copy is whole', { timeout: 120_000 }, async () => {
  const c = await centre(8 * MB);
  const cachers = await Promise.all([1, 2, 3].map((i) => node('cacher', `t1-cacher${i}`, 16 * MB)));
  try {
    const t0 = Date.now();
    await Promise.all(cachers.map((x) => x.fetchAll()));
    const took = (Date.now() - t0) / 1000;
    const ratio = c.seed.uploaded / dcp.size;
    const served = cachers.map((x) => x.lane.stats().uploaded / MB);
    console.log(`# 3 cachers complete in ${took.toFixed(1)} s; the centre uploaded ${(c.seed.uploaded / MB).toFixed(1)} MB = ${ratio.toFixed(2)} x the DCP (${(dcp.size / MB).toFixed(1)} MB); cachers served each other ${served.map((x) => x.toFixed(1)).join(', ')} MB`);
    for (const x of cachers) await assertCopy(x);
    assert.ok(ratio <= 1.1, `the centre uploaded ${ratio.toFixed(2)} x the DCP`);
    // Three copies, about one from the centre: the rest came from cachers.
    assert.ok(served.reduce((a, b) => a + b, 0) * MB >= 1.8 * dcp.size, `the cachers served each other ${served.join(', ')} MB`);
    await waitLog(c.logFile, 'bt seed deal: a peer holds the complete data; initial seeding is over', 10_000);
    assert.equal(c.seed.initialSeeding, false);
    assert.equal(c.seed.handedOver, true);
  } finally {
    await Promise.all(cachers.map((x) => x.close()));
    await c.client.close();
  }
});

test('a cinema beside cachers gets nothing from the centre; a cacher leaving mid-deal gives its pieces back', { timeout: 120_000 }, async () => {
  const c = await centre(6 * MB);
  const cachers = await Promise.all([1, 2, 3].map((i) => node('cacher', `t2-cacher${i}`, 16 * MB)));
  const cinema = await node('receiver', 't2-cinema', 4 * MB);
  try {
    const fetching = cachers.slice(0, 2).map((x) => x.fetchAll());
    const leaver = cachers[2];
    void leaver.fetchAll().catch(() => undefined);
    // The third cacher leaves once it holds a few pieces.
    const end = Date.now() + 20_000;
    while (leaver.lane.stats().downloaded < 4 * MiB && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const leaverGot = leaver.lane.stats().downloaded;
    await leaver.close();
    await waitLog(c.logFile, 'a cacher is connected; the centre serves the cachers', 10_000);
    const cinemaDone = cinema.fetchAll();
    await Promise.all(fetching);
    await cinemaDone;
    for (const x of [...cachers.slice(0, 2), cinema]) await assertCopy(x);
    const ratio = c.seed.uploaded / dcp.size;
    const toCinema = c.cinemaConnections();
    console.log(`# a cacher left after ${(leaverGot / MB).toFixed(1)} MB; the centre uploaded ${ratio.toFixed(2)} x the DCP; the cinema got ${(cinema.lane.stats().downloaded / MB).toFixed(1)} MB, ${toCinema.uploaded} bytes of it from the centre on ${toCinema.count} connection(s)`);
    assert.ok(toCinema.count >= 1, 'the cinema connected to the centre');
    assert.equal(toCinema.uploaded, 0, 'the centre sent the cinema nothing');
    // At most one copy plus what went to the cacher that left (and a piece or two in flight).
    assert.ok(c.seed.uploaded <= 1.1 * dcp.size + leaverGot + 2 * MiB, `the centre uploaded ${ratio.toFixed(2)} x the DCP`);
  } finally {
    await Promise.all([...cachers.slice(0, 2), cinema].map((x) => x.close()));
    await c.client.close();
  }
});

test('the last cacher goes: a cinema waiting on the centre is shown every piece and completes from it', { timeout: 120_000 }, async () => {
  const c = await centre(4 * MB);
  // A cacher that takes nothing: it only makes the centre leave cinemas to it.
  const cacher = await node('cacher', 't3-cacher', 16 * MB);
  const cinema = await node('receiver', 't3-cinema', 4 * MB);
  try {
    void cacher.lane.fetch(dcp.filelist[0].file, 0, MiB, new AbortController().signal).catch(() => undefined);
    await waitLog(c.logFile, 'a cacher is connected; the centre serves the cachers', 10_000);
    const before = c.seed.uploaded;
    const done = cinema.fetchAll();
    // Connected, shown nothing: it waits.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(cinema.lane.stats().downloaded <= 2 * MiB, true, `the cinema got ${cinema.lane.stats().downloaded} bytes while the cacher was there`);
    await cacher.close();
    await waitLog(c.logFile, 'no cacher connected; serving every peer', 10_000);
    const t0 = Date.now();
    await done;
    await assertCopy(cinema);
    console.log(`# the cinema completed ${((Date.now() - t0) / 1000).toFixed(1)} s after the cacher left; the centre uploaded ${((c.seed.uploaded - before) / MB).toFixed(1)} MB meanwhile`);
    assert.ok(c.seed.uploaded - before >= dcp.size - 2 * MiB);
    // On the connection it had: no redial.
    assert.deepEqual(c.cinemaConnections().count, 1);
  } finally {
    await cinema.close();
    await c.client.close();
  }
});
