// /metrics of real daemons (SPEC §10), read as Prometheus text by a strict parser below:
// every family has HELP and TYPE before its samples, every sample belongs to a declared
// family, label values are well escaped, no series appears twice. Checked: the families,
// the CDN byte counter against a real download, retries of a failing task, tasks per state
// against the spool as `ls` sees it, the hash table and disks, a hybrid delivery's bytes by
// method and direction with the sender's seed gauges, a receiver seeding two shares, and
// `metricslisten` on its own port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startLoopbackSender } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, type Daemon } from '../../tools/harness/daemon.ts';
import { startS3Server, type TestS3 } from '../../tools/harness/s3-server.ts';

const MB = 1024 * 1024;
const FAST_ENV = { retrydelay: '200ms', retrymaxdelay: '1000ms', quickdelay: '200ms', unparseablegrace: '1000ms', hashstable: '300ms' };

// ----- a strict Prometheus text-format (0.0.4) parser -----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A float as Go's strconv.ParseFloat reads it (the format's rule): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(s: string, where: string): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(s);
  if (special) return special[2].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
  assert.match(s, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `${where}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

/** name{a="x",b="y"} value [timestamp] */
function parseSample(line: string, where: string): Sample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  assert.match(name, NAME, `${where}: bad metric name`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      let j = i;
      while (j < line.length && /[a-zA-Z0-9_]/.test(line[j])) j++;
      const label = line.slice(i, j);
      assert.match(label, LABEL, `${where}: bad label name`);
      assert.equal(line.slice(j, j + 2), '="', `${where}: expected =" after ${label}`);
      j += 2;
      let value = '';
      for (;;) {
        assert.ok(j < line.length, `${where}: unterminated label value`);
        const c = line[j++];
        if (c === '"') break;
        if (c === '\\') {
          const e = line[j++];
          assert.ok(e === '\\' || e === '"' || e === 'n', `${where}: bad escape \\${e}`);
          value += e === 'n' ? '\n' : e;
        } else value += c;
      }
      assert.ok(!(label in labels), `${where}: label ${label} twice`);
      labels[label] = value;
      if (line[j] === ',') j++;
      else assert.equal(line[j], '}', `${where}: expected , or }`);
      i = j;
    }
    i++;
  }
  assert.equal(line[i], ' ', `${where}: expected a space before the value`);
  const [value, timestamp, ...rest] = line.slice(i + 1).split(' ');
  assert.equal(rest.length, 0, `${where}: trailing fields`);
  if (timestamp !== undefined) assert.match(timestamp, /^-?\d+$/, `${where}: bad timestamp`);
  return { name, labels, value: parseValue(value, where) };
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const f = families.get(sampleName);
  if (f) return f;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  return undefined;
}

function parseProm(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1}: ${line}`;
    if (line === '') return;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      assert.match(name, NAME, where);
      const f = families.get(name) ?? { name, samples: [] };
      families.set(name, f);
      assert.equal(f.samples.length, 0, `${where}: ${kind} after samples`);
      if (kind === 'HELP') {
        assert.equal(f.help, undefined, `${where}: HELP twice`);
        assert.ok(!/\\[^\\n]/.test(rest.replace(/\\\\/g, '')), `${where}: bad escape in HELP`);
        f.help = rest;
      } else {
        assert.equal(f.type, undefined, `${where}: TYPE twice`);
        assert.ok(TYPES.has(rest), `${where}: unknown type`);
        f.type = rest;
      }
      return;
    }
    if (line.startsWith('#')) return;
    const s = parseSample(line, where);
    const f = familyOf(s.name, families);
    assert.ok(f?.type, `${where}: sample of no declared family`);
    const key = s.name + JSON.stringify(Object.entries(s.labels).sort());
    assert.ok(!seen.has(key), `${where}: series twice`);
    seen.add(key);
    if (f.type === 'counter') assert.ok(s.value >= 0, `${where}: negative counter`);
    f.samples.push(s);
  });
  return families;
}

/** The one sample of `name` whose labels include `labels` (throws when none or several). */
function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = fams.get(name);
  assert.ok(f, `family ${name} present`);
  const hits = f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `${name}${JSON.stringify(labels)}: ${hits.length} samples`);
  return hits[0].value;
}

async function scrape(base: string): Promise<{ families: Map<string, Family>; text: string; type: string }> {
  const res = await request(`${base}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  return { families: parseProm(text), text, type: String(res.headers['content-type']) };
}

