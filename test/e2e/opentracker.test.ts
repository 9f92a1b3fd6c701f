// opentracker as the seed's fleet runs it (issue 23 point 2, SPEC §12): Debian's opentracker
// in whitelist mode on loopback is the only tracker; the sender has `trackerwhitelist` and
// `trackerreload` (the tracker's PID file).
// - before the sender publishes, the tracker refuses the DCP's info-hash; publishing adds
//   the hash to the whitelist (once, beside the operator's own lines) and HUPs the tracker,
//   which then answers for it; a receiver downloads the DCP through it, byte for byte;
// - a sender without the whitelist keys seeds a torrent the tracker refuses; once the
//   operator adds the hash and HUPs the tracker, the tracker learns of the seed by its next
//   announce within a minute.
// Every wait is bounded; about a minute and a half in all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, type Daemon } from '../../tools/harness/daemon.ts';
import { opentrackerSenderConfig } from '../../tools/harness/sender-config.ts';
import { startOpentracker, trackerRefusal, trackerScrape, type Opentracker } from '../../tools/harness/opentracker.ts';
import { readTorrentFiles } from '../../src/transfer/bt/make-torrent.ts';
import { confirmListed } from '../../src/transfer/bt/tracker-whitelist.ts';

const MiB = 1024 * 1024;
const tuning = { hashstable: '300ms', retrydelay: '200ms', seedcheck: '2000ms' };
let base: string;
let tracker: Opentracker;
let sender: Daemon;
let receiver: Daemon;
const senderRoot = () => path.join(base, 'sender');
const dcps = () => path.join(senderRoot(), 'data/dcp/cfec-001/dcps');
/** The operator's own line, which bft2 must keep. */
const OPERATOR_LINE = '1111111111111111111111111111111111111111 a DCP of the old system';

before(async () => {
  base = await makeTempRoot();
  // As the fleet: the whitelist in /etc/opentracker, the PID file in /run (both under the sender's root).
  tracker = await startOpentracker({ dir: path.join(senderRoot(), 'etc/opentracker'), host: '127.0.0.1', port: await freePort(), pidFile: path.join(senderRoot(), 'run/opentracker.pid') });
  await appendFile(tracker.whitelist, `${OPERATOR_LINE}\n`);
  tracker.reload();
  sender = await startDaemon({ root: senderRoot(), tuning, config: await opentrackerSenderConfig(tracker.announceUrl, { 'bt-obs-cdn': '1:0:0' }) });
  receiver = await startDaemon({ root: path.join(base, 'receiver'), tuning, config: {} });
});

after(async () => {
  await Promise.allSettled([receiver?.stop(), sender?.stop()]);
  await tracker?.stop();
  await rm(base, { recursive: true, force: true });
});

/** gentask 1:0:0 into a task file outside the sender's spool (nothing is sent yet); the task and its info-hash. */
async function generate(name: string): Promise<{ dcp: MadeDcp; taskfile: string; task: Record<string, any>; infoHash: string }> {
  const dcp = await makeDcp(dcps(), name, [
    { file: 'reel1_picture.mxf', size: 5 * MiB + 17 },
    { file: 'reel1_sound.mxf', size: MiB + 5 },
    { file: 'ASSETMAP.xml', size: 1466 },
    { file: 'extra/CPL.xml', size: 2100 },
  ]);
  const taskfile = path.join(base, 'made', `cfec-001-${name}.task.json`);
  await mkdir(path.dirname(taskfile), { recursive: true });
  const g = await sender.api('gentask', { dcppath: dcp.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime', seedtime: '1' });
  assert.equal(g.return_status, 'true', JSON.stringify(g));
  await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: dcp.dir, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs: 30_000, what: `gentask ${name}` });
  const task = JSON.parse(await readFile(taskfile, 'utf8'));
  const infoHash = (await readTorrentFiles(await readFile(path.join(dcps(), `${name}.torrent`)))).infoHash;
  return { dcp, taskfile, task, infoHash };
}

