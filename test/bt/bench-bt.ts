// Benchmark, not a test (run by hand): torrent creation against sha1sum and create-torrent,
// and a BtMethod download from a seeder child process over loopback.
//   node --import tsx test/bt/bench-bt.ts [sizeMiB=1024]
// Owns only its temp directory.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import createTorrent from 'create-torrent';
import { makeDcp } from '../helpers/dcp-fixture.ts';
import { makeTempRoot } from '../helpers/daemon.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { makeTorrent } from '../../src/transfer/bt/make-torrent.ts';
import { startTracker } from '../../src/transfer/bt/tracker.ts';
import { createBtClient } from '../../src/transfer/bt/bt-client.ts';
import { BtMethod } from '../../src/transfer/bt/bt-method.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { spawnSeeder, makeJob } from './helpers.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 1024);
const tmp = await makeTempRoot();
const ms = (t0: number) => Math.round(performance.now() - t0);
try {
  const store = path.join(tmp, 'store');
  const dcps = path.join(store, 'cfec', 'dcps');
  const dcp = await makeDcp(dcps, 'bench', [
    { file: 'CPL.xml', size: 3000 },
    { file: 'reel.mxf', size: sizeMiB * MB },
  ]);
  const reel = path.join(dcp.dir, 'reel.mxf');
  for (let i = 0; i < 3; i++) {
    let t0 = performance.now();
    await run('sha1sum', [reel]);
    const sha1sum = ms(t0);
    t0 = performance.now();
    await makeTorrent({ dir: dcp.dir, tracker: 'http://127.0.0.1:1/announce', outFile: path.join(tmp, 'x.torrent') });
    const mine = ms(t0);
    t0 = performance.now();
    await makeTorrent({ dir: dcp.dir, tracker: 'http://127.0.0.1:1/announce', outFile: path.join(tmp, 'x.torrent'), fileSha1: true });
    const mineSha1 = ms(t0);
    t0 = performance.now();
    await new Promise((resolve, reject) => createTorrent(dcp.dir, { announce: ['http://127.0.0.1:1/announce'] }, (e: Error | null) => (e ? reject(e) : resolve(null))));
    const ct = ms(t0);
    console.log(`${sizeMiB} MiB: sha1sum ${sha1sum} ms, makeTorrent ${mine} ms, makeTorrent+file sha1 ${mineSha1} ms, create-torrent ${ct} ms`);
  }

  const tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  await makeTorrent({ dir: dcp.dir, tracker: tracker.announceUrl, outFile: path.join(dcps, 'bench.torrent') });
  const origin = await startTestOrigin(store);
  const seeder = await spawnSeeder({ torrents: [{ torrentFile: path.join(dcps, 'bench.torrent'), parentDir: dcps, trusted: true }] });
  const client = await createBtClient({ port: 0, log: silentLogger() });
  for (const strategy of ['rarest', 'sequential'] as const) {
    const base = path.join(tmp, `dl-${strategy}`);
    let first = 0;
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const t0 = performance.now();
    const r = makeJob({
      files: dcp.filelist,
      stagingDir: path.join(base, 'staging'),
      targetDir: path.join(base, 'target'),
      url: `${origin.url}/dcp/cfec/dcps/bench.torrent`,
      onBytes: () => (first ||= performance.now()),
    });
    await new BtMethod(client, { strategy }).download(r.job);
    const total = ms(t0);
    clearInterval(sampler);
    const data = Math.round(performance.now() - first);
    console.log(
      `BtMethod ${strategy}: ${sizeMiB} MiB in ${total} ms (${(sizeMiB / (total / 1000)).toFixed(0)} MiB/s), first verified piece after ${Math.round(first - t0)} ms, then ${(sizeMiB / (data / 1000)).toFixed(0)} MiB/s; peak RSS of this process ${Math.round(peakRss / MB)} MiB`,
    );
    await rm(base, { recursive: true, force: true });
  }
  await client.close();
  await seeder.stop();
  await origin.close();
  await tracker.close();
} finally {
  await rm(tmp, { recursive: true, force: true });
}
