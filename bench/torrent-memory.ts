// Benchmark of what one torrent with very many pieces costs a receiver (issue 20: a torrent
// of 524,288 pieces, one 8 GiB file in 16 KiB pieces, took a receiver from 101 to 779 MB).
// A seeder process (tools/harness/seeder-child.ts: bft2's own client and seed) serves a
// sparse file of zeros through an embedded tracker; the torrent is made here (every piece
// of zeros has the same hash, so nothing is read). A fresh receiver daemon gets a BT task
// for it; its RSS is sampled from the drop while the torrent is added and until
// BENCH_FLOW_MB of pieces have been written (or BENCH_TIMEOUT_S), then the task is
// cancelled. The same run with a control torrent of the same piece length but BENCH_SMALL_MB
// of data (so few pieces) tells the torrent's own cost from that of the flow.
// Prints every run, then the medians: idle RSS, peak RSS, peak minus idle, for both torrents.
// Env: BENCH_RUNS (3), BENCH_BIG_GB (8), BENCH_SMALL_MB (512), BENCH_PIECE_KB (16),
// BENCH_FLOW_MB (256), BENCH_TIMEOUT_S (120). A report, not a gate: it always exits 0.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { bencode } from '../src/transfer/bt/bencode.ts';
import { startTracker } from '../src/transfer/bt/tracker.ts';
import { makeTempRoot, startDaemon, waitFor } from '../tools/harness/daemon.ts';
import { spawnSeeder } from '../tools/harness/seeder.ts';
import { Cleanup, describeMachine, machineLoad, mb, median, MiB, positiveInt, rssKb, runBench, sampleRss } from './lib/common.ts';

const runs = positiveInt(process.env.BENCH_RUNS, 3);
const bigBytes = positiveInt(process.env.BENCH_BIG_GB, 8) * 1024 * MiB;
const smallBytes = positiveInt(process.env.BENCH_SMALL_MB, 512) * MiB;
const pieceLength = positiveInt(process.env.BENCH_PIECE_KB, 16) * 1024;
const flowBytes = positiveInt(process.env.BENCH_FLOW_MB, 256) * MiB;
const timeoutMs = positiveInt(process.env.BENCH_TIMEOUT_S, 120) * 1000;
const BASESUBDIR = 'cfec-001';
const cleanup = new Cleanup();
cleanup.trapSignals();

interface Made {
  name: string;
  size: number;
  torrent: Buffer;
  pieces: number;
}

/** A one-file directory torrent of `size` zero bytes; the file is made sparse under `parent/name`. */
async function zeroTorrent(parent: string, name: string, size: number, announce: string): Promise<Made> {
  await mkdir(path.join(parent, name), { recursive: true });
  const fh = await open(path.join(parent, name, 'video.mxf'), 'w');
  await fh.truncate(size);
  await fh.close();
  const count = Math.ceil(size / pieceLength);
  const full = createHash('sha1').update(Buffer.alloc(pieceLength)).digest();
  const last = size % pieceLength === 0 ? full : createHash('sha1').update(Buffer.alloc(size % pieceLength)).digest();
  const pieces = Buffer.alloc(count * 20);
  for (let i = 0; i < count; i++) (i === count - 1 ? last : full).copy(pieces, i * 20);
  const torrent = bencode({
    announce,
    'announce-list': [[announce]],
    info: { name, 'piece length': pieceLength, pieces, files: [{ length: size, path: ['video.mxf'] }] },
  });
  return { name, size, torrent, pieces: count };
}

/** The sha1 of `size` zero bytes, for the task's filelist (never reached: the task is cancelled). */
function zeroSha1(size: number): string {
  const h = createHash('sha1');
  const chunk = Buffer.alloc(64 * MiB);
  for (let left = size; left > 0; left -= chunk.length) h.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
  return h.digest('hex');
}

function btTask(m: Made, url: string, hash: string): Record<string, unknown> {
  const allDay = '00:00-23:59';
  return {
    sourcetype: 'sender', senderid: 'bench', name: m.name, type: 'dir', senderlocalpath: `/data/dcp/${BASESUBDIR}/dcps`,
    basesubdir: BASESUBDIR, datasource: 'local', size: m.size, 'bt-obs-cdn': '1:0:0', policy: 'fulltime',
    bt: { localtorrent: '', url, tmpurl: '', tracker: '', seedtime: 0, priortime: allDay },
    obs: { url: '', priortime: allDay, ak: '', sk: '', endpoint: '' },
    cdn: { url: '', priortime: allDay },
    filelist: [{ file: 'video.mxf', hash, size: m.size }],
    localsamefiles: [''], btlist: ['video.mxf'], obslist: [''], cdnlist: [''], requesters: [{ vip: '', id: '' }],
    btlistsize: m.size, obslistsize: 0, cdnlistsize: 0, btlistsize2: m.size, obslistsize2: 0, cdnlistsize2: 0,
    gentime: '', sendtime: '', receivetime: '', finishedtime: '',
  };
}