async function httpGet(url: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  const res = await request(url, { method: method as 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text(), type: String(res.headers['content-type'] ?? '') };
}

/** Task files and `.err` markers per spool directory, as `ls` shows them. */
async function lsSpool(root: string, role: 'sender' | 'receiver', state: string): Promise<{ tasks: number; errors: number }> {
  const names = await readdir(path.join(root, 'data', role, state)).catch(() => [] as string[]);
  const tasks = names.filter((n) => n.endsWith('.task.json') && !n.startsWith('.')).map((n) => n.slice(0, -'.task.json'.length));
  return { tasks: tasks.length, errors: tasks.filter((t) => names.includes(`${t}.err`)).length };
}

const BFT2_FAMILIES = [
  'bft2_info',
  'bft2_transfer_bytes_total',
  'bft2_tasks',
  'bft2_task_errors',
  'bft2_retries_total',
  'bft2_tries_exhausted_total',
  'bft2_bt_peers',
  'bft2_seed_peers',
  'bft2_seed_time_left_seconds',
  'bft2_seed_uploaded_bytes',
  'bft2_seed_present_ratio',
  'bft2_watch_polling',
  'bft2_hashtable_files',
  'bft2_hashtable_bytes',
  'bft2_disk_free_bytes',
  'bft2_disk_size_bytes',
  'bft2_disk_reserve_bytes',
  'bft2_log_messages_total',
  'bft2_download_bytes',
  'bft2_download_rate_bytes_per_second',
  'bft2_download_quiet_seconds',
  'bft2_tracker_announces_total',
  'bft2_tracker_failing_torrents',
  'bft2_received_bytes_total',
  'bft2_cost_total',
];

let originRoot: string;
let origin: TestOrigin;
let dcp: MadeDcp;

before(async () => {
  originRoot = await makeTempRoot();
  dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'dcp-m', [
    { file: 'video.mxf', size: 4 * MB },
    { file: 'audio.mxf', size: 2 * MB + 11 },
    { file: 'PKL.xml', size: 957 },
  ]);
  origin = await startTestOrigin(originRoot);
});
after(async () => {
  await origin?.close();
  await rm(originRoot, { recursive: true, force: true });
});

