// The patches behind the centre's seeding (src/transfer/bt/patches/) against the real
// classes, on real transfers over loopback with a real tracker:
// - shown-pieces: a connection is shown exactly the pieces a torrent's chooser names (a
//   bitfield), gets the others once they are announced (HAVE), fetches nothing else; a
//   chooser that names nothing leaves webtorrent's own answer; one that throws closes that
//   connection and is reported, the torrent goes on;
// - last-resort: a leecher asks its last-resort peer only for pieces no other peer offers;
// - tracker-peers: the embedded tracker names the peers that accept connections (bft2 sender
//   and cachers) first and never the asking peer; the real Swarm has the peer list it reads;
// - each fails loudly at installation when the internals it wraps are missing.
// (patches.test.ts has the other patches and the fence.)
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import type { Torrent, Wire } from 'webtorrent';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../../tools/harness/daemon.ts';
import { startTracker, type RunningTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient, type BtClient } from '../../src/transfer/bt/bt-client.ts';
import { seed, type SeedHandle } from '../../src/transfer/bt/bt-seed.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { readTorrent } from '../../src/transfer/bt/torrent-file.ts';
import { fileStore } from '../../src/transfer/bt/file-store.ts';
import { bdecode, type BDict } from '../../src/transfer/bt/bencode.ts';
import { choosePiecesShown, bitfieldBytes, patchShownPieces } from '../../src/transfer/bt/patches/shown-pieces.ts';
import { askLastResort, offeredElsewhere, patchLastResort } from '../../src/transfer/bt/patches/last-resort.ts';
import { hasPeerList, patchTrackerPeers, reachableFirst } from '../../src/transfer/bt/patches/tracker-peers.ts';
import { installTrackerPatches } from '../../src/transfer/bt/patches/index.ts';
import { silentLogger } from '../../src/log/logger.ts';

const KiB = 1024;
let tmp: string;
let tracker: RunningTracker;
let dcp: MadeDcp;
let torrentFile: string;
/** The same torrent (the same info) announcing to a port nobody listens on: a leecher connects only to the peers a test adds. */
let quietTorrentFile: string;
let clients: BtClient[] = [];

before(async () => {
  tmp = await makeTempRoot();
  tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  dcp = await makeDcp(path.join(tmp, 'seed'), 'shown', [{ file: 'reel.mxf', size: 16 * 64 * KiB - 100 }]);
  torrentFile = path.join(tmp, 'shown.torrent');
  // 16 pieces of 64 KiB.
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: torrentFile, pieceLength: 64 * KiB });
  quietTorrentFile = path.join(tmp, 'quiet.torrent');
  await makeTorrent({ dir: dcp.dir, tracker: 'http://127.0.0.1:9/announce', outFile: quietTorrentFile, pieceLength: 64 * KiB });
});

/** Each test's clients go at its end: a leecher that completed would serve the next test's. */
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
});

after(async () => {
  await tracker?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function client(role: 'sender' | 'receiver' | 'cacher' = 'receiver'): Promise<BtClient> {
  const c = await createBtClient({ port: 0, log: silentLogger(), role });
  clients.push(c);
  return c;
}

async function seedOn(c: BtClient): Promise<{ handle: SeedHandle; torrent: Torrent }> {
  const handle = await seed(c, { torrentFile, parentDir: path.dirname(dcp.dir), trusted: true });
  return { handle, torrent: c.wt.torrents.find((t) => t.infoHash === handle.infoHash)! };
}

/** A leecher of the torrent, everything selected, connected to the given seeds only. */
async function leech(c: BtClient, dir: string, seeds: BtClient[]): Promise<Torrent> {
  const read = readTorrent(await readFile(quietTorrentFile));
  const t = c.add(read, { path: dir, storeCacheSlots: 0, store: fileStore({ writable: true, pathOf: (rel, d, name) => path.join(d, name, rel) }) });
  await new Promise<void>((resolve) => t.once('ready', () => resolve()));
  for (const s of seeds) t.addPeer(`127.0.0.1:${s.port}`);
  return t;
}

function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() > end ? reject(new Error(`timed out: ${what}`)) : setTimeout(tick, 20));
    tick();
  });
}

const piecesOf = (bits: { get(i: number): boolean } | undefined, n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => bits?.get(i));

