// src/transfer/bt/patches/ against the real classes (the framer and the piece buffers are in
// patch-buffers.test.ts): the version check (this install passes; a wrong version or a
// second nested copy is named; the daemon refuses to start on one), and, on a real transfer
// between two real clients over loopback with a real tracker:
// - piece-state: pieces nobody asked for share one frozen Piece and stay so, verified ones
//   are null, reservations start null, `_hashes[i]` is the torrent's hash, a piece found
//   missing on disk at the add is pristine again; the data arrives byte for byte;
// - ut-metadata: no connection holds or offers the torrent's metadata;
// - pipeline-cap: the peer's handshake record carries the cap, and a wire without the
//   record is a loud error; reannounce: the tracker hears an update; a torrent without
//   discovery internals is a loud error;
// - the fence: no file of src/ outside patches/ imports a patched class.
// reconnect.ts is tested in reconnect.test.ts, tracker-answer.ts in tracker.test.ts,
// shown-pieces.ts, last-resort.ts and tracker-peers.ts in seeding-patches.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Server } from 'bittorrent-tracker';
import type { Torrent, Wire } from 'webtorrent';
import { makeDcp, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot, REPO_ROOT } from '../../tools/harness/daemon.ts';
import type { BtClient } from '../../src/transfer/bt/bt-client.ts';
import { startBtPair, type BtPair } from '../helpers/bt-pair.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { readTorrent } from '../../src/transfer/bt/torrent-file.ts';
import { fileStore } from '../../src/transfer/bt/file-store.ts';
import { libraryProblems, checkBtLibraries, PATCHED_PACKAGES } from '../../src/transfer/bt/patches/versions.ts';
import { capPipeline } from '../../src/transfer/bt/patches/pipeline-cap.ts';
import { reannounce } from '../../src/transfer/bt/patches/reannounce.ts';
import { isBft2Error } from '../../src/errors/catalogue.ts';

const KiB = 1024;
let tmp: string;
let dcp: MadeDcp;
let torrentFile: string;
let tracker: InstanceType<typeof Server>;
let announceUrl: string;
const announces: string[] = [];
let pair: BtPair | undefined;
let seeder: BtClient;
let leecher: BtClient;

before(async () => {
  tmp = await makeTempRoot();
  tracker = new Server({ http: true, udp: false, ws: false, stats: false });
  for (const ev of ['start', 'update', 'complete', 'stop']) tracker.on(ev, () => announces.push(ev));
  await new Promise<void>((resolve) => tracker.listen(0, '127.0.0.1', () => resolve()));
  announceUrl = `http://127.0.0.1:${(tracker.http!.address() as AddressInfo).port}/announce`;
  dcp = await makeDcp(path.join(tmp, 'seed'), 'pieces', [
    { file: 'reel.mxf', size: 2 * 1024 * KiB + 5 },
    { file: 'CPL.xml', size: 3000 },
  ]);
  torrentFile = path.join(tmp, 'pieces.torrent');
  await makeTorrent({ dir: dcp.dir, tracker: announceUrl, outFile: torrentFile, pieceLength: 16 * KiB });
  pair = await startBtPair(torrentFile, dcp.dir);
  ({ seeder, leecher } = pair);
});

after(async () => {
  await pair?.close();
  await new Promise<void>((resolve) => tracker.close(() => resolve()));
  await rm(tmp, { recursive: true, force: true });
});

test('versions: this install is exactly what the patches were written for', () => {
  assert.deepEqual(libraryProblems(), []);
  assert.doesNotThrow(() => checkBtLibraries());
  assert.deepEqual(
    PATCHED_PACKAGES.map((p) => p.name),
    ['webtorrent', 'bittorrent-protocol', 'torrent-piece', 'ut_metadata', 'torrent-discovery', 'bittorrent-tracker'],
  );
});

/** A node_modules tree with each patched package at `versions`, and `nested` copies under their loader. */
async function fakeTree(dir: string, versions: Record<string, string>, nested: Record<string, string> = {}): Promise<string> {
  const write = async (d: string, version: string) => {
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'package.json'), JSON.stringify({ version }));
  };
  for (const p of PATCHED_PACKAGES) await write(path.join(dir, 'node_modules', p.name), versions[p.name] ?? p.version);
  for (const [name, version] of Object.entries(nested)) {
    const loader = PATCHED_PACKAGES.find((p) => p.name === name)!.loadedBy;
    await write(path.join(dir, 'node_modules', loader, 'node_modules', name), version);
  }
  const from = path.join(dir, 'src', 'transfer');
  await mkdir(from, { recursive: true });
  return from;
}