async function publish(taskfile: string): Promise<void> {
  const sent = await sender.api('send', { taskfile, reactive: 'false' });
  assert.equal(sent.return_status, 'true', JSON.stringify(sent));
  let last: unknown;
  await waitFor(
    async () => {
      const r = await sender.api('uploadprogress', { taskfile: path.basename(taskfile) });
      last = r.return_content;
      return r.return_content.status === 'ready' || undefined;
    },
    { timeoutMs: 30_000, what: `${path.basename(taskfile)} ready` },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: last ${JSON.stringify(last)}\n${(await readFile(sender.paths.log, 'utf8')).slice(-4000)}`);
  });
}

test('a sender publishes through opentracker: refused before, whitelisted (once, the operator\'s lines kept) and HUPed, then a receiver downloads through it', async () => {
  const { dcp, taskfile, task, infoHash } = await generate('feature');
  assert.match((await trackerRefusal(tracker.announceUrl, infoHash)) ?? 'answered', /not authorized/, 'the tracker refuses a hash it does not list');

  await publish(taskfile);
  const listed = (await readFile(tracker.whitelist, 'utf8')).split('\n');
  assert.equal(listed.filter((l) => l === infoHash).length, 1, `the whitelist lists ${infoHash} once:\n${listed.join('\n')}`);
  assert.ok(listed.includes(OPERATOR_LINE), 'the operator\'s line is kept');
  assert.match(await readFile(sender.paths.log, 'utf8'), new RegExp(`cfec-001-feature: tracker whitelist: added ${infoHash} to \\S+whitelist.txt; the tracker re-read it`));
  assert.doesNotMatch(await readFile(sender.paths.log, 'utf8'), /still refuses/, 'the tracker had read its whitelist before the seed started');
  assert.equal(await trackerRefusal(tracker.announceUrl, infoHash), undefined, 'the tracker answers for the hash now');
  // The sender's seed announced itself (left=0) once the tracker listed it.
  await waitFor(async () => (await trackerScrape(tracker.announceUrl, infoHash)).complete >= 1 || undefined, { timeoutMs: 20_000, what: 'the sender\'s seed known to the tracker' });

  const incoming = path.join(base, 'tms', path.basename(taskfile));
  await mkdir(path.dirname(incoming), { recursive: true });
  await writeFile(incoming, JSON.stringify(task));
  const r = await receiver.api('recv', { taskfile: incoming, reactive: 'false' });
  assert.equal(r.return_content.desc, 'succeed!', JSON.stringify(r));
  await waitFor(() => stat(path.join(receiver.paths.downloaded, path.basename(taskfile))).then(() => true), { timeoutMs: 60_000, intervalMs: 250, what: 'the receiver to store the DCP' }).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await readFile(receiver.paths.log, 'utf8')).slice(-4000)}`);
  });
  for (const f of dcp.filelist) assert.equal(await sha1File(path.join(receiver.paths.dcp, 'feature', f.file)), f.hash, f.file);
  // Published again (reactive): nothing is added twice.
  const again = await sender.api('send', { taskfile: path.join(senderRoot(), 'data/sender/uploaded', path.basename(taskfile)), reactive: 'true' });
  assert.equal(again.return_status, 'true', JSON.stringify(again));
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: path.basename(taskfile) })).return_content.status === 'ready' || undefined, { timeoutMs: 30_000, what: 'ready again' });
  assert.equal((await readFile(tracker.whitelist, 'utf8')).split('\n').filter((l) => l === infoHash).length, 1, 'still listed once');
});

test('confirmListed: the tracker is asked as the seed until it answers; a hash it does not list is named with its refusal', async () => {
  const listed = '2222222222222222222222222222222222222222';
  await appendFile(tracker.whitelist, `${listed}\n`);
  tracker.reload();
  assert.deepEqual(await confirmListed(tracker.announceUrl, [listed], 7001), []);
  const t0 = Date.now();
  const refused = await confirmListed(tracker.announceUrl, ['3333333333333333333333333333333333333333'], 7001);
  assert.deepEqual(refused, [{ hash: '3333333333333333333333333333333333333333', reason: 'Requested download is not authorized for use with this tracker.' }]);
  assert.ok(Date.now() - t0 >= 4500 && Date.now() - t0 < 8000, `asked for about 5 s: ${Date.now() - t0} ms`);
  assert.deepEqual(await confirmListed('udp://127.0.0.1:1/announce', ['3333333333333333333333333333333333333333'], 7001), [], 'UDP trackers are not asked');
});

test(
  'a seed the tracker refused is known to it within a minute of the operator adding its hash (the next announce comes soon after a failure)',
  { timeout: 180_000 },
  async () => {
    // The operator's way before bft2 kept the whitelist: no whitelist keys, the hash added by hand.
    const config = JSON.parse(await readFile(path.join(senderRoot(), 'etc/bft2/config.json'), 'utf8'));
    delete config.trackerwhitelist;
    delete config.trackerreload;
    await writeFile(path.join(senderRoot(), 'etc/bft2/config.json'), JSON.stringify(config, null, 2));
    assert.match((await sender.get('/reloadconf')).body, /reload config.json ok/);
    const { taskfile, infoHash } = await generate('late');
    await publish(taskfile);
    assert.match((await trackerRefusal(tracker.announceUrl, infoHash)) ?? 'answered', /not authorized/, 'the tracker refuses the seed\'s hash');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await trackerScrape(tracker.announceUrl, infoHash)).complete, 0, 'the refused seed is unknown to the tracker');

    await appendFile(tracker.whitelist, `${infoHash}\n`);
    tracker.reload();
    const t0 = Date.now();
    await waitFor(async () => (await trackerScrape(tracker.announceUrl, infoHash)).complete >= 1 || undefined, { timeoutMs: 65_000, intervalMs: 500, what: 'the seed\'s next announce after its hash was whitelisted' });
    const s = (Date.now() - t0) / 1000;
    console.log(`# the refused seed announced again ${s.toFixed(1)} s after its hash was whitelisted`);
    assert.ok(s <= 60, `${s} s`);
  },
);
