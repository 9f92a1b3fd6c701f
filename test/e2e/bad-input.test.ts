// A corpus of broken task files and API bodies against a real daemon: each gets its clear
// error (an `.err` beside the file, or a `false` answer), the daemon stays up, and nothing
// is written outside its root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile, readdir, rm, rename } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, type MadeDcp } from '../helpers/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../helpers/daemon.ts';

const ENV = { BFT2_RETRY_BASE_MS: '100', BFT2_RETRY_MAX_MS: '200', BFT2_RETRY_TRIES: '3', BFT2_UNPARSEABLE_GRACE_MS: '2000' };

let base: string;
let origin: TestOrigin;
let dcp: MadeDcp;
let d: Daemon;

before(async () => {
  // base/ holds root/ and the origin's files; nothing else may appear in it.
  base = await makeTempRoot();
  dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'good', [
    { file: 'a.mxf', size: 300_000 },
    { file: 'b.xml', size: 900 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
  await mkdir(path.join(base, 'root'));
  d = await startDaemon({ root: path.join(base, 'root'), config: {}, env: ENV });
});
after(async () => {
  await d?.stop();
  await origin?.close();
  await rm(base, { recursive: true, force: true });
});

const cdnUrl = () => `${origin.url}/dcp/cfec-001/dcps/good`;
const good = (over: Record<string, unknown> = {}) => ({
  ...makeCdnTask({ name: 'good', basesubdir: 'cfec-001', cdnUrl: cdnUrl(), filelist: dcp.filelist }),
  ...over,
});
const escapee = (n: string) => `../../../../../../../${path.basename(base)}/escaped-${n}`;

/** Task files dropped into queues, each with the text its `.err` must start with. */
function corpus(q: (task: string) => string): { task: string; body: string; err: string | RegExp }[] {
  const H = dcp.filelist[0].hash;
  const one = (file: string) => ({ filelist: [{ file, hash: H, size: 5 }], cdnlist: [file], size: 5, cdnlistsize: 5 });
  const text = JSON.stringify(good());
  return [
    { task: 'truncated', body: text.slice(0, text.length / 2), err: `invalid json format:${q('truncated')}` },
    { task: 'not-json', body: 'this is not a task\n', err: `invalid json format:${q('not-json')}` },
    { task: 'empty', body: '', err: `invalid json format:${q('empty')}` },
    { task: 'sizes', body: JSON.stringify(good({ size: dcp.size + 1 })), err: `totalsize != all lists sum : ${q('sizes')}` },
    { task: 'listsize', body: JSON.stringify(good({ cdnlistsize: 7 })), err: `totalsize != all lists sum : ${q('listsize')}` },
    { task: 'zero', body: JSON.stringify(good({ size: 0, filelist: dcp.filelist.map((f) => ({ ...f, size: 0 })) })), err: `total files size equal 0 :${q('zero')}` },
    { task: 'dotdot', body: JSON.stringify(good(one(escapee('dotdot')))), err: /^unsafe path in filelist.file: ".*escaped-dotdot" \(has a \.\. segment\)$/ },
    { task: 'absolute', body: JSON.stringify(good(one(path.join(base, 'escaped-abs')))), err: /^unsafe path in filelist.file: ".*escaped-abs" \(is absolute\)$/ },
    { task: 'backslash', body: JSON.stringify(good(one('..\\..\\escaped'))), err: /\(contains a backslash\)$/ },
    { task: 'nul', body: JSON.stringify(good(one('a\u0000b'))), err: /\(contains NUL\)$/ },
    { task: 'name-slash', body: JSON.stringify(good({ name: `${escapee('name')}` })), err: /^unsafe path in name: .*\(contains \/\)$/ },
    { task: 'basesubdir', body: JSON.stringify(good({ basesubdir: '..' })), err: /^unsafe path in basesubdir: "\.\."/ },
    { task: 'no-cdn-url', body: JSON.stringify(good({ cdn: { url: '', priortime: '00:00-23:59' } })), err: `cdn has files but cdn.url is empty : ${q('no-cdn-url')}` },
    { task: 'bt-no-tmpurl', body: JSON.stringify(good({ btlist: ['a.mxf'], cdnlist: ['b.xml'], bt: { url: 'http://127.0.0.1:9/x.torrent' }, btlistsize: dcp.filelist[0].size, cdnlistsize: dcp.filelist[1].size })), err: 'need tmptorrent and found bt.tmpurl is empty.' },
    { task: 'bt-no-torrent', body: JSON.stringify(good({ btlist: ['a.mxf'], cdnlist: ['b.xml'], bt: { url: 'http://127.0.0.1:9/x.torrent', tmpurl: `${origin.url}/dcp/cfec-001/dcps-tmp/none-tmp.torrent` }, btlistsize: dcp.filelist[0].size, cdnlistsize: dcp.filelist[1].size })), err: `could not download tmptorrent from ${origin.url}/dcp/cfec-001/dcps-tmp/none-tmp.torrent` },
    { task: 'unlisted', body: JSON.stringify(good({ cdnlist: ['a.mxf'] })), err: /^task lists do not match filelist: not in any method list: b\.xml/ },
    { task: 'bad-hash', body: JSON.stringify(good({ filelist: [{ ...dcp.filelist[0], hash: 'nothex' }, dcp.filelist[1]] })), err: /filelist\.0\.hash: must be a sha1/ },
    { task: 'array', body: '[1, 2, 3]', err: /^invalid task file .*array\.task\.json: \(top level\): Expected object/ },
    { task: 'no-filelist', body: JSON.stringify({ name: 'x', size: 5 }), err: /filelist: Required/ },
  ];
}

test('broken task files dropped into queues each get a clear .err and stay where they are', async () => {
  const q = (task: string) => path.join(d.paths.queues, `cfec-001-${task}.task.json`);
  const cases = corpus(q);
  assert.ok(cases.length >= 15);
  for (const c of cases) await writeFile(q(c.task), c.body);
  for (const c of cases) {
    const errFile = path.join(d.paths.queues, `cfec-001-${c.task}.err`);
    const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 15_000, what: `${c.task}.err\n${d.output()}` });
    const first = text.split('\n')[0];
    if (typeof c.err === 'string') assert.equal(first, c.err, c.task);
    else assert.match(first, c.err, c.task);
    assert.match(text.split('\n')[1], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /, `${c.task}: history line with a time`);
    assert.equal(await readFile(q(c.task), 'utf8'), c.body, `${c.task} left in place, unchanged`);
    const p = await d.api('progress', { taskfile: `cfec-001-${c.task}.task.json` });
    assert.equal(p.return_content.status, 'queues');
  }
  assert.equal((await d.get('/heartbeat')).status, 200);
  assert.deepEqual((await readdir(d.paths.downloading)).filter((n) => n !== '.gitkeep'), []);
});