test('versions: another version, or a second copy under its loader, is named; BT_LIBRARY_VERSION', async () => {
  const from = await fakeTree(path.join(tmp, 'tree1'), { webtorrent: '2.8.6' }, { 'torrent-piece': '3.0.3' });
  const problems = libraryProblems(from);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0], /^webtorrent is 2\.8\.6, the patches are for 2\.8\.5/);
  assert.match(problems[1], /^webtorrent loads its own torrent-piece \(.*tree1\/node_modules\/webtorrent\/node_modules\/torrent-piece, 3\.0\.3\), not the patched /);
  assert.throws(
    () => checkBtLibraries(from),
    (err: unknown) => isBft2Error(err) && err.code === 'BT_LIBRARY_VERSION' && /^BitTorrent libraries do not match the versions bft2 patches: webtorrent is 2\.8\.6/.test(err.message),
  );
  assert.deepEqual(libraryProblems(await fakeTree(path.join(tmp, 'tree2'), {})), []);
});

test('versions: a daemon whose webtorrent is another version does not start (exit 78, the message names it)', async () => {
  // A copy of the program whose node_modules links every package but webtorrent, a copy at 2.8.4.
  const app = path.join(tmp, 'app');
  await cp(path.join(REPO_ROOT, 'src'), path.join(app, 'src'), { recursive: true });
  await cp(path.join(REPO_ROOT, 'package.json'), path.join(app, 'package.json'));
  await mkdir(path.join(app, 'node_modules'));
  for (const name of await readdir(path.join(REPO_ROOT, 'node_modules'))) {
    if (name !== 'webtorrent') await symlink(path.join(REPO_ROOT, 'node_modules', name), path.join(app, 'node_modules', name));
  }
  await cp(path.join(REPO_ROOT, 'node_modules', 'webtorrent'), path.join(app, 'node_modules', 'webtorrent'), { recursive: true });
  const pkg = JSON.parse(await readFile(path.join(app, 'node_modules', 'webtorrent', 'package.json'), 'utf8'));
  await writeFile(path.join(app, 'node_modules', 'webtorrent', 'package.json'), JSON.stringify({ ...pkg, version: '2.8.4' }));
  const root = path.join(tmp, 'approot');
  await mkdir(path.join(root, 'etc', 'bft2'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'bft2', 'config.json'), JSON.stringify({ servertype: 'receiver', apilisten: '127.0.0.1:1', btport: 0 }));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(app, 'src', 'cli', 'main.ts'), '--root', root, 'daemon'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 78, out);
  assert.match(out, /BitTorrent libraries do not match the versions bft2 patches: webtorrent is 2\.8\.4, the patches are for 2\.8\.5/);
  assert.equal(await readdir(path.join(root, 'var')).catch(() => 'none'), 'none', 'nothing started: no log, no lock');
});

type Internals = Torrent & { pieces: unknown[]; _reservations: unknown[]; _hashes: ArrayLike<string> };

function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() > end ? reject(new Error(`timed out: ${what}`)) : setTimeout(tick, 20));
    tick();
  });
}

