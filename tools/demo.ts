// `npm run demo` (tools/demo): one whole delivery on loopback, through the API, as a
// distribution centre and its TMS would drive it. Under one temp directory it starts
// s3rver (standing in for OBS, in this process) and three real daemons through the real
// launcher (`bin/bft2 --root <dir> daemon`, each with its own root and free ports): a
// sender (HTTP origin = the CDN, embedded tracker), a cacher and a receiver. It generates
// a small DCP (3 reels of random data + XML) in the sender's store, then
//   gentask 1:1:1 → taskfilesquery finished → send → uploadprogress ready
//   → recv on the cacher and on the receiver,
// shows live bars per method (cli-progress on a terminal, a plain line every 2 s
// elsewhere), checks every received file by sha1 against the sender's, prints a summary
// and removes everything: daemons stopped, s3rver closed, the directory deleted — also on
// Ctrl-C/SIGTERM and on failure. Exit status 0 only when verified (1 failed, 130/143
// interrupted). Every wait is bounded and says what did not happen, with the tail of the
// daemon's log.
//
// The cacher: SPEC §5's `cprogress` when the node answers it; until the cacher role lands
// the daemon receives like a cinema and answers neither `cprogress` (not available yet)
// nor `progress` (a cacher's), so the demo falls back to its spool and transfer area.
//
// Flags: --keep (leave the work directory for inspection; the daemons are stopped anyway).
// Env: BFT2_DEMO_DIR (an existing empty directory to work in; tools/demo makes one and
// sweeps it after, whatever happened to this process).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { request } from 'undici';
import { makeDcp, sha1File } from './harness/dcp-fixture.ts';

const REPO = path.resolve(import.meta.dirname, '..');
const BFT2 = path.join(REPO, 'bin', 'bft2');
const BASESUBDIR = 'demo-001';
const BUCKET = BASESUBDIR;
const NAME = 'Demo_FTR_2K';
const TASK = `${BASESUBDIR}-${NAME}`;
const TASKFILE = `${TASK}.task.json`;
const MiB = 1024 * 1024;
const REELS_MB = [24, 32, 28];
const S3_KEY = 'S3RVER'; // s3rver accepts its own key pair only
type Method = 'bt' | 'obs' | 'cdn';
const METHODS: Method[] = ['bt', 'obs', 'cdn'];

/** Bounds of every wait, in seconds (a loopback delivery of ~84 MB takes well under a minute). */
const LIMIT = { s3: 10, heartbeat: 30, gentask: 45, publish: 45, deliver: 75, stop: 8 };
/** Quick retries and stall cuts (config.json `tuning`), so a broken method fails within seconds, not hours. */
const TUNING = { retrydelay: '500ms', retrymaxdelay: '4s', stall: '15s', btstall: '30s', hashstable: '300ms' };

const keep = process.argv.includes('--keep');
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: npm run demo [-- --keep]\n\nA sender, a cacher and a receiver on loopback deliver a generated DCP by bt:obs:cdn 1:1:1;\nthe received files are checked by sha1 against the sender\'s. --keep leaves the work directory.');
  process.exit(0);
}
const TTY = Boolean(process.stdout.isTTY);
const t0 = performance.now();
const secs = (from = t0) => (performance.now() - from) / 1000;

/** A failure to report: the message says what did not happen (and holds the log tails). */
class DemoError extends Error {}
class Interrupted extends Error {}

// ---------------------------------------------------------------- output