test('/metrics: the families, CDN bytes of a download, retries, tasks per state as in the spool, hash table, disks', { timeout: 120_000 }, async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { downloadingnum: 2 }, tuning: FAST_ENV });
  try {
    const first = await scrape(d.apiBase);
    assert.match(first.type, /^text\/plain; version=0\.0\.4/);
    for (const name of BFT2_FAMILIES) {
      const f = first.families.get(name);
      assert.ok(f, `${name} present`);
      assert.ok(f.help && f.help.length > 10, `${name} has a HELP text`);
    }
    for (const [name, f] of first.families) {
      if (!name.startsWith('bft2_')) continue;
      assert.ok(BFT2_FAMILIES.includes(name), `${name} is documented in this test's list`);
      if (f.type === 'counter') assert.match(name, /_total$/, `${name}: a counter ends in _total`);
    }
    // prom-client's process metrics, on this daemon's own registry.
    assert.ok(value(first.families, 'process_resident_memory_bytes') > 10 * MB);
    assert.ok(first.families.has('nodejs_eventloop_lag_seconds'));
    assert.equal(value(first.families, 'bft2_info', { servertype: 'receiver' }), 1);
    for (const method of ['bt', 'obs', 'cdn']) for (const direction of ['down', 'up']) assert.equal(value(first.families, 'bft2_transfer_bytes_total', { method, direction }), 0);

    // A good download, a task whose files are not at its URL (404: quick tries, then .err),
    // and a file that never becomes JSON (its .err stays in queues).
    const cdnUrl = `${origin.url}/dcp/cfec-001/dcps/dcp-m`;
    await writeFile(path.join(d.paths.queues, 'cfec-001-good.task.json'), JSON.stringify(makeCdnTask({ name: 'good', basesubdir: 'cfec-001', cdnUrl, filelist: dcp.filelist })));
    await writeFile(path.join(d.paths.queues, 'cfec-001-gone.task.json'), JSON.stringify(makeCdnTask({ name: 'gone', basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/nothing-here`, filelist: dcp.filelist })));
    await writeFile(path.join(d.paths.queues, 'cfec-001-broken.task.json'), '{"name": "broken", ');
    await waitFor(() => stat(path.join(d.paths.downloaded, 'cfec-001-good.task.json')).then(() => true), { timeoutMs: 60_000, what: `good downloaded\n${d.output()}` });
    await waitFor(() => stat(path.join(d.paths.downloading, 'cfec-001-gone.err')).then(() => true), { timeoutMs: 60_000, what: 'gone fails' });
    await waitFor(() => stat(path.join(d.paths.queues, 'cfec-001-broken.err')).then(() => true), { timeoutMs: 30_000, what: 'broken refused' });

    const { families } = await scrape(d.apiBase);
    const cdnDown = value(families, 'bft2_transfer_bytes_total', { method: 'cdn', direction: 'down' });
    assert.ok(cdnDown >= dcp.size, `cdn down ${cdnDown} >= ${dcp.size}`);
    assert.ok(cdnDown < dcp.size * 2, `cdn down ${cdnDown}: no byte counted twice`);
    assert.equal(value(families, 'bft2_transfer_bytes_total', { method: 'bt', direction: 'down' }), 0);
    // The 404: three quick tries, the last one gives up.
    assert.ok(value(families, 'bft2_retries_total', { method: 'cdn' }) >= 2);
    assert.ok(value(families, 'bft2_tries_exhausted_total', { method: 'cdn' }) >= 1);
    assert.ok(value(families, 'bft2_log_messages_total', { level: 'warn' }) >= 2, 'failed tries are logged as warnings');
    assert.ok(value(families, 'bft2_log_messages_total', { level: 'error' }) >= 1, 'the failed task is logged as an error');

    // Tasks per state: exactly what the directories hold.
    for (const [role, states] of [
      ['receiver', ['tmp', 'queues', 'downloading', 'downloaded', 'history']],
      ['sender', ['tmp', 'queues', 'uploading', 'uploaded', 'history']],
    ] as const) {
      for (const state of states) {
        const ls = await lsSpool(root, role, state);
        assert.equal(value(families, 'bft2_tasks', { role, state }), ls.tasks, `${role}/${state} tasks`);
        assert.equal(value(families, 'bft2_task_errors', { role, state }), ls.errors, `${role}/${state} errors`);
      }
    }
    assert.equal(value(families, 'bft2_tasks', { role: 'receiver', state: 'downloaded' }), 1);
    assert.equal(value(families, 'bft2_task_errors', { role: 'receiver', state: 'downloading' }), 1);
    assert.equal(value(families, 'bft2_task_errors', { role: 'receiver', state: 'queues' }), 1);

    // The received DCP's hashes went into the table.
    assert.equal(value(families, 'bft2_hashtable_files'), dcp.filelist.length);
    assert.equal(value(families, 'bft2_hashtable_bytes'), dcp.size);
    for (const area of ['store', 'transfer']) {
      const free = value(families, 'bft2_disk_free_bytes', { area });
      const size = value(families, 'bft2_disk_size_bytes', { area });
      assert.ok(free > 0 && free <= size, `${area}: free ${free} of ${size}`);
      // diskreserve defaults to 5%.
      assert.equal(value(families, 'bft2_disk_reserve_bytes', { area }), Math.ceil(size * 0.05));
    }
    assert.equal(value(families, 'bft2_bt_peers'), 0);
    assert.equal(families.get('bft2_seed_peers')!.samples.length, 0, 'a receiver without seeds has no seed series');

    // Read-only: a POST to /metrics is an API call (an unknown method), never a change.
    const post = await d.post('/metrics', '{}');
    assert.equal(JSON.parse(post.body).return_status, 'false');
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('metricslisten: /metrics, / and /status.json on their own port, and no longer on the API port', { timeout: 60_000 }, async () => {
  const root = await makeTempRoot();
  const metricsPort = await freePort();
  const d = await startDaemon({ root, config: { metricslisten: `127.0.0.1:${metricsPort}` }, tuning: FAST_ENV });
  const mbase = `http://127.0.0.1:${metricsPort}`;
  try {
    const { families } = await scrape(mbase);
    for (const name of BFT2_FAMILIES) assert.ok(families.has(name), `${name} on the metrics port`);
    const page = await httpGet(`${mbase}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<title>bft2 status<\/title>/);
    const json = await httpGet(`${mbase}/status.json`);
    assert.equal(json.status, 200);
    assert.deepEqual(JSON.parse(json.body).tasks, []);
    // The metrics port serves nothing else, and only GET.
    assert.equal((await httpGet(`${mbase}/heartbeat`)).status, 404);
    assert.equal((await httpGet(`${mbase}/metrics`, 'POST')).status, 405);
    assert.equal((await httpGet(`${mbase}/metrics`, 'DELETE')).status, 405);
    // The API port: its own routes only.
    for (const p of ['/metrics', '/', '/status.json']) assert.equal((await d.get(p)).status, 404, `API port ${p}`);
    assert.equal((await d.get('/heartbeat')).status, 200);

    // A new metricslisten needs a restart, and reloadconf says so.
    const configFile = path.join(root, 'etc/bft2/config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    await writeFile(configFile, JSON.stringify({ ...config, metricslisten: `127.0.0.1:${await freePort()}` }));
    const answer = JSON.parse((await d.get('/reloadconf')).body);
    assert.match(answer, /^reload config\.json ok\. no key to apply changed\. waiting for a restart: metricslisten \("127\.0\.0\.1:\d+" until then, "127\.0\.0\.1:\d+" after\)\.$/);
    assert.match(await readFile(d.paths.log, 'utf8'), /config reloaded: no key to apply changed; waiting for a restart: metricslisten/);
    assert.equal((await httpGet(`${mbase}/metrics`)).status, 200, 'the running server stays until the restart');
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('a 1:1:1 delivery: bytes by method and direction on both nodes, the sender\'s seed gauges; then a BitTorrent-only one: the receiver\'s two seeds', { timeout: 240_000 }, async () => {
  const base = await makeTempRoot();
  let s3: TestS3 | undefined;
  let sender: Daemon | undefined;
  let receiver: Daemon | undefined;
  try {
    s3 = await startS3Server({ bucket: 'cfec-001' });
    const env = { ...FAST_ENV, obspartsize: '1MB' };
    ({ sender } = await startLoopbackSender(s3, { root: path.join(base, 'sender'), config: { autosend: true, defaultseedtime: 2 }, tuning: env }));
    await mkdir(path.join(base, 'receiver/etc/bft2'), { recursive: true });
    await writeFile(path.join(base, 'receiver/etc/bft2/obsbuckets.txt'), `cfec-001 ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
    receiver = await startDaemon({ root: path.join(base, 'receiver'), config: { obssignature: 'v2', obspathstyle: true }, tuning: env });
    const made = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), 'feature', [
      { file: 'picture.mxf', size: 5 * MB },
      { file: 'sound.mxf', size: 3 * MB },
      { file: 'subtitle.mxf', size: 3 * MB },
      { file: 'PKL.xml', size: 957 },
    ]);
    const taskfile = path.join(base, 'sender/data/sender/tmp/cfec-001-feature.task.json');
    const g = await sender.api('gentask', { dcppath: made.dir, taskfile, basesubdir: 'cfec-001', btobscdn: '1:1:1', policy: 'fulltime' });
    assert.equal(g.return_status, 'true', JSON.stringify(g));
    await waitFor(async () => (await sender!.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, what: 'sender ready' });
    const task = JSON.parse(await readFile(path.join(base, 'sender/data/sender/uploaded/cfec-001-feature.task.json'), 'utf8'));
    const share = (l: string) => (task[l] as string[]).filter(Boolean).reduce((s, f) => s + made.filelist.find((x) => x.file === f)!.size, 0);
    for (const l of ['btlist', 'obslist', 'cdnlist']) assert.ok(share(l) > 0, `${l} has a share`);

    const sent = (await scrape(sender.apiBase)).families;
    assert.ok(value(sent, 'bft2_transfer_bytes_total', { method: 'obs', direction: 'up' }) >= share('obslist'), 'obs up >= the OBS share');
    assert.equal(value(sent, 'bft2_seed_peers', { role: 'sender', task: 'cfec-001-feature' }), 0);
    const left = value(sent, 'bft2_seed_time_left_seconds', { role: 'sender', task: 'cfec-001-feature' });
    assert.ok(left > 2 * 3600 - 120 && left <= 2 * 3600, `seed time left ${left} s of 2 h`);
    assert.equal(value(sent, 'bft2_seed_present_ratio', { task: 'cfec-001-feature' }), 1);
    // The status page's data for a sender: each method's share and state.
    const status = JSON.parse((await sender.get('/status.json')).body);
    const row = status.tasks.find((r: { role: string; task: string }) => r.role === 'sender' && r.task === 'cfec-001-feature');
    assert.equal(row?.state, 'ready', JSON.stringify(status.tasks));
    assert.deepEqual(row.methods.map((m: { method: string }) => m.method), ['bt', 'obs', 'cdn']);
    const statusOf = Object.fromEntries(row.methods.map((m: { method: string; status: string }) => [m.method, m.status]));
    assert.deepEqual(statusOf, { bt: 'seeding', obs: 'completed', cdn: 'available' });
    const shares = row.methods.reduce((sum: number, m: { share: number }) => sum + m.share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-9, `the shares add up to the task: ${shares}`);

    const handed = path.join(base, 'cfec-001-feature.task.json');
    await writeFile(handed, JSON.stringify(task));
    assert.equal((await receiver.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
    await waitFor(() => stat(path.join(receiver!.paths.downloaded, 'cfec-001-feature.task.json')).then(() => true), { timeoutMs: 120_000, what: `receiver downloaded\n${receiver.output()}` });

    const got = (await scrape(receiver.apiBase)).families;
    for (const [method, list] of [
      ['bt', 'btlist'],
      ['obs', 'obslist'],
      ['cdn', 'cdnlist'],
    ] as const) {
      const down = value(got, 'bft2_transfer_bytes_total', { method, direction: 'down' });
      assert.ok(down >= share(list), `receiver ${method} down ${down} >= its share ${share(list)}`);
    }
    const btUp = value((await scrape(sender.apiBase)).families, 'bft2_transfer_bytes_total', { method: 'bt', direction: 'up' });
    assert.ok(btUp >= share('btlist'), `sender bt up ${btUp} >= the BT share ${share('btlist')}`);
    assert.ok(value((await scrape(sender.apiBase)).families, 'bft2_seed_uploaded_bytes', { task: 'cfec-001-feature' }) >= share('btlist'));

    // A second delivery, BitTorrent only: the receiver now seeds two shares from its store
    // (receiverseed), and /metrics has a series of each seed gauge for each.
    const trailer = await makeDcp(path.join(base, 'sender/data/dcp/cfec-001/dcps'), 'trailer', [{ file: 'trailer.mxf', size: 2 * MB }, { file: 'CPL.xml', size: 640 }]);
    const trailerTask = path.join(base, 'sender/data/sender/tmp/cfec-001-trailer.task.json');
    assert.equal((await sender.api('gentask', { dcppath: trailer.dir, taskfile: trailerTask, basesubdir: 'cfec-001', btobscdn: '1:0:0', policy: 'fulltime' })).return_status, 'true');
    await waitFor(async () => (await sender!.api('uploadprogress', { taskfile: 'cfec-001-trailer.task.json' })).return_content.status === 'ready' || undefined, { timeoutMs: 60_000, what: 'trailer ready' });
    const handedTrailer = path.join(base, 'cfec-001-trailer.task.json');
    await writeFile(handedTrailer, await readFile(path.join(base, 'sender/data/sender/uploaded/cfec-001-trailer.task.json')));
    assert.equal((await receiver.api('recv', { taskfile: handedTrailer })).return_content.desc, 'succeed!');
    await waitFor(() => stat(path.join(receiver!.paths.downloaded, 'cfec-001-trailer.task.json')).then(() => true), { timeoutMs: 120_000, what: `receiver downloaded the trailer\n${receiver.output()}` });
    const seeds = await waitFor(async () => {
      const f = (await scrape(receiver!.apiBase)).families;
      return f.get('bft2_seed_peers')!.samples.filter((x) => x.labels.role === 'receiver').length === 2 ? f : undefined;
    }, { timeoutMs: 30_000, what: 'two receiver seeds in /metrics' });
    for (const task of ['cfec-001-feature', 'cfec-001-trailer']) {
      const labels = { role: 'receiver', task };
      assert.ok(value(seeds, 'bft2_seed_peers', labels) >= 0);
      assert.equal(value(seeds, 'bft2_seed_present_ratio', labels), 1, `${task}: the whole share is served`);
      assert.ok(value(seeds, 'bft2_seed_uploaded_bytes', labels) >= 0);
      const seedLeft = value(seeds, 'bft2_seed_time_left_seconds', labels);
      assert.ok(seedLeft > 2 * 3600 - 300 && seedLeft <= 2 * 3600, `${task}: seed time left ${seedLeft} s of the task's 2 h`);
    }
  } finally {
    await receiver?.stop();
    await sender?.stop();
    await s3?.close();
    await rm(base, { recursive: true, force: true });
  }
});