test('shown-pieces: a connection sees the chosen pieces, then what is announced; fetches nothing else', async () => {
  const s = await client('sender');
  const { torrent } = await seedOn(s);
  const n = torrent.pieces.length;
  assert.equal(n, 16);
  const seedWires: Wire[] = [];
  const errors: unknown[] = [];
  choosePiecesShown(
    torrent,
    (w) => {
      seedWires.push(w as Wire);
      const shown = new Uint8Array(n);
      shown[0] = shown[2] = shown[15] = 1;
      return shown;
    },
    (err) => void errors.push(err),
  );
  const l = await client();
  const t = await leech(l, path.join(tmp, 'leech-shown'), [s]);
  await waitFor(() => t.wires.length === 1 && piecesOf(t.wires[0].peerPieces, n).length === 3, 'the seed\'s bitfield');
  assert.deepEqual(piecesOf(t.wires[0].peerPieces, n), [0, 2, 15]);
  await waitFor(() => [0, 2, 15].every((i) => t.bitfield!.get(i)), 'the three shown pieces');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(piecesOf(t.bitfield, n), [0, 2, 15], 'nothing else was fetched');
  // Announced later (HAVE): fetched too.
  seedWires[0].have(7);
  await waitFor(() => t.bitfield!.get(7), 'the announced piece');
  assert.deepEqual(piecesOf(t.bitfield, n), [0, 2, 7, 15]);
  assert.equal(errors.length, 0, String(errors[0]));

  // A chooser that names nothing: webtorrent's own answer (every piece).
  choosePiecesShown(torrent, () => undefined, (err) => void errors.push(err));
  const l2 = await client();
  const t2 = await leech(l2, path.join(tmp, 'leech-all'), [s]);
  await new Promise<void>((resolve) => (t2.done ? resolve() : t2.once('done', () => resolve())));

  // A chooser that throws: that connection closes, the error is reported, the seed goes on.
  choosePiecesShown(
    torrent,
    () => {
      throw new Error('boom in the chooser');
    },
    (err) => void errors.push(err),
  );
  const l3 = await client();
  const t3 = await leech(l3, path.join(tmp, 'leech-boom'), [s]);
  await waitFor(() => errors.length > 0, 'the chooser error reported');
  assert.match(String(errors[0]), /boom in the chooser/);
  assert.equal(torrent.destroyed, false);
  assert.deepEqual(piecesOf(t3.bitfield, n), []);
});

test('shown-pieces: a bitfield message\'s bytes (high bit first) for one byte per piece', () => {
  assert.deepEqual([...bitfieldBytes(Uint8Array.from([1, 0, 1, 0, 0, 0, 0, 1, 1, 0]))], [0b10100001, 0b10000000]);
  assert.deepEqual([...bitfieldBytes(new Uint8Array(16))], [0, 0]);
});

test('last-resort: the last-resort seed is asked only for pieces the other seed does not offer', async () => {
  const a = await client('sender');
  const b = await client('cacher');
  const sa = await seedOn(a);
  const sb = await seedOn(b);
  const n = sb.torrent.pieces.length;
  // B offers the first half only.
  choosePiecesShown(sb.torrent, () => Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0)), (err) => assert.fail(String(err)));
  const l = await client();
  const t = await leech(l, path.join(tmp, 'leech-lr'), []);
  askLastResort(t, (w) => (w as Wire & { remotePort?: number }).remotePort === a.port);
  t.addPeer(`127.0.0.1:${b.port}`);
  await waitFor(() => t.wires.length === 1 && piecesOf(t.wires[0].peerPieces, n).length === n / 2, 'B\'s half');
  t.addPeer(`127.0.0.1:${a.port}`);
  await new Promise<void>((resolve) => (t.done ? resolve() : t.once('done', () => resolve())));
  const half = (n / 2) * 64 * KiB;
  console.log(`# the last resort sent ${sa.handle.uploaded} bytes, the other seed ${sb.handle.uploaded}`);
  assert.ok(sb.handle.uploaded >= half, `the other seed sent its half: ${sb.handle.uploaded}`);
  // The last resort sent the second half (the torrent's last piece is 100 bytes short; the
  // counts include the messages' headers, 13 bytes a block), nothing of the first.
  assert.ok(sa.handle.uploaded >= half - 100 && sa.handle.uploaded < half - 100 + 32 * 64, `the last resort sent ${sa.handle.uploaded} bytes; the half it alone offers is ${half - 100}`);
});

