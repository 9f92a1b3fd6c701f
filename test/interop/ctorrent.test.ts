// bft2 beside the seed system's own BitTorrent client (issue 23 points 4 and 5): Debian's
// ctorrent and opentracker (whitelist mode) on loopback, a real bft2 sender and receiver.
// - `ctorrent -c` accepts the full and the `-tmp` torrent bft2 writes for a multi-file DCP
//   with subdirectories;
// - the old system's torrent (`ctorrent -t`, files in directory order, so another info-hash
//   than bft2's own) is adopted by `bft2 gentask --use-torrent`: the same bytes, the same
//   info-hash, the task's files in its order; a torrent of other data or another DCP is
//   refused, naming what differs;
// - ctorrent seeds to bft2: an old cinema's ctorrent is the only seed, and a bft2 receiver
//   downloads the adopted task through opentracker and verifies it;
// - bft2 seeds to ctorrent: the sender publishes the adopted task (its hash, already on the
//   whitelist, is not added twice) and with the receiver's seed serves a ctorrent leecher
//   the whole DCP, which ctorrent's own check confirms.
// ctorrent takes peers with its own address for itself: each instance gets one of its own
// (127.0.0.2, 127.0.0.3). About a minute in all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, cp, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { opentrackerSenderConfig } from '../../tools/harness/sender-config.ts';
import { startOpentracker, type Opentracker } from '../../tools/harness/opentracker.ts';
import { makeCtorrent, checkWithCtorrent, ctorrentFileOrder, startCtorrent, type CtorrentPeer } from '../../tools/harness/ctorrent.ts';
import { readTorrentFiles, torrentFileOrder } from '../../src/transfer/bt/make-torrent.ts';

const MiB = 1024 * 1024;
const tuning = { hashstable: '300ms', retrydelay: '200ms', seedcheck: '2000ms' };
let base: string;
let tracker: Opentracker;
let sender: Daemon;
let receiver: Daemon;
let old: MadeDcp;
const peers: CtorrentPeer[] = [];
const senderRoot = () => path.join(base, 'sender');
const dcps = () => path.join(senderRoot(), 'data/dcp/cfec-001/dcps');
const OLD = 'oldfeature';
/** The old system's torrent of OLD, as its centre made it. */
const oldTorrent = () => path.join(base, 'oldsystem', `${OLD}.torrent`);
const oldTaskfile = () => path.join(base, 'made', `cfec-001-${OLD}.task.json`);

/** Files written in an order that is not by name (directory order then differs from it). */
const FILES = [
  { file: 'PKL_oldfeature.xml', size: 3917 },
  { file: 'reel2/sound.mxf', size: 2 * MiB + 3 },
  { file: 'ASSETMAP.xml', size: 1466 },
  { file: 'reel1/picture.mxf', size: 6 * MiB + 11 },
  { file: 'CPL_oldfeature.xml', size: 12_001 },
  { file: 'reel1/sound.mxf', size: 2 * MiB + 7 },
  { file: 'VOLINDEX.xml', size: 155 },
  { file: 'reel2/picture.mxf', size: 5 * MiB + 1 },
];

before(async () => {
  base = await makeTempRoot();
  tracker = await startOpentracker({ dir: path.join(senderRoot(), 'etc/opentracker'), host: '127.0.0.1', port: await freePort(), pidFile: path.join(senderRoot(), 'run/opentracker.pid') });
  sender = await startDaemon({ root: senderRoot(), tuning, config: await opentrackerSenderConfig(tracker.announceUrl, { obsurl: 'obs://cfec-001' }) });
  receiver = await startDaemon({ root: path.join(base, 'receiver'), tuning, config: {} });
  old = await makeDcp(dcps(), OLD, FILES);
  await mkdir(path.dirname(oldTorrent()), { recursive: true });
  await makeCtorrent(old.dir, tracker.announceUrl, oldTorrent());
});

after(async () => {
  await Promise.allSettled(peers.map((p) => p.stop()));
  await Promise.allSettled([receiver?.stop(), sender?.stop()]);
  await tracker?.stop();
  await rm(base, { recursive: true, force: true });
});