test('deleting .err re-arms a task: once fixed, it downloads', async () => {
  const file = path.join(d.paths.queues, 'cfec-001-fixme.task.json');
  await writeFile(file, '{"name": "good", ');
  const errFile = path.join(d.paths.queues, 'cfec-001-fixme.err');
  await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 15_000, what: 'fixme.err' });
  await writeFile(file + '.tmp', JSON.stringify(good()));
  await rename(file + '.tmp', file);
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(await readFile(errFile, 'utf8'), 'still parked while the .err exists');
  await rm(errFile);
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-fixme.task.json'), 'utf8'), { timeoutMs: 20_000, what: `fixme downloaded\n${d.output()}` });
});

test('a served file whose sha1 differs: retries run out, .err names the file, status downloaderror', async () => {
  const wrong = good({ filelist: [dcp.filelist[0], { ...dcp.filelist[1], hash: 'f'.repeat(40) }] });
  await writeFile(path.join(d.paths.queues, 'cfec-001-badsha.task.json'), JSON.stringify(wrong));
  const errFile = path.join(d.paths.downloading, 'cfec-001-badsha.err');
  const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 30_000, what: `badsha.err\n${d.output()}` });
  assert.match(text.split('\n')[0], new RegExp(`^sha1 mismatch: b\\.xml: expected f{40}, got ${dcp.filelist[1].hash}$`));
  assert.ok(text.split('\n').filter((l) => l.includes('sha1 mismatch')).length >= 3, `each try in the history:\n${text}`);
  const p = await d.api('progress', { taskfile: 'cfec-001-badsha.task.json' });
  assert.equal(p.return_content.status, 'downloaderror');
  assert.equal(p.return_content.downerror, text.split('\n')[0]);
  await assert.rejects(readFile(path.join(d.paths.dcp, 'good.finished')).then(async (t) => (String(t).includes('badsha') ? t : Promise.reject())));
});