async function wcharOf(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
  return Number(/^wchar:\s+(\d+)/m.exec(io)?.[1] ?? 0);
}

interface Run {
  idleKb: number;
  peakKb: number;
  addedMs: number;
  written: number;
}

/** One fresh receiver gets the torrent's task; RSS from the drop until flowBytes are written. */
async function runOnce(m: Made, url: string, hash: string, i: number): Promise<Run> {
  const root = cleanup.dir(await makeTempRoot());
  const d = await startDaemon({ root, config: { diskreserve: '1GB' } });
  cleanup.onStop(() => d.stop());
  const pid = d.proc.pid!;
  // Settled idle RSS: the median of 3 s of samples.
  const idle: number[] = [];
  for (let s = 0; s < 30; s++) {
    idle.push(await rssKb(pid));
    await new Promise((r) => setTimeout(r, 100));
  }
  const idleKb = median(idle)!;
  const w0 = await wcharOf(pid);
  const sampler = sampleRss(pid);
  const t0 = performance.now();
  const taskFile = `${BASESUBDIR}-${m.name}-${i}.task.json`;
  await writeFile(path.join(d.paths.queues, taskFile), JSON.stringify(btTask(m, url, hash)));
  let addedMs = 0;
  let written = 0;
  await waitFor(
    async () => {
      if (!addedMs && (await readFile(d.paths.log, 'utf8').catch(() => '')).includes(`bt: ${m.name} (`)) addedMs = performance.now() - t0;
      written = (await wcharOf(pid)) - w0;
      return written >= flowBytes || undefined;
    },
    { timeoutMs, intervalMs: 200, what: `${flowBytes} bytes written by the receiver` },
  ).catch((err: Error) => console.log(`  (${err.message})`));
  const { peakKb } = await sampler.stop();
  await d.api('cancel', { taskfile: taskFile }).catch(() => undefined);
  await d.stop();
  await cleanup.forgetDir(root);
  return { idleKb, peakKb, addedMs, written };
}

async function main(): Promise<void> {
  console.log(`bench-torrent-memory: ${describeMachine()}`);
  const base = cleanup.dir(await makeTempRoot());
  const tracker = await startTracker({ host: '127.0.0.1', port: 0 });
  cleanup.onStop(() => tracker.close());
  const seedParent = path.join(base, 'seed');
  const big = await zeroTorrent(seedParent, 'mem-big', bigBytes, tracker.announceUrl);
  const small = await zeroTorrent(seedParent, 'mem-small', smallBytes, tracker.announceUrl);
  const files = new Map<string, Buffer>();
  for (const m of [big, small]) {
    const f = path.join(base, `${m.name}.torrent`);
    await writeFile(f, m.torrent);
    files.set(`/${m.name}.torrent`, m.torrent);
  }
  const server = http.createServer((req, res) => {
    const body = files.get(req.url ?? '');
    res.writeHead(body ? 200 : 404, { 'content-length': String(body?.length ?? 0) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.onStop(() => new Promise<void>((r) => server.close(() => r())));
  const base_url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const seeder = await spawnSeeder({ torrents: [big, small].map((m) => ({ torrentFile: path.join(base, `${m.name}.torrent`), parentDir: seedParent, trusted: true })) });
  cleanup.onStop(async () => void (await seeder.stop()));
  console.log(`big: ${big.pieces} pieces of ${pieceLength / 1024} KiB (${(big.torrent.length / 1e6).toFixed(1)} MB torrent); control: ${small.pieces} pieces; ${flowBytes / MiB} MiB of flow each`);
  const hashes = new Map([big, small].map((m) => [m.name, m === big ? '0'.repeat(40) : zeroSha1(m.size)]));
  const results = new Map<string, Run[]>([[big.name, []], [small.name, []]]);
  const load = machineLoad();
  await load.mark();
  for (let i = 0; i < runs; i++) {
    for (const m of [big, small]) {
      const r = await runOnce(m, `${base_url}/${m.name}.torrent`, hashes.get(m.name)!, i);
      results.get(m.name)!.push(r);
      console.log(`  run ${i + 1} ${m.name}: idle ${mb(r.idleKb)}, peak ${mb(r.peakKb)}, +${mb(r.peakKb - r.idleKb)}; added after ${(r.addedMs / 1000).toFixed(1)} s, ${(r.written / MiB).toFixed(0)} MiB written`);
    }
  }
  console.log(`machine meanwhile: ${await load.report()}`);
  for (const m of [big, small]) {
    const rs = results.get(m.name)!;
    const deltas = rs.map((r) => r.peakKb - r.idleKb);
    console.log(
      `${m.name} (${m.pieces} pieces): idle ${mb(median(rs.map((r) => r.idleKb))!)}, peak ${mb(median(rs.map((r) => r.peakKb))!)}, ` +
        `peak - idle median ${mb(median(deltas)!)} (min ${mb(Math.min(...deltas))}, max ${mb(Math.max(...deltas))})`,
    );
  }
}

await runBench('bench-torrent-memory', main, cleanup);