/** `bin/bft2 --root <sender root> ...`; exit code and output. */
function bft2(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', senderRoot(), ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

async function gentask(params: Record<string, string>): Promise<{ ok: boolean; desc: string }> {
  const g = await sender.api('gentask', { basesubdir: 'cfec-001', policy: 'fulltime', seedtime: '1', ...params });
  if (g.return_status !== 'true') return { ok: false, desc: String(g.return_content?.desc ?? JSON.stringify(g)) };
  const q = await waitFor(
    async () => {
      const c = (await sender.api('taskfilesquery', { dcppath: params.dcppath, taskfile: params.taskfile })).return_content;
      return c.status === 'unfinished' ? undefined : c;
    },
    { timeoutMs: 60_000, what: `gentask ${params.taskfile}` },
  );
  return { ok: q.status === 'finished', desc: String(q.desc) };
}

test('ctorrent -c accepts the full and the -tmp torrent bft2 writes for a multi-file DCP with subdirectories', async () => {
  const dcp = await makeDcp(dcps(), 'newfeature', [
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'CPL.xml', size: 5100 },
    { file: 'reel1/picture.mxf', size: 9 * MiB + 5 },
    { file: 'reel1/sound.mxf', size: 3 * MiB + 1 },
    { file: 'reel2/picture.mxf', size: 7 * MiB + 9 },
    { file: 'reel2/sub/subtitle.xml', size: 20_000 },
  ]);
  const taskfile = path.join(base, 'made', 'cfec-001-newfeature.task.json');
  await mkdir(path.dirname(taskfile), { recursive: true });
  const g = await gentask({ dcppath: dcp.dir, taskfile, btobscdn: '2:1:1' });
  assert.ok(g.ok, g.desc);
  const task = JSON.parse(await readFile(taskfile, 'utf8'));
  assert.ok(task.btlist.length >= 2 && task.btlist.some((f: string) => f.includes('/')), `a share with a subdirectory: ${task.btlist}`);
  const full = await checkWithCtorrent(path.join(dcps(), 'newfeature.torrent'), dcp.dir, path.join(base, 'scratch'));
  assert.ok(full.complete && full.total >= 5, `ctorrent -c of the full torrent: ${full.have}/${full.total}\n${full.output}`);
  const shareDir = path.join(senderRoot(), 'data/dcp/cfec-001/dcps-tmp/newfeature-tmp');
  const share = await checkWithCtorrent(path.join(senderRoot(), 'data/dcp/cfec-001/dcps-tmp/newfeature-tmp.torrent'), shareDir, path.join(base, 'scratch'));
  assert.ok(share.complete && share.total >= 2, `ctorrent -c of the -tmp torrent: ${share.have}/${share.total}\n${share.output}`);
  // A check that can fail: a changed byte is a missing piece to ctorrent.
  const copy = path.join(base, 'changed', 'newfeature');
  await cp(dcp.dir, copy, { recursive: true });
  const fh = await open(path.join(copy, 'reel2/picture.mxf'), 'r+');
  await fh.write(Buffer.from('X'), 0, 1, 1000);
  await fh.close();
  const changed = await checkWithCtorrent(path.join(dcps(), 'newfeature.torrent'), copy, path.join(base, 'scratch'));
  assert.equal(changed.have, changed.total - 1, `one piece of ${changed.total} differs`);
});