test('bad API calls get a false answer naming the problem, never a crash', async () => {
  const post = async (pathname: string, body: string) => {
    const r = await d.post(pathname, body);
    assert.equal(r.status, 200);
    return JSON.parse(r.body);
  };
  const env = (method: string, params: unknown) => JSON.stringify({ message_id: '9', message_type: 'request', message_source: 'test', method_name: method, method_params: params });
  const outside = path.join(base, 'callers');
  await mkdir(outside);
  await writeFile(path.join(outside, 'cfec-001-broken.task.json'), '{"name": ');
  await writeFile(path.join(outside, 'not-a-task.json'), JSON.stringify(good()));
  await writeFile(path.join(outside, 'cfec-001-dotdot.task.json'), JSON.stringify(good({ filelist: [{ file: escapee('api'), hash: dcp.filelist[0].hash, size: 5 }], cdnlist: [escapee('api')], size: 5, cdnlistsize: 5 })));
  const cases: [string, string, string | RegExp][] = [
    ['/recv', 'not json at all', /^invalid request: body is not JSON/],
    ['/recv', '', /^invalid request: body is not JSON/],
    ['/recv', '[]', 'invalid request: the body must be a JSON object'],
    ['/recv', env('recv', [1]), 'invalid request: method_params must be an object'],
    ['/frobnicate', env('frobnicate', {}), 'unknown method: frobnicate'],
    ['/recv', env('recv', {}), 'missing parameter: taskfile'],
    ['/progress', env('progress', { taskfile: '' }), 'missing parameter: taskfile'],
    ['/cancel', env('cancel', {}), 'missing parameter: taskfile'],
    ['/recv', env('recv', { taskfile: path.join(outside, 'cfec-001-missing.task.json') }), `open json file error:open ${path.join(outside, 'cfec-001-missing.task.json')}: no such file or directory`],
    ['/recv', env('recv', { taskfile: path.join(outside, 'cfec-001-broken.task.json') }), `invalid json format:${path.join(outside, 'cfec-001-broken.task.json')}`],
    ['/recv', env('recv', { taskfile: path.join(outside, 'not-a-task.json') }), `taskfile name must end with .task.json: ${path.join(outside, 'not-a-task.json')}`],
    ['/recv', env('recv', { taskfile: path.join(outside, 'cfec-001-dotdot.task.json') }), /^unsafe path in filelist\.file: .*\(has a \.\. segment\)$/],
    ['/recv', env('recv', { taskfile: path.join(outside, 'cfec-001-dotdot.task.json'), reactive: 'maybe' }), 'reactive parameter input error '],
    ['/progress', env('progress', { taskfile: 'cfec-001-nothing.task.json' }), 'unknown task, not found task.'],
    ['/gentask', env('gentask', {}), 'error, please provide taskfile path.'],
    ['/gentask', env('gentask', { taskfile: path.join(outside, 'cfec-001-x.task.json'), dcppath: path.join(base, 'nothing-here') }), `error, not exist dcp path: ${path.join(base, 'nothing-here')}.`],
    ['/send', env('send', { taskfile: 'x' }), 'method send is for senders; this node is a receiver'],
    ['/cprogress', env('cprogress', { taskfile: 'x' }), 'method cprogress is not available on this node yet'],
  ];
  for (const [pathname, body, expected] of cases) {
    const answer = await post(pathname, body);
    assert.equal(answer.return_status, 'false', `${pathname} ${body}: ${JSON.stringify(answer)}`);
    assert.equal(answer.message_type, 'response');
    if (typeof expected === 'string') assert.equal(answer.return_content.desc, expected);
    else assert.match(answer.return_content.desc, expected);
  }
  const cancel = await d.api('cancel', { taskfile: 'cfec-001-nothing.task.json' });
  assert.equal(cancel.return_status, 'true');
  assert.equal(cancel.return_content.desc, 'no need to cancel, not found task: cfec-001-nothing.task.json');
  assert.equal((await d.get('/heartbeat')).status, 200);
  assert.ok(!d.exited());
  // Nothing outside the root: base holds only what the test itself made.
  assert.deepEqual((await readdir(base)).sort(), ['callers', 'origin', 'root']);
  assert.deepEqual(await readdir(outside), ['cfec-001-broken.task.json', 'cfec-001-dotdot.task.json', 'not-a-task.json'].sort());
});

test('an origin that has not got the files yet: tries run out, then deleting .err re-arms the download', async () => {
  const late = { ...good(), name: 'late', cdn: { url: `${origin.url}/dcp/cfec-001/dcps/late`, priortime: '00:00-23:59' } };
  await writeFile(path.join(d.paths.queues, 'cfec-001-late.task.json'), JSON.stringify(late));
  const errFile = path.join(d.paths.downloading, 'cfec-001-late.err');
  const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 30_000, what: `late.err\n${d.output()}` });
  assert.match(text.split('\n')[0], /^cdn download error: (a\.mxf|b\.xml): HTTP 404 from http:\/\/127\.0\.0\.1:\d+\/dcp\/cfec-001\/dcps\/late\//);
  await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'late', [
    { file: 'a.mxf', size: 300_000, seed: 'good/a.mxf' },
    { file: 'b.xml', size: 900, seed: 'good/b.xml' },
  ]);
  await rm(errFile);
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-late.task.json'), 'utf8'), { timeoutMs: 20_000, what: `late downloaded\n${d.output()}` });
  await readFile(path.join(d.paths.dcp, 'late.finished'));
});

test('reloadconf applies a valid config and refuses an invalid one, naming the field; the daemon stays up', async () => {
  const file = path.join(d.root, 'etc/bft2/config.json');
  const original = await readFile(file, 'utf8');
  try {
    await writeFile(file, JSON.stringify({ ...JSON.parse(original), downloadingnum: '4' }));
    assert.equal(JSON.parse((await d.get('/reloadconf')).body), 'reload config.json ok.');
    await writeFile(file, JSON.stringify({ ...JSON.parse(original), servertype: 'seeder', cdntime: '8-18' }));
    const refused = JSON.parse((await d.get('/reloadconf')).body);
    assert.match(refused, /^reload config.json failed: invalid config .*config.json: servertype: .*; cdntime: must be HH:MM-HH:MM/);
    assert.match(JSON.parse((await d.get('/heartbeat')).body), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d is living\.$/);
  } finally {
    await writeFile(file, original);
  }
});