test('piece-state, ut-metadata, pipeline-cap, reannounce on a real transfer between two clients', async () => {
  const read = readTorrent(await readFile(torrentFile));
  const n = read.info.pieceCount;
  const dir = path.join(tmp, 'leech');
  const t = leecher.add(read, {
    path: dir,
    deselect: true,
    bitfield: new Uint8Array(Math.ceil(n / 8)),
    storeCacheSlots: 0,
    store: fileStore({ writable: true, pathOf: (rel, d, name) => path.join(d, name, rel) }),
  }) as Internals;
  // Listened for at once: the announces below tell the leecher of the seed, and it may dial before addPeer.
  const wires: Wire[] = [];
  t.on('wire', (w: Wire) => {
    wires.push(w);
    capPipeline(w, 8, (err) => assert.fail(String(err)));
  });
  await new Promise<void>((resolve) => t.once('ready', () => resolve()));
  const pristine = t.pieces[0];
  assert.ok(pristine && Object.isFrozen(pristine), 'a frozen pristine piece');
  assert.ok(t.pieces.slice(0, n - 1).every((p) => p === pristine), 'one Piece object shared by every piece nobody asked for');
  assert.ok(t.pieces[n - 1] !== pristine && Object.isFrozen(t.pieces[n - 1]), 'the short last piece has its own');
  assert.throws(() => ((pristine as { missing: number }).missing = 0), TypeError, 'a write to a pristine piece throws');
  assert.ok(t._reservations.every((r) => r === null));
  for (const i of [0, 7, n - 1]) assert.equal(t._hashes[i], Buffer.from(read.pieceHashes.subarray(i * 20, i * 20 + 20)).toString('hex'));

  // Announced now: the tracker hears an update besides the start.
  await waitFor(() => announces.includes('start'), 'the first announce');
  const before = announces.filter((a) => a === 'update').length;
  assert.equal(reannounce(t), true);
  await waitFor(() => announces.filter((a) => a === 'update').length > before, 'an update announce');

  // The first half only: the other half's pieces are never made.
  const half = Math.floor(n / 2);
  t.addPeer(`127.0.0.1:${seeder.port}`);
  t.select(0, half - 1);
  await waitFor(() => Array.from({ length: half }, (_, i) => t.bitfield!.get(i)).every(Boolean), 'the first half');
  assert.ok(t.pieces.slice(0, half).every((p) => p === null), 'verified pieces are null');
  assert.ok(t.pieces.slice(half, n - 1).every((p) => p === pristine), 'the unselected half was never made');
  const got = await readFile(path.join(dir, 'pieces', 'reel.mxf'));
  const want = await readFile(path.join(dcp.dir, 'reel.mxf'));
  // CPL.xml (3000 bytes) comes first in the torrent, then the reel.
  const reelDone = half * 16 * KiB - 3000;
  assert.ok(got.subarray(0, reelDone).equals(want.subarray(0, reelDone)), 'the first half byte for byte');

  assert.ok(wires.length > 0, 'a connection to the seed');
  const wire = wires[0] as Wire & { ut_metadata: { metadata: unknown }; extendedHandshake: Record<string, unknown>; peerExtendedHandshake: Record<string, unknown> };
  assert.equal(wire.ut_metadata.metadata, null, 'the connection holds no copy of the metadata');
  assert.equal(wire.extendedHandshake.metadata_size, undefined, 'nor offers it');
  assert.equal(wire.peerExtendedHandshake.metadata_size, undefined, 'the seed (bft2) does not offer it either');
  assert.ok(Number(wire.peerExtendedHandshake.reqq) <= 8, `reqq capped: ${String(wire.peerExtendedHandshake.reqq)}`);

  // The rest, to the end.
  t.select(half, n - 1);
  await new Promise<void>((resolve) => (t.done ? resolve() : t.once('done', () => resolve())));
  assert.ok((await readFile(path.join(dir, 'pieces', 'reel.mxf'))).equals(want));
  await new Promise<void>((resolve) => t.destroy({ destroyStore: false }, () => resolve()));

  // Added again without a bitfield: every piece is checked on disk, a missing one is pristine again.
  const fh = await import('node:fs/promises').then((f) => f.open(path.join(dir, 'pieces', 'reel.mxf'), 'r+'));
  await fh.write(Buffer.alloc(100, 1), 0, 100, 5 * 16 * KiB);
  await fh.close();
  const again = leecher.add(read, { path: dir, deselect: true, storeCacheSlots: 0, store: fileStore({ writable: true, pathOf: (rel, d, name) => path.join(d, name, rel) }) }) as Internals;
  await new Promise<void>((resolve) => again.once('ready', () => resolve()));
  assert.equal(again.bitfield!.get(5), false);
  assert.ok(Object.isFrozen(again.pieces[5]), 'the damaged piece is a pristine one, not a Piece of its own');
  assert.ok(again.pieces.every((p, i) => (i === 5 ? p !== null : p === null)));
  await new Promise<void>((resolve) => again.destroy({ destroyStore: false }, () => resolve()));
});

test('pipeline-cap and reannounce fail loudly when the internals they read are missing', () => {
  assert.throws(() => capPipeline({ on() {} } as unknown as Wire, 8, () => {}), /Wire#peerExtendedHandshake is missing/);
  assert.throws(() => reannounce({} as Torrent), /Torrent#discovery\.tracker is missing/);
  assert.throws(() => reannounce({ discovery: { tracker: {} } } as unknown as Torrent), /Client#update is missing/);
  assert.equal(reannounce({ discovery: { tracker: null } } as unknown as Torrent), false, 'a torrent without trackers');
});

test('the fence: only patches/ imports the classes it patches', async () => {
  const patchedImports = /from '(bittorrent-protocol|torrent-piece|ut_metadata|torrent-discovery|webtorrent\/lib\/[^']*)'|import\('(bittorrent-protocol|torrent-piece|ut_metadata|torrent-discovery|webtorrent\/lib\/[^']*)'\)/;
  const offenders: string[] = [];
  const src = path.join(REPO_ROOT, 'src');
  for (const entry of await readdir(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const file = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    if (file.startsWith(path.join(src, 'transfer', 'bt', 'patches') + path.sep)) continue;
    if (patchedImports.test(await readFile(file, 'utf8'))) offenders.push(path.relative(REPO_ROOT, file));
  }
  assert.deepEqual(offenders, []);
});