let bars: cliProgress.MultiBar | undefined;
function say(line: string): void {
  // Paths inside the work directory are shown relative to it.
  const text = `[${secs().toFixed(1).padStart(5)} s] ${workDir ? line.split(`${workDir}/`).join('') : line}`;
  if (bars) bars.log(text + '\n');
  else console.log(text);
}
const mb = (bytes: number) => (bytes < MiB ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / MiB).toFixed(1)} MB`);
const rateOf = (bytes: number, s: number) => (s > 0 ? `${(bytes / MiB / s).toFixed(1)} MB/s` : '-');
const pctNum = (v: unknown) => {
  const n = Number.parseFloat(String(v ?? ''));
  return Number.isFinite(n) ? n : 0;
};

// ---------------------------------------------------------------- the parts and their teardown

interface Node {
  name: 'sender' | 'cacher' | 'receiver';
  root: string;
  /** host:port of its API */
  api: string;
  out: string;
  log: string;
  proc?: ChildProcess;
  exit?: string;
  exited?: Promise<void>;
}

let workDir: string | undefined;
let s3: { endpoint: string; close(): Promise<void> } | undefined;
const nodes: Node[] = [];
let closing = false;
const abort = new AbortController();
let interrupted: NodeJS.Signals | undefined;

function checkAbort(): void {
  if (interrupted) throw new Interrupted(`${interrupted}: interrupted`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      abort.signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    abort.signal.addEventListener('abort', done, { once: true });
  });
}

async function stopNode(n: Node): Promise<void> {
  const p = n.proc;
  if (!p?.pid || n.exit !== undefined) return;
  const within = (ms: number) => Promise.race([n.exited!.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  if (await within(LIMIT.stop * 1000)) return;
  say(`the ${n.name} daemon did not stop within ${LIMIT.stop} s of SIGTERM: killed`);
  try {
    process.kill(-p.pid, 'SIGKILL'); // its own process group (spawned detached)
  } catch {
    // gone meanwhile
  }
  await within(2000);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    closing = true;
    stopBars();
    const live = nodes.filter((n) => n.proc && n.exit === undefined);
    await Promise.all(nodes.map(stopNode));
    if (s3) await Promise.race([s3.close().catch(() => {}), sleep(5000)]);
    const parts = [`${live.length} daemon${live.length === 1 ? '' : 's'} stopped`, ...(s3 ? ['s3rver closed'] : [])];
    if (workDir && keep) parts.push(`${workDir} kept (--keep)`);
    else if (workDir) {
      await rm(workDir, { recursive: true, force: true });
      parts.push(`${workDir} removed`);
    }
    console.log(`cleaned up: ${parts.join(', ')}`);
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = sig;
    abort.abort();
    // The flow notices at its next wait; should it not within 15 s, tear down from here.
    setTimeout(() => void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143)), 15_000).unref();
  });
}

async function freePorts(n: number): Promise<number[]> {
  // All held open at once, so the n ports differ.
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer: Server;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

async function startS3(dir: string): Promise<NonNullable<typeof s3>> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  await mkdir(dir, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir,
    silent: true,
    configureBuckets: [{ name: BUCKET }],
    // s3rver's v2 string-to-sign lacks the Date header the OBS SDK signs (see tools/harness/s3-server.ts).
    allowMismatchedSignatures: true,
  });
  const address = await Promise.race([
    server.run(),
    sleep(LIMIT.s3 * 1000).then(() => {
      throw new DemoError(`s3rver did not listen on 127.0.0.1 within ${LIMIT.s3} s`);
    }),
  ]);
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: async () => {
      server.httpServer.closeAllConnections();
      await server.close();
    },
  };
}

async function tail(n: Node, lines = 15): Promise<string> {
  for (const f of [n.log, n.out]) {
    const text = (await readFile(f, 'utf8').catch(() => '')).trimEnd();
    if (text) return `--- last lines of the ${n.name}'s ${path.basename(f)} (${f}) ---\n${text.split('\n').slice(-lines).join('\n')}`;
  }
  return `--- the ${n.name} wrote no log yet (${n.log}) ---`;
}

async function startNode(n: Node, config: Record<string, unknown>, obsbuckets: string): Promise<void> {
  const etc = path.join(n.root, 'etc', 'bft2');
  await mkdir(etc, { recursive: true });
  await writeFile(path.join(etc, 'config.json'), JSON.stringify({ ...config, tuning: TUNING }, null, 2) + '\n');
  await writeFile(path.join(etc, 'obsbuckets.txt'), obsbuckets);
  if (closing) return;
  const fd = openSync(n.out, 'a');
  // Detached: a Ctrl-C on the terminal reaches this script, which stops the daemons in order.
  const proc = spawn(BFT2, ['--root', n.root, 'daemon'], { cwd: REPO, env: process.env, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  n.proc = proc;
  n.exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      n.exit = signal ? `signal ${signal}` : `exit status ${code}`;
      resolve();
    });
    proc.once('error', (err) => {
      n.exit = `could not start: ${err.message}`;
      resolve();
    });
  });
  // For tools/demo's sweep, should this process die without cleaning up.
  if (proc.pid) await writeFile(path.join(workDir!, 'pids', n.name), `${proc.pid}\n`);
  if (closing) await stopNode(n);
}