test('last-resort: another peer offers a piece only while it does not choke us, is an alternative and not a last resort itself', () => {
  const wire = (pieces: number[], choking = false) => ({ peerChoking: choking, peerPieces: { get: (i: number) => pieces.includes(i) } });
  const lastResort = wire([0, 1, 2]);
  const other = wire([1]);
  const choking = wire([2], true);
  const alsoLast = wire([0]);
  const isLast = (w: unknown) => w === lastResort || w === alsoLast;
  const t = { wires: [lastResort, other, choking, alsoLast] };
  assert.equal(offeredElsewhere(t, lastResort, 1, isLast), true);
  assert.equal(offeredElsewhere(t, lastResort, 2, isLast), false, 'a choking peer does not count');
  assert.equal(offeredElsewhere(t, lastResort, 0, isLast), false, 'another last resort does not count');
  // A peer that is no alternative (a cinema, for a cacher) does not count either.
  assert.equal(offeredElsewhere(t, lastResort, 1, isLast, (w) => w !== other), false, 'a peer that is no alternative does not count');
  assert.equal(offeredElsewhere(t, lastResort, 1, isLast, (w) => w === other), true);
});

const esc = (hex: string) => hex.replace(/../g, (b) => `%${b}`);
async function announce(url: string, infoHash: string, peerId: Buffer, port: number, numwant: number): Promise<BDict> {
  const q = `info_hash=${esc(infoHash)}&peer_id=${esc(peerId.toString('hex'))}&port=${port}&uploaded=0&downloaded=0&left=0&compact=0&numwant=${numwant}&event=started`;
  const res = await request(`${url}?${q}`);
  return bdecode(Buffer.from(await res.body.arrayBuffer())) as BDict;
}

test('tracker-peers: the sender and cachers first, never the asking peer; the real Swarm has the list it reads', async () => {
  const hash = 'cd'.repeat(20);
  const id = (role: string, i: number) => Buffer.from(`-B2${role}000-${String(i).padStart(12, '0')}`, 'latin1');
  const receivers = Array.from({ length: 8 }, (_, i) => id('R', i));
  const acceptors = [id('C', 1), id('C', 2), id('S', 0)];
  const foreign = Buffer.from('-CD0303-foreign-peer', 'latin1');
  let port = 7300;
  for (const p of [...receivers.slice(0, 4), acceptors[0], foreign, ...receivers.slice(4), acceptors[1], acceptors[2]]) await announce(tracker.announceUrl, hash, p, port++, 50);
  for (let round = 0; round < 5; round++) {
    const asker = receivers[round];
    const answer = (await announce(tracker.announceUrl, hash, asker, 7300 + round, 4)).peers as BDict[];
    const ids = answer.map((p) => Buffer.from(p['peer id'] as Uint8Array).toString('latin1'));
    assert.equal(ids.length, 4);
    assert.deepEqual(ids.slice(0, 3).sort(), acceptors.map((a) => a.toString('latin1')).sort(), `the acceptors first: ${ids.join(', ')}`);
    assert.ok(!ids.includes(asker.toString('latin1')), 'never the asking peer');
  }
  // A cacher asking gets the other acceptors first, not itself.
  const fromCacher = ((await announce(tracker.announceUrl, hash, acceptors[0], 7304, 2)).peers as BDict[]).map((p) => Buffer.from(p['peer id'] as Uint8Array).toString('latin1'));
  assert.deepEqual(fromCacher.sort(), [acceptors[1], acceptors[2]].map((a) => a.toString('latin1')).sort());

  // The real Swarm class has the peer list the patch reads (else it falls back to the package's answer).
  await installTrackerPatches();
  const { Server } = await import('bittorrent-tracker');
  const server = new Server({ http: true, udp: false, ws: false, stats: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const url = `http://127.0.0.1:${(server.http!.address() as { port: number }).port}/announce`;
    await announce(url, hash, receivers[0], 7400, 10);
    const swarm = server.torrents[hash] as unknown as Parameters<typeof hasPeerList>[0];
    assert.equal(hasPeerList(swarm), true);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // The ordering itself: at most numwant, the acceptors first.
  const peers = [...receivers, ...acceptors].map((p) => ({ peerId: p.toString('hex'), type: 'http' }));
  const some = reachableFirst(peers, 3, receivers[0].toString('hex'), (h) => acceptors.some((a) => a.toString('hex') === h));
  assert.deepEqual(some.map((p) => p.peerId).sort(), acceptors.map((a) => a.toString('hex')).sort());
});

test('the seeding patches fail loudly at installation when what they wrap is missing', () => {
  assert.throws(() => patchShownPieces({}, {}), /Torrent#_onWireWithMetadata is missing/);
  assert.throws(() => patchShownPieces({ _onWireWithMetadata() {} }, { bitfield() {}, haveAll() {} }), /Wire#haveNone is missing/);
  assert.throws(() => patchLastResort({}), /Torrent#_request is missing/);
  assert.throws(() => patchTrackerPeers({}, () => true), /Swarm#_getPeers is missing/);
});