test('gentask --use-torrent adopts the old system\'s torrent (ctorrent\'s directory order): same bytes and info-hash, files in its order; other data or another DCP is refused', async () => {
  const order = await ctorrentFileOrder(oldTorrent());
  assert.deepEqual([...order].sort(), FILES.map((f) => f.file).sort());
  assert.notDeepEqual(order, torrentFileOrder(order), `ctorrent's order ${order} differs from bft2's ${torrentFileOrder(order)}`);
  const oldInfo = await readTorrentFiles(await readFile(oldTorrent()));

  // Another DCP's torrent: refused in the answer.
  const other = await makeDcp(path.join(base, 'elsewhere'), 'otherfeature', [{ file: 'a.mxf', size: MiB }]);
  await makeCtorrent(other.dir, tracker.announceUrl, path.join(base, 'elsewhere', 'otherfeature.torrent'));
  const wrong = await gentask({ dcppath: old.dir, taskfile: oldTaskfile(), btobscdn: '1:0:0', usetorrent: path.join(base, 'elsewhere', 'otherfeature.torrent') });
  assert.equal(wrong.ok, false);
  assert.match(wrong.desc, /gentask parameter usetorrent .*otherfeature.torrent.*named "otherfeature", the DCP directory "oldfeature".*not in the DCP: a\.mxf/);
  // The same files and sizes but one changed byte: refused once the pieces are hashed, naming the piece and its file.
  const twin = path.join(base, 'twin', OLD);
  await cp(old.dir, twin, { recursive: true });
  const fh = await open(path.join(twin, 'reel1/picture.mxf'), 'r+');
  await fh.write(Buffer.from('X'), 0, 1, 3 * MiB);
  await fh.close();
  await makeCtorrent(twin, tracker.announceUrl, path.join(base, 'twin', `${OLD}.torrent`));
  const twinOrder = await ctorrentFileOrder(path.join(base, 'twin', `${OLD}.torrent`));
  const bad = await gentask({ dcppath: old.dir, taskfile: oldTaskfile(), btobscdn: '1:0:0', usetorrent: path.join(base, 'twin', `${OLD}.torrent`) });
  assert.equal(bad.ok, false, bad.desc);
  assert.match(bad.desc, /1 of \d+ pieces do not match the DCP's data: piece \d+ \(reel1\/picture\.mxf\)/, `${bad.desc} (twin order ${twinOrder})`);
  await assert.rejects(stat(oldTaskfile()), 'no task file is written for a torrent that does not match');

  // The old system's own torrent, through the command line.
  const r = await bft2(['gentask', old.dir, '--btobscdn', '1:0:0', '--policy', 'fulltime', '--seedtime', '1', '--taskfile', oldTaskfile(), '--use-torrent', oldTorrent(), '--wait', '--timeout', '60']);
  assert.equal(r.code, 0, r.out);
  const adopted = await readFile(path.join(dcps(), `${OLD}.torrent`));
  assert.deepEqual(adopted, await readFile(oldTorrent()), 'the torrent receivers fetch is the old one, byte for byte');
  const task = JSON.parse(await readFile(oldTaskfile(), 'utf8'));
  assert.deepEqual(task.filelist.map((f: { file: string }) => f.file), order, 'the task lists the files in the torrent\'s order');
  for (const f of task.filelist) assert.equal(f.hash, old.filelist.find((x) => x.file === f.file)!.hash, f.file);
  assert.equal(task.bt.tracker, oldInfo.announce[0]);
  assert.match(await readFile(sender.paths.log, 'utf8'), new RegExp(`adopted ${oldTorrent().replace(/[.]/g, '\\.')} \\(${oldInfo.infoHash}, 8 files in its own order, \\d+ pieces checked\\)`));
});

test('ctorrent seeds to bft2: the old cinema\'s ctorrent is the only seed; a bft2 receiver downloads the adopted task through opentracker and verifies it', async () => {
  const infoHash = (await readTorrentFiles(await readFile(oldTorrent()))).infoHash;
  // The old system listed its torrent on the tracker when it published it.
  await appendFile(tracker.whitelist, `${infoHash}\n`);
  tracker.reload();
  const oldCinema = path.join(base, 'oldcinema', OLD);
  await cp(old.dir, oldCinema, { recursive: true });
  const seedPeer = await startCtorrent({ torrentFile: oldTorrent(), dataDir: oldCinema, ip: '127.0.0.2', port: await freePort(), seedHours: 1, scratch: path.join(base, 'oldcinema-ct') });
  peers.push(seedPeer);
  // The task lists the files by name (as a task of the old system may), the torrent in its directory order.
  const task = JSON.parse(await readFile(oldTaskfile(), 'utf8'));
  task.filelist = [...task.filelist].sort((a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : 1));
  task.btlist = task.filelist.map((f: { file: string }) => f.file);
  assert.notDeepEqual(task.btlist, await ctorrentFileOrder(oldTorrent()));
  const incoming = path.join(base, 'tms', path.basename(oldTaskfile()));
  await mkdir(path.dirname(incoming), { recursive: true });
  await writeFile(incoming, JSON.stringify(task, null, 2));
  const r = await receiver.api('recv', { taskfile: incoming, reactive: 'false' });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  const t0 = Date.now();
  await waitFor(() => stat(path.join(receiver.paths.downloaded, path.basename(oldTaskfile()))).then(() => true), { timeoutMs: 90_000, intervalMs: 250, what: 'the receiver to store the DCP from ctorrent' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n--- receiver ---\n${(await readFile(receiver.paths.log, 'utf8')).slice(-4000)}\n--- ctorrent ---\n${seedPeer.output().slice(-3000)}`);
  });
  console.log(`# ${(old.size / MiB).toFixed(1)} MiB from the ctorrent seed to the bft2 receiver in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const f of old.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, OLD, f.file)), f.hash, f.file);
  assert.equal(seedPeer.exited(), false, 'the old cinema still seeds');
  await seedPeer.stop();
});

test('bft2 seeds to ctorrent: the sender publishes the adopted task (its hash not listed twice); with the receiver\'s seed it serves a ctorrent leecher the whole DCP', async () => {
  const infoHash = (await readTorrentFiles(await readFile(oldTorrent()))).infoHash;
  const sent = await sender.api('send', { taskfile: oldTaskfile(), reactive: 'false' });
  assert.equal(sent.return_status, 'true', JSON.stringify(sent));
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: path.basename(oldTaskfile()) })).return_content.status === 'ready' || undefined, { timeoutMs: 30_000, what: 'the sender seeding' });
  assert.equal((await readFile(tracker.whitelist, 'utf8')).split('\n').filter((l) => l === infoHash).length, 1, 'listed once');
  const newCinema = path.join(base, 'newcinema', OLD);
  const leech = await startCtorrent({ torrentFile: oldTorrent(), dataDir: newCinema, ip: '127.0.0.3', port: await freePort(), seedHours: 0, scratch: path.join(base, 'newcinema-ct') });
  peers.push(leech);
  const t0 = Date.now();
  await waitFor(() => leech.isComplete() || (leech.exited() ? Promise.reject(new Error('ctorrent exited')) : undefined), { timeoutMs: 90_000, intervalMs: 200, what: 'the ctorrent leecher to complete' }).catch((err: Error) => {
    throw new Error(`${err.message}:\n${leech.output().slice(-3000)}`);
  });
  console.log(`# ${(old.size / MiB).toFixed(1)} MiB from bft2 to a ctorrent leecher in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await leech.stop();
  for (const f of old.filelist) assert.equal(await sha1File(path.join(newCinema, f.file)), f.hash, f.file);
  const check = await checkWithCtorrent(oldTorrent(), newCinema, path.join(base, 'scratch'));
  assert.ok(check.complete, `ctorrent -c: ${check.have}/${check.total}`);
});