async function api(n: Node, method: string, params: Record<string, unknown>): Promise<{ ok: boolean; c: Record<string, any> }> {
  const body = JSON.stringify({ message_id: `demo-${randomBytes(3).toString('hex')}`, message_type: 'request', message_source: 'demo', method_name: method, method_params: params });
  let res: Awaited<ReturnType<typeof request>>;
  let text: string;
  try {
    res = await request(`http://${n.api}/${method}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, headersTimeout: 15_000, bodyTimeout: 15_000 });
    text = await res.body.text();
  } catch (err) {
    throw new Error(`the ${n.name}'s API at http://${n.api} did not answer ${method}: ${(err as Error).message}`);
  }
  let a: any;
  try {
    a = JSON.parse(text);
  } catch {
    throw new Error(`the ${n.name}'s ${method}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 200)}`);
  }
  return { ok: a.return_status === 'true', c: a.return_content ?? {} };
}

/** Polls probe until it returns a value; bounded; fails at once when a daemon exits. */
async function waitUntil<T>(what: string, limitS: number, watch: Node[], probe: () => Promise<T | undefined>, last: () => string = () => ''): Promise<T> {
  const deadline = performance.now() + limitS * 1000;
  let lastErr = '';
  for (;;) {
    checkAbort();
    const gone = watch.find((n) => n.exit !== undefined);
    if (gone) throw new DemoError(`the ${gone.name} daemon stopped (${gone.exit}) while waiting for ${what}\n${await tail(gone)}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof DemoError || err instanceof Interrupted) throw err;
      lastErr = (err as Error).message;
    }
    if (performance.now() > deadline) {
      const seen = [last(), lastErr && `last error: ${lastErr}`].filter(Boolean).join('; ');
      const tails = await Promise.all(watch.map((n) => tail(n)));
      throw new DemoError(`${what} did not happen within ${limitS} s${seen ? ` (${seen})` : ''}\n${tails.join('\n')}`);
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------- the DCP

interface DcpFile {
  file: string;
  size: number;
  sha1: string;
}

/** 3 reels of random data (a fresh seed per run) and the four XML files of a SMPTE DCP. */
async function makeDemoDcp(dcps: string): Promise<{ dir: string; files: DcpFile[] }> {
  const seed = randomBytes(8).toString('hex');
  const reels = REELS_MB.map((m, i) => ({ file: `reel${i + 1}_${NAME}.mxf`, size: m * MiB, seed: `${seed}/${i}` }));
  const made = await makeDcp(dcps, NAME, reels);
  const files: DcpFile[] = made.filelist.map((f) => ({ file: f.file, size: f.size, sha1: f.hash }));
  const uuid = () => `urn:uuid:${randomUUID()}`;
  const ids = { cpl: randomUUID(), pkl: randomUUID() };
  const assets = files.map((f) => ({ ...f, id: uuid(), b64: Buffer.from(f.sha1, 'hex').toString('base64') }));
  const xml: Record<string, string> = {
    [`CPL_${ids.cpl}.xml`]: `<?xml version="1.0" encoding="UTF-8"?>\n<CompositionPlaylist xmlns="http://www.smpte-ra.org/schemas/429-7/2006/CPL">\n  <Id>urn:uuid:${ids.cpl}</Id>\n  <ContentTitleText>${NAME}</ContentTitleText>\n  <ContentKind>feature</ContentKind>\n  <ReelList>\n${assets.map((a, i) => `    <Reel><Id>${uuid()}</Id><AssetList><MainPicture><Id>${a.id}</Id><EditRate>24 1</EditRate><Duration>${1000 + i}</Duration></MainPicture></AssetList></Reel>`).join('\n')}\n  </ReelList>\n</CompositionPlaylist>\n`,
    [`PKL_${ids.pkl}.xml`]: `<?xml version="1.0" encoding="UTF-8"?>\n<PackingList xmlns="http://www.smpte-ra.org/schemas/429-8/2007/PKL">\n  <Id>urn:uuid:${ids.pkl}</Id>\n  <AnnotationText>${NAME}</AnnotationText>\n  <AssetList>\n${assets.map((a) => `    <Asset><Id>${a.id}</Id><Hash>${a.b64}</Hash><Size>${a.size}</Size><Type>application/mxf</Type></Asset>`).join('\n')}\n  </AssetList>\n</PackingList>\n`,
    'ASSETMAP.xml': `<?xml version="1.0" encoding="UTF-8"?>\n<AssetMap xmlns="http://www.smpte-ra.org/schemas/429-9/2007/AM">\n  <Id>${uuid()}</Id>\n  <AssetList>\n${assets.map((a) => `    <Asset><Id>${a.id}</Id><ChunkList><Chunk><Path>${a.file}</Path></Chunk></ChunkList></Asset>`).join('\n')}\n  </AssetList>\n</AssetMap>\n`,
    'VOLINDEX.xml': `<?xml version="1.0" encoding="UTF-8"?>\n<VolumeIndex xmlns="http://www.smpte-ra.org/schemas/429-9/2007/AM">\n  <Index>1</Index>\n</VolumeIndex>\n`,
  };
  for (const [file, text] of Object.entries(xml)) {
    await writeFile(path.join(made.dir, file), text);
    files.push({ file, size: Buffer.byteLength(text), sha1: createHash('sha1').update(text).digest('hex') });
  }
  return { dir: made.dir, files };
}

/** Every regular file under dir (relative, `/`-separated) → sha1 and size. */
async function hashTree(dir: string, only?: string[]): Promise<Map<string, { sha1: string; size: number }>> {
  const out = new Map<string, { sha1: string; size: number }>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (!only || only.includes(r)) out.set(r, { sha1: await sha1File(path.join(dir, r)), size: (await stat(path.join(dir, r))).size });
    }
  };
  await walk('');
  return out;
}

/** null when `got` holds exactly the `want` files (or `only` of them) with the same sha1s, else what differs. */
function compare(want: Map<string, { sha1: string }>, got: Map<string, { sha1: string }>, only?: string[]): string | null {
  const names = only ?? [...want.keys()];
  const missing = names.filter((f) => !got.has(f));
  const extra = [...got.keys()].filter((f) => !names.includes(f));
  const differ = names.filter((f) => got.has(f) && got.get(f)!.sha1 !== want.get(f)?.sha1);
  const problems = [
    missing.length ? `missing: ${missing.join(', ')}` : '',
    extra.length ? `not in the sender's DCP: ${extra.join(', ')}` : '',
    ...differ.map((f) => `${f}: sha1 ${got.get(f)!.sha1}, the sender's ${want.get(f)?.sha1}`),
  ].filter(Boolean);
  return problems.length ? problems.join('; ') : null;
}

/** Bytes allocated on disk under dir (sparse BT files count what is written). */
async function allocated(dir: string): Promise<number> {
  let sum = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sum += await allocated(p);
    else if (e.isFile()) sum += ((await lstat(p).catch(() => undefined))?.blocks ?? 0) * 512;
  }
  return sum;
}

// ---------------------------------------------------------------- progress views

interface View {
  /** 0..1 */
  frac: number;
  info: string;
  done: boolean;
  failed?: string;
  /** What it answered, for a timeout message. */
  last: string;
}

/** How the cacher is watched: SPEC §5's cprogress, progress, or (neither answered) its spool. */
type CacherMode = 'cprogress' | 'progress' | 'spool' | undefined;

function receiverView(c: Record<string, any>, ok: boolean, shares: Record<Method, number>, size: number): View & { methods: Partial<Record<Method, { frac: number; rate: string }>> } {
  const last = JSON.stringify({ status: c.status, totalpercent: c.totalpercent, rate: c.rate, downerror: c.downerror || undefined, desc: c.desc || undefined });
  const methods: Partial<Record<Method, { frac: number; rate: string }>> = {};
  if (!ok && !c.status) return { frac: 0, info: String(c.desc ?? ''), done: false, last, methods };
  const status = String(c.status);
  if (status === 'downloaded') {
    for (const m of METHODS) if (shares[m] > 0) methods[m] = { frac: 1, rate: '' };
    return { frac: 1, info: 'downloaded', done: true, last, methods };
  }
  if (status === 'downloaderror') return { frac: pctNum(c.totalpercent) / 100, info: status, done: false, failed: String(c.downerror || c.desc), last, methods };
  for (const m of METHODS) {
    const share = shares[m] / size;
    if (share > 0) methods[m] = { frac: Math.min(1, pctNum(c[`${m}percent`]) / 100 / share), rate: String(c[`${m}rate`] ?? '') };
  }
  const err = c.downerror ? `  (${String(c.downerror).split('\n')[0]})` : '';
  return { frac: pctNum(c.totalpercent) / 100, info: `${status === 'downloading' ? String(c.rate ?? '') : status}${err}`, done: false, last, methods };
}

// ---------------------------------------------------------------- the bars

let barSet: Record<string, cliProgress.SingleBar> = {};
function startBars(rows: { key: string; label: string }[]): void {
  if (!TTY) return;
  bars = new cliProgress.MultiBar(
    { format: '{label} |{bar}| {pct} {info}', hideCursor: true, clearOnComplete: false, stopOnComplete: false, barsize: 20, autopadding: true, forceRedraw: true, stream: process.stdout },
    cliProgress.Presets.shades_classic,
  );
  const width = Math.max(...rows.map((r) => r.label.length));
  for (const r of rows) barSet[r.key] = bars.create(1000, 0, { label: r.label.padEnd(width), pct: '  0.0%', info: '' });
}
function setBar(key: string, frac: number, info: string): void {
  barSet[key]?.update(Math.round(Math.max(0, Math.min(1, frac)) * 1000), { pct: `${(frac * 100).toFixed(1)}%`.padStart(6), info: info.slice(0, 28) });
}
function stopBars(): void {
  if (!bars) return;
  bars.update(); // flushes lines logged since the last redraw
  bars.stop();
  bars = undefined;
  barSet = {};
}

// ---------------------------------------------------------------- the delivery

interface Summary {
  phases: [string, number][];
  /** With the method that carried each file and when it was complete (its mtime), in s from recv. */
  files: (DcpFile & { method?: Method; doneS: number })[];
  shares: Record<Method, number>;
  lists: Record<Method, string[]>;
  deliverS: number;
  receiverRate: string;
  cacher: string;
  storeDir: string;
}

async function run(): Promise<Summary> {
  workDir = process.env.BFT2_DEMO_DIR ? path.resolve(process.env.BFT2_DEMO_DIR) : await mkdtemp(path.join(os.tmpdir(), 'bft2-demo-'));
  await mkdir(path.join(workDir, 'pids'), { recursive: true });
  console.log(`bft2 demo: a sender, a cacher and a receiver on loopback deliver a generated DCP by bt:obs:cdn 1:1:1`);
  say(`work dir: ${workDir}`);
  const phases: [string, number][] = [];
  let mark = performance.now();
  const phase = (name: string) => {
    phases.push([name, secs(mark)]);
    mark = performance.now();
  };

  // --- s3rver and the three daemons
  s3 = await startS3(path.join(workDir, 's3'));
  const [origin, tracker, sApi, sBt, cApi, cBt, rApi, rBt] = await freePorts(8);
  const originUrl = `http://127.0.0.1:${origin}`;
  const make = (name: Node['name'], apiPort: number): Node => {
    const root = path.join(workDir!, name);
    const n: Node = { name, root, api: `127.0.0.1:${apiPort}`, out: path.join(root, 'daemon.out'), log: path.join(root, 'var', 'log', 'bft2', 'bftv2.log') };
    nodes.push(n);
    return n;
  };
  const sender = make('sender', sApi);
  const cacher = make('cacher', cApi);
  const receiver = make('receiver', rApi);
  const common = { machinetype: 'local', basedatapath: '/data/dcp', basesubdir: BASESUBDIR, priorpolicy: 'fulltime', obssignature: 'v2', obspathstyle: true };
  // The keys of the bucket in obsbuckets.txt (bucket ak sk endpoint), never in a config or task.
  const obsbuckets = `# bucket ak sk endpoint\n${BUCKET} ${S3_KEY} ${S3_KEY} ${s3.endpoint}\n`;
  await mkdir(sender.root);
  await mkdir(cacher.root);
  await mkdir(receiver.root);
  await Promise.all([
    startNode(sender, {
      ...common,
      servertype: 'sender',
      senderid: 'demo-centre',
      'bt-obs-cdn': '1:1:1',
      senderdomain: originUrl,
      cdnurl: originUrl,
      httporigin: `127.0.0.1:${origin}`,
      embeddedtracker: `127.0.0.1:${tracker}`,
      tracker: `http://127.0.0.1:${tracker}/announce`,
      obsurl: `obs://${BUCKET}`,
      autosend: false,
      apilisten: sender.api,
      btport: sBt,
    }, obsbuckets),
    startNode(cacher, { ...common, servertype: 'cacher', receiverid: 'demo-edge', avoidrepeat: false, receiverstoreplan: 'A', downloadingnum: 2, apilisten: cacher.api, btport: cBt }, obsbuckets),
    startNode(receiver, { ...common, servertype: 'receiver', receiverid: 'demo-cinema', avoidrepeat: true, receiverstoreplan: 'A', downloadingnum: 2, apilisten: receiver.api, btport: rBt }, obsbuckets),
  ]);
  await Promise.all(
    nodes.map((n) =>
      waitUntil(`the ${n.name} daemon's heartbeat at http://${n.api}/heartbeat`, LIMIT.heartbeat, [n], async () => {
        const res = await request(`http://${n.api}/heartbeat`, { headersTimeout: 2000, bodyTimeout: 2000 });
        await res.body.dump();
        return res.statusCode === 200 ? true : undefined;
      }),
    ),
  );
  say(`up on 127.0.0.1: s3rver :${new URL(s3.endpoint).port}; sender api :${sApi} origin :${origin} tracker :${tracker} (pid ${sender.proc?.pid}); cacher api :${cApi} (pid ${cacher.proc?.pid}); receiver api :${rApi} (pid ${receiver.proc?.pid})`);
  phase('daemons up');

  // --- the DCP, the task, its publication
  const dcps = path.join(sender.root, 'data', 'dcp', BASESUBDIR, 'dcps');
  const dcp = await makeDemoDcp(dcps);
  const size = dcp.files.reduce((s, f) => s + f.size, 0);
  say(`DCP ${NAME}: ${dcp.files.length} files, ${mb(size)} (${REELS_MB.map((m) => `${m} MB`).join(' + ')} reels of random data, 4 XML files)`);
  phase('DCP generated');

  const taskfile = path.join(sender.root, 'data', 'sender', 'tmp', TASKFILE);
  const g = await api(sender, 'gentask', { dcppath: dcp.dir, taskfile, basesubdir: BASESUBDIR, btobscdn: '1:1:1', policy: 'fulltime', seedtime: '1' });
  if (!g.ok) throw new DemoError(`gentask refused: ${g.c.desc}`);
  say(`sender gentask: ${g.c.desc}`);
  let lastQ = '';
  await waitUntil('taskfilesquery to say finished (the torrents and the task file made)', LIMIT.gentask, [sender], async () => {
    const q = await api(sender, 'taskfilesquery', { dcppath: dcp.dir, taskfile });
    lastQ = JSON.stringify(q.c);
    if (q.c.status === 'error') throw new DemoError(`gentask failed: ${q.c.desc ?? lastQ}\n${await tail(sender)}`);
    return q.c.status === 'finished' ? true : undefined;
  }, () => `last answer ${lastQ}`);
  phase('gentask');

  const sent = await api(sender, 'send', { taskfile, reactive: 'false' });
  if (!sent.ok) throw new DemoError(`send refused: ${sent.c.desc}\n${await tail(sender)}`);
  say(`sender send: ${sent.c.desc} (BT seeding, OBS upload, origin check)`);
  let lastU = '';
  const ready = await waitUntil('uploadprogress to say ready (BT seeding, OBS share uploaded, CDN URL answering)', LIMIT.publish, [sender], async () => {
    const u = await api(sender, 'uploadprogress', { taskfile: TASKFILE });
    lastU = JSON.stringify(u.c);
    if (u.c.status === 'error') throw new DemoError(`publishing failed: ${u.c.desc ?? lastU}\n${await tail(sender)}`);
    return u.c.status === 'ready' ? u.c : undefined;
  }, () => `last answer ${lastU}`);
  const task = JSON.parse(await readFile(String(ready.taskfile), 'utf8')) as Record<string, any>;
  const lists = Object.fromEntries(METHODS.map((m) => [m, (task[`${m}list`] as string[]).filter((f) => f !== '')])) as Record<Method, string[]>;
  const shares = Object.fromEntries(METHODS.map((m) => [m, Number(task[`${m}listsize`])])) as Record<Method, number>;
  say(`sender ready: ${ready.btstatus}, obs ${ready.obsstatus}, cdn ${ready.cdnstatus}; shares ${METHODS.map((m) => `${m} ${mb(shares[m])}`).join(', ')}`);
  phase('published');

  // --- hand-out: the TMS copies the task file to each node and calls recv (which moves it)
  const tRecv = performance.now();
  const recvWall = Date.now();
  for (const n of [cacher, receiver]) {
    const handoff = path.join(workDir, 'handoff', n.name, TASKFILE);
    await mkdir(path.dirname(handoff), { recursive: true });
    await writeFile(handoff, JSON.stringify(task, null, 2));
    const r = await api(n, 'recv', { taskfile: handoff, reactive: 'false' });
    if (!r.ok) throw new DemoError(`the ${n.name} refused recv: ${r.c.desc}\n${await tail(n)}`);
    say(`${n.name} recv: ${r.c.desc}`);
  }

  // --- watching both until the receiver stored the DCP and the cacher holds its share
  startBars([
    { key: 'all', label: `receiver  ${mb(size)}` },
    ...METHODS.filter((m) => shares[m] > 0).map((m) => ({ key: m, label: `  ${m.padEnd(4)} ${mb(shares[m]).padStart(8)}` })),
    { key: 'cacher', label: 'cacher    its share' },
  ]);
  let cmode: CacherMode;
  let rView: ReturnType<typeof receiverView> | undefined;
  let cView: View | undefined;
  let receiverS: number | undefined;
  let cacherS: number | undefined;
  let lastLine = 0;
  let storeDir = '';
  let cacherDir = '';
  let cacherServed = '';

  const cacherProbe = async (): Promise<View> => {
    if (cmode === undefined || cmode === 'cprogress') {
      const a = await api(cacher, 'cprogress', { taskfile: TASKFILE });
      const status = String(a.c.status ?? a.c.Status ?? '');
      if (a.ok || status) {
        cmode = 'cprogress';
        const frac = pctNum(a.c.percent) / 100;
        const m = /btseeding dir:(.*)$/.exec(String(a.c.desc ?? ''));
        if (m) cacherDir = m[1].trim();
        if (a.c.uploaded !== undefined) cacherServed = `${mb(Number(a.c.uploaded) || 0)} served to peers, ${a.c.peers ?? 0} peers`;
        const last = JSON.stringify(a.c);
        if (status.endsWith('error')) return { frac, info: status, done: false, failed: `${status}: ${a.c.desc}`, last };
        return { frac, info: `${status}${a.c.peers !== undefined ? `, ${a.c.peers} peers` : ''}${a.c.uploaded !== undefined ? `, ${mb(Number(a.c.uploaded) || 0)} up` : ''}`, done: status === 'seeding' && frac >= 1, last };
      }
      // "not available on this node yet": the cacher role has not landed; anything else is "not yet".
      if (/not available on this node yet/.test(String(a.c.desc))) cmode = 'progress';
      else return { frac: 0, info: String(a.c.desc ?? ''), done: false, last: JSON.stringify(a.c) };
    }
    if (cmode === 'progress') {
      const a = await api(cacher, 'progress', { taskfile: TASKFILE });
      if (a.ok || a.c.status) {
        const v = receiverView(a.c, a.ok, shares, size);
        return { ...v, info: `${v.info} (progress: no cprogress yet)` };
      }
      if (/do not support cacher type progress/.test(String(a.c.desc))) {
        cmode = 'spool';
        say('cacher: answers neither cprogress (not available yet) nor progress (a cacher\'s): watching its spool (it receives like a cinema until the cacher role lands)');
      } else return { frac: 0, info: String(a.c.desc ?? ''), done: false, last: JSON.stringify(a.c) };
    }
    // spool: where the task file is, .err markers, bytes in the transfer area
    const spool = (d: string, f = TASKFILE) => path.join(cacher.root, 'data', 'receiver', d, f);
    const there = (p: string) => stat(p).then(() => true, () => false);
    for (const d of ['queues', 'downloading']) {
      const err = await readFile(spool(d, `${TASK}.err`), 'utf8').catch(() => undefined);
      if (err !== undefined) return { frac: 0, info: 'error', done: false, failed: err.split('\n')[0], last: `${d}/${TASK}.err` };
    }
    if (await there(spool('downloaded'))) return { frac: 1, info: 'downloaded (spool)', done: true, last: 'in downloaded' };
    const state = (await there(spool('downloading'))) ? 'downloading' : (await there(spool('queues'))) ? 'queues' : 'tmp';
    const bytes = await allocated(path.join(cacher.root, 'data', 'transfer'));
    return { frac: Math.min(1, bytes / size), info: `${state} (spool, ~whole DCP)`, done: false, last: `in ${state}, ~${mb(bytes)} on disk` };
  };

  const deadline = performance.now() + LIMIT.deliver * 1000;
  while (receiverS === undefined || cacherS === undefined) {
    checkAbort();
    const gone = nodes.find((n) => n.exit !== undefined);
    if (gone) throw new DemoError(`the ${gone.name} daemon stopped (${gone.exit}) during the delivery\n${await tail(gone)}`);
    if (receiverS === undefined) {
      try {
        const a = await api(receiver, 'progress', { taskfile: TASKFILE });
        rView = receiverView(a.c, a.ok, shares, size);
        if (a.c.dcppath) storeDir = String(a.c.dcppath);
      } catch (err) {
        rView = { frac: rView?.frac ?? 0, info: `progress: ${(err as Error).message}`, done: false, last: (err as Error).message, methods: rView?.methods ?? {} };
      }
      if (rView.failed) throw new DemoError(`the receiver gave the task up: ${rView.failed}\n${await tail(receiver)}`);
      if (rView.done) {
        receiverS = secs(tRecv);
        say(`receiver: ${NAME} stored after ${receiverS.toFixed(1)} s`);
      }
    }
    if (cacherS === undefined) {
      try {
        cView = await cacherProbe();
      } catch (err) {
        cView = { frac: cView?.frac ?? 0, info: `${(err as Error).message}`, done: false, last: (err as Error).message };
      }
      if (cView.failed) throw new DemoError(`the cacher gave the task up: ${cView.failed}\n${await tail(cacher)}`);
      if (cView.done) {
        cacherS = secs(tRecv);
        say(`cacher: ${cmode === 'cprogress' ? 'BT share complete, seeding' : 'task downloaded'} after ${cacherS.toFixed(1)} s`);
      }
    }
    if (rView) {
      setBar('all', rView.frac, rView.info);
      for (const [m, v] of Object.entries(rView.methods) as [Method, { frac: number; rate: string }][]) setBar(m, v.frac, v.rate);
    }
    if (cView) setBar('cacher', cView.frac, cView.info);
    if (!TTY && performance.now() - lastLine >= 2000 && rView && cView) {
      lastLine = performance.now();
      const per = (Object.entries(rView.methods) as [Method, { frac: number; rate: string }][]).map(([m, v]) => `${m} ${(v.frac * 100).toFixed(1)}%${v.rate ? ` ${v.rate}` : ''}`);
      say(`receiver ${(rView.frac * 100).toFixed(1)}% ${rView.info} | ${per.join(' | ')} | cacher ${(cView.frac * 100).toFixed(1)}% ${cView.info}`);
    }
    if (performance.now() > deadline) {
      const who = [receiverS === undefined ? `the receiver did not store the DCP (last progress ${rView?.last ?? 'none'})` : '', cacherS === undefined ? `the cacher did not complete its share (last ${cmode ?? 'cprogress'} ${cView?.last ?? 'none'})` : '']
        .filter(Boolean)
        .join('; ');
      const tails = await Promise.all([...(receiverS === undefined ? [receiver] : []), ...(cacherS === undefined ? [cacher] : []), sender].map((n) => tail(n)));
      throw new DemoError(`delivery not finished within ${LIMIT.deliver} s: ${who}\n${tails.join('\n')}`);
    }
    if (receiverS === undefined || cacherS === undefined) await sleep(250);
  }
  stopBars();
  const deliverS = secs(tRecv);
  phase('delivered');

  // --- verification: every received file against the sender's, by sha1
  storeDir ||= path.join(receiver.root, 'data', 'dcp', NAME);
  if (!(await stat(`${storeDir}.finished`).then(() => true, () => false))) throw new DemoError(`no ${NAME}.finished beside ${storeDir}\n${await tail(receiver)}`);
  const want = await hashTree(dcp.dir);
  for (const f of dcp.files) if (want.get(f.file)?.sha1 !== f.sha1) throw new DemoError(`the sender's ${f.file} changed since it was generated`);
  const got = await hashTree(storeDir);
  const bad = compare(want, got);
  if (bad) throw new DemoError(`the receiver's DCP differs from the sender's: ${bad}`);
  say(`receiver: ${got.size} files in ${storeDir}, every sha1 equal to the sender's`);
  let cacherNote: string;
  if (cmode === 'cprogress') {
    cacherDir ||= path.join(cacher.root, 'data', 'transfer', 'bt', BASESUBDIR, `${NAME}-tmp`);
    const cbad = compare(want, await hashTree(cacherDir, lists.bt), lists.bt);
    if (cbad) throw new DemoError(`the cacher's BT share in ${cacherDir} differs from the sender's: ${cbad}`);
    cacherNote = `BT share (${lists.bt.length} files, ${mb(shares.bt)}) complete after ${cacherS.toFixed(1)} s and seeding${cacherServed ? ` (${cacherServed})` : ''}; sha1 equal to the sender's`;
  } else {
    // Where a receiver-like daemon that is not a plan-A receiver stores (SPEC §1).
    const candidates = [path.join(cacher.root, 'data', 'dcp', BASESUBDIR, 'dcps', NAME), path.join(cacher.root, 'data', 'dcp', NAME)];
    const cdir = (await Promise.all(candidates.map((d) => stat(d).then(() => d, () => '')))).find(Boolean);
    if (!cdir) throw new DemoError(`the cacher filed the task in downloaded, but its DCP is in none of ${candidates.join(', ')}\n${await tail(cacher)}`);
    const cbad = compare(want, await hashTree(cdir));
    if (cbad) throw new DemoError(`the cacher's copy in ${cdir} differs from the sender's: ${cbad}`);
    cacherNote = `no cacher role yet (no cprogress): it received the whole DCP like a cinema in ${cacherS.toFixed(1)} s; sha1 equal to the sender's`;
  }
  say('cacher: verified');
  phase('verified');

  // A received file's mtime is when its last byte was written: when its method delivered it.
  const methodOf = new Map<string, Method>();
  for (const m of METHODS) for (const f of lists[m]) methodOf.set(f, m);
  const files = await Promise.all(
    dcp.files.map(async (f) => ({ ...f, method: methodOf.get(f.file), doneS: Math.max(0, ((await stat(path.join(storeDir, f.file))).mtimeMs - recvWall) / 1000) })),
  );
  return { phases, files, shares, lists, deliverS, receiverRate: rateOf(size, receiverS), cacher: cacherNote, storeDir };
}

function printSummary(s: Summary): void {
  const size = s.files.reduce((a, f) => a + f.size, 0);
  const doneS = (m: Method) => Math.max(0, ...s.files.filter((f) => f.method === m).map((f) => f.doneS));
  const lines = [
    '',
    `summary  ${NAME}: ${s.files.length} files, ${mb(size)}, sender → cacher + receiver on loopback`,
    `  phases   ${s.phases.map(([n, t]) => `${n} ${t.toFixed(1)} s`).join(' · ')}`,
    `  receiver the whole DCP stored ${s.deliverS.toFixed(1)} s after recv (${s.receiverRate}), in ${s.storeDir}`,
    '  method   bytes       files  done after  rate',
    ...METHODS.map((m) => {
      const n = s.lists[m].length;
      return `  ${m.padEnd(8)} ${mb(s.shares[m]).padStart(9)}  ${String(n).padStart(5)}  ${n ? `${doneS(m).toFixed(1).padStart(8)} s` : '         -'}  ${n ? rateOf(s.shares[m], doneS(m)) : '-'}  ${SOURCE[m]}`;
    }),
    `  cacher   ${s.cacher}`,
    '  where each file came from (done = its last byte written, s after recv):',
    ...s.files.map((f) => `    ${f.file.padEnd(46)} ${mb(f.size).padStart(9)}  ${(f.method ?? '?').padEnd(3)}  done ${f.doneS.toFixed(1).padStart(5)} s  sha1 ${f.sha1.slice(0, 12)}… ok`),
    `bft2 demo: verified — ${s.files.length} files, ${mb(size)}, every sha1 equal to the sender's; ${secs().toFixed(1)} s in all`,
  ];
  for (const l of lines) console.log(l);
}

const SOURCE: Record<Method, string> = {
  bt: 'BitTorrent from the swarm (sender seed, cacher)',
  obs: 'OBS: the s3rver bucket',
  cdn: "CDN: the sender's HTTP origin",
};

let code = 0;
try {
  printSummary(await run());
} catch (err) {
  stopBars();
  if (err instanceof Interrupted || interrupted) {
    console.log(`bft2 demo: interrupted (${interrupted}); cleaning up`);
    code = interrupted === 'SIGINT' ? 130 : 143;
  } else {
    console.log(`bft2 demo: FAILED after ${secs().toFixed(1)} s: ${err instanceof DemoError ? err.message : ((err as Error).stack ?? String(err))}`);
    code = 1;
  }
} finally {
  await cleanup();
}
process.exit(code);
