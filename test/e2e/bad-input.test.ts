// A corpus of broken and hostile task files, API calls and servers against a real daemon
// (SPEC §4, trust boundary): each gets its clear error (an `.err` beside the file, or a
// `false` answer), the daemon stays up and still processes a good task dropped after
// them, nothing is written outside its root, and nothing outside is read or changed.
// The sender's side (publishing from outside the store) is in bad-input-sender.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile, readdir, rm, rename, symlink, lstat, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { request } from 'undici';
import { Readable } from 'node:stream';
import path from 'node:path';
import { startHostileServer, type HostileServer } from '../helpers/hostile-server.ts';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, type Daemon } from '../../tools/harness/daemon.ts';

const ENV = { retrydelay: '100ms', retrymaxdelay: '200ms', retrytries: 3, unparseablegrace: '2000ms', apiheaders: '1500ms' };
/** Hostile inputs this file feeds the daemon, counted as the tests go (printed at the end). */
let corpusCount = 0;

let base: string;
let origin: TestOrigin;
let dcp: MadeDcp;
let d: Daemon;
let hostile: HostileServer;

before(async () => {
  hostile = await startHostileServer();
  // base/ holds root/ and the origin's files; nothing else may appear in it.
  base = await makeTempRoot();
  dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'good', [
    { file: 'a.mxf', size: 300_000 },
    { file: 'b.xml', size: 900 },
  ]);
  origin = await startTestOrigin(path.join(base, 'origin'));
  await mkdir(path.join(base, 'root'));
  d = await startDaemon({ root: path.join(base, 'root'), config: {}, tuning: ENV });
});
after(async () => {
  console.log(`bad-input corpus (receiver and API): ${corpusCount} hostile inputs`);
  await hostile?.close();
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
  corpusCount += cases.length;
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

test('a marker belongs to the file version that earned it: a parked file stays parked until its .err goes; one written again after its .err is examined afresh', async () => {
  // Unchanged: parked while its .err exists; deleting the .err re-arms it (here it is still broken: a new .err).
  const stuck = path.join(d.paths.queues, 'cfec-001-stuck.task.json');
  await writeFile(stuck, '{"name": "stuck", ');
  const stuckErr = path.join(d.paths.queues, 'cfec-001-stuck.err');
  await waitFor(() => readFile(stuckErr, 'utf8'), { timeoutMs: 15_000, what: 'stuck.err' });
  await new Promise((r) => setTimeout(r, 1000));
  assert.match(await readFile(stuckErr, 'utf8'), /^invalid json format:/, 'still parked while the .err exists');
  // Written again after its .err (a corrected file copied over it): the stale .err goes, the task downloads.
  const file = path.join(d.paths.queues, 'cfec-001-fixme.task.json');
  await writeFile(file, '{"name": "good", ');
  const errFile = path.join(d.paths.queues, 'cfec-001-fixme.err');
  await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 15_000, what: 'fixme.err' });
  await new Promise((r) => setTimeout(r, 20)); // the new version's mtime is after the .err's
  await writeFile(file + '.tmp', JSON.stringify(good()));
  await rename(file + '.tmp', file);
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-fixme.task.json'), 'utf8'), { timeoutMs: 20_000, what: `fixme downloaded\n${d.output()}` });
  await assert.rejects(stat(errFile), { code: 'ENOENT' }, 'no stale .err left in queues');
  await assert.rejects(stat(path.join(d.paths.downloaded, 'cfec-001-fixme.err')), { code: 'ENOENT' }, 'no .err followed it');
  await rm(stuck);
  await rm(stuckErr);
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
    ['/gentask', env('gentask', {}), 'do not support receiver type gentask, gentask is for sender type'],
    ['/send', env('send', { taskfile: 'x' }), 'do not support receiver type send, send is for sender type'],
    ['/cprogress', env('cprogress', { taskfile: 'x' }), 'do not support receiver type cprogress, cprogress is for cacher type'],
  ];
  corpusCount += cases.length;
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
    assert.equal(JSON.parse((await d.get('/reloadconf')).body), 'reload config.json ok. applied: downloadingnum.');
    // By POST too (TMS integrations send either).
    const posted = await d.post('/reloadconf', '');
    assert.equal(posted.status, 200);
    assert.equal(JSON.parse(posted.body), 'reload config.json ok. no key to apply changed.');
    await writeFile(file, JSON.stringify({ ...JSON.parse(original), servertype: 'seeder', cdntime: '8-18' }));
    const refused = JSON.parse((await d.get('/reloadconf')).body);
    assert.match(refused, /^reload config.json failed: invalid config .*config.json: servertype: .*; cdntime: 8-18: .*must be HH:MM-HH:MM.*; the running config stays in force, nothing was applied\.$/);
    assert.match(await readFile(d.paths.log, 'utf8'), /warn: reloadconf refused, the running config stays in force: invalid config .*config.json: servertype: /);
    assert.match(JSON.parse((await d.get('/heartbeat')).body), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d is living\.$/);
  } finally {
    await writeFile(file, original);
  }
});

/** A good task dropped after hostile ones is still downloaded: the daemon is alive and working. */
async function goodTaskStillWorks(label: string): Promise<void> {
  const task = `cfec-001-after-${label}`;
  await writeFile(path.join(d.paths.queues, `${task}.task.json`), JSON.stringify(good()));
  await waitFor(() => readFile(path.join(d.paths.downloaded, `${task}.task.json`), 'utf8'), { timeoutMs: 30_000, what: `${task} downloaded after ${label}\n${d.output()}` });
  assert.ok(!d.exited());
}

/** Nothing appeared outside the root: base holds only what the tests themselves made. */
async function nothingOutsideRoot(allowed: string[]): Promise<void> {
  const found = (await readdir(base)).sort();
  assert.deepEqual(found, [...allowed].sort(), 'base holds only what the test made');
}

test('hostile spool entries: a symlink, a FIFO, a link to /dev/zero, a directory, 17 MiB, bad windows and numbers — each refused at once, left in place, never read or written through', async () => {
  const outside = path.join(base, 'victims');
  await mkdir(outside, { recursive: true });
  const victim = path.join(outside, 'victim.task.json');
  const victimText = JSON.stringify(good());
  await writeFile(victim, victimText);
  const q = (t: string) => path.join(d.paths.queues, `cfec-001-${t}.task.json`);
  await symlink(victim, q('symlink'));
  execFileSync('mkfifo', [q('fifo')]);
  await symlink('/dev/zero', q('devzero'));
  await mkdir(q('directory'));
  await writeFile(q('huge'), `{"name": "x", "pad": "${'a'.repeat(17 * 1024 * 1024)}"}`);
  const withWindow = good({ cdn: { url: cdnUrl(), priortime: '25:99-xx' } });
  await writeFile(q('window'), JSON.stringify(withWindow));
  const big = 2 ** 53 + 1;
  await writeFile(q('bignum'), JSON.stringify(good()).replace(`"size":${dcp.size}`, `"size":${big}`));
  await writeFile(q('ftp-url'), JSON.stringify(good({ cdn: { url: 'ftp://127.0.0.1/dcp', priortime: '' } })));
  await writeFile(q('file-url'), JSON.stringify(good({ cdn: { url: 'file:///etc', priortime: '' } })));
  const cases: [string, string | RegExp][] = [
    ['symlink', `taskfile is not a regular file: ${q('symlink')} is a symbolic link`],
    ['fifo', `taskfile is not a regular file: ${q('fifo')} is a FIFO`],
    ['devzero', `taskfile is not a regular file: ${q('devzero')} is a symbolic link`],
    ['directory', `taskfile is not a regular file: ${q('directory')} is a directory`],
    ['huge', /^taskfile too large: .*huge\.task\.json has \d+ bytes, at most 16777216 are read$/],
    ['window', /^invalid task file .*window\.task\.json: cdn\.priortime: 25:99-xx: .*hour 25 is out of range/],
    ['bignum', /^invalid task file .*bignum\.task\.json: size: must be at most 9007199254740991/],
    ['ftp-url', `cdn.url "ftp://127.0.0.1/dcp" must start with http:// or https:// : ${q('ftp-url')}`],
    ['file-url', `cdn.url "file:///etc" must start with http:// or https:// : ${q('file-url')}`],
  ];
  corpusCount += cases.length;
  for (const [t, expected] of cases) {
    const errFile = path.join(d.paths.queues, `cfec-001-${t}.err`);
    const first = (await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 15_000, what: `${t}.err\n${d.output()}` })).split('\n')[0];
    if (typeof expected === 'string') assert.equal(first, expected, t);
    else assert.match(first, expected, t);
    assert.ok(await lstat(q(t)), `${t} left where it is`);
  }
  // Never written through: the symlink is still a symlink, its target untouched.
  assert.ok((await lstat(q('symlink'))).isSymbolicLink());
  assert.equal(await readFile(victim, 'utf8'), victimText);
  assert.deepEqual(await readdir(outside), ['victim.task.json']);
  // Nothing of them reached downloading.
  for (const [t] of cases) await assert.rejects(lstat(path.join(d.paths.downloading, `cfec-001-${t}.task.json`)));
  // The FIFO never blocked anything: a good task dropped now goes through.
  await goodTaskStillWorks('spool-entries');
  for (const [t] of cases) await rm(q(t), { recursive: true, force: true });
});

test('hostile servers: an endless body, a wrong length, 401/403/404/410, a refused connection, redirect loops and a redirect to file: — each a clear .err, the body cut at the file size', async () => {
  const closed = await new Promise<number>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
  hostile.setTarget(`${origin.url}/dcp/cfec-001/dcps/good`);
  const h = hostile.url;
  const a = (reason: string) => new RegExp(`^cdn download error: (a\\.mxf|b\\.xml): ${reason}`);
  const cases: [string, string, RegExp][] = [
    ['endless', `${h}/endless/x`, a(`origin sent more than the file's (300000|900) bytes`)],
    ['toolong', `${h}/toolong/x`, a('origin size 1000 differs from task size (300000|900)')],
    ['s401', `${h}/status/401/x`, a(`HTTP 401 from ${h}/status/401/x/`)],
    ['s403', `${h}/status/403/x`, a(`HTTP 403 from ${h}/status/403/x/`)],
    ['s404', `${h}/status/404/x`, a(`HTTP 404 from ${h}/status/404/x/`)],
    ['s410', `${h}/status/410/x`, a(`HTTP 410 from ${h}/status/410/x/`)],
    ['s500', `${h}/status/500/x`, a(`HTTP 500 from ${h}/status/500/x/`)],
    ['refused', `http://127.0.0.1:${closed}/dcp`, a('.*ECONNREFUSED')],
    ['redirect-loop', `${h}/redirect-loop/x`, a(`more than 5 redirects from ${h}/redirect-loop/x/`)],
    ['redirect-file', `${h}/redirect-file/x`, a(`redirect from ${h}/redirect-file/x/.* to a file: URL refused`)],
    ['redirect-six', `${h}/redirect-chain/6`, a(`more than 5 redirects from ${h}/redirect-chain/6/`)],
  ];
  corpusCount += cases.length;
  const started = Date.now();
  for (const [t, url] of cases) {
    await writeFile(path.join(d.paths.queues, `cfec-001-${t}.task.json`), JSON.stringify(good({ name: `srv-${t}`, cdn: { url, priortime: '' } })));
  }
  for (const [t, , expected] of cases) {
    const errFile = path.join(d.paths.downloading, `cfec-001-${t}.err`);
    const text = await waitFor(() => readFile(errFile, 'utf8'), { timeoutMs: 60_000, what: `${t}.err\n${d.output()}` });
    assert.match(text.split('\n')[0], expected, t);
    assert.ok(text.split('\n').length >= 3, `${t}: the tries' history is kept:\n${text}`);
  }
  assert.ok(Date.now() - started < 60_000, 'every hopeless server reported within a minute');
  // The endless body was cut: at most a few MB per try, not gigabytes.
  assert.ok((hostile.sent.get('endless') ?? 0) < 40 * 1024 * 1024, `endless: ${hostile.sent.get('endless')} bytes sent`);
  // Exactly 5 redirects are followed: the same DCP behind a chain of five arrives.
  await writeFile(path.join(d.paths.queues, 'cfec-001-redirect-five.task.json'), JSON.stringify(good({ name: 'srv-five', cdn: { url: `${h}/redirect-chain/5`, priortime: '' } })));
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-redirect-five.task.json'), 'utf8'), { timeoutMs: 30_000, what: `redirect-five downloaded\n${d.output()}` });
  assert.equal(await sha1Of(path.join(d.paths.dcp, 'srv-five', 'a.mxf')), dcp.filelist[0].hash);
  for (const [t] of cases) await d.api('cancel', { taskfile: `cfec-001-${t}.task.json` });
  await goodTaskStillWorks('servers');
});

test('hostile API calls: FIFO, device, directory and 17 MiB task paths, a 2 MiB body, a client that never finishes its headers, sender methods on a receiver, 20 identical recv at once', async () => {
  const callers = path.join(base, 'api-callers');
  await mkdir(callers, { recursive: true });
  const fifo = path.join(callers, 'cfec-001-fifo.task.json');
  execFileSync('mkfifo', [fifo]);
  const zero = path.join(callers, 'cfec-001-zero.task.json');
  await symlink('/dev/zero', zero);
  const dir = path.join(callers, 'cfec-001-dir.task.json');
  await mkdir(dir);
  const huge = path.join(callers, 'cfec-001-huge.task.json');
  await writeFile(huge, `{"pad": "${'b'.repeat(17 * 1024 * 1024)}"}`);
  const cases: [string, Record<string, string>, string | RegExp][] = [
    ['recv', { taskfile: fifo }, `taskfile is not a regular file: ${fifo} is a FIFO`],
    ['recv', { taskfile: zero }, `taskfile is not a regular file: ${zero} is a device`],
    ['recv', { taskfile: dir }, `taskfile is not a regular file: ${dir} is a directory`],
    ['recv', { taskfile: huge }, /^taskfile too large: .*cfec-001-huge\.task\.json has \d+ bytes, at most 16777216 are read$/],
    ['gentask', { taskfile: path.join(callers, 'x.task.json'), dcppath: callers }, 'do not support receiver type gentask, gentask is for sender type'],
    ['taskfilesquery', { taskfile: path.join(callers, 'x.task.json') }, 'do not support receiver type taskfilesquery, taskfilesquery is for sender type'],
    ['uploadprogress', { taskfile: 'x.task.json' }, 'do not support receiver type uploadprogress, uploadprogress is for sender type'],
  ];
  corpusCount += cases.length + 3;
  for (const [method, params, expected] of cases) {
    const answer = await d.api(method, params);
    assert.equal(answer.return_status, 'false', `${method} ${JSON.stringify(params)}`);
    if (typeof expected === 'string') assert.equal(answer.return_content.desc, expected);
    else assert.match(answer.return_content.desc, expected);
  }

  // A body over 1 MiB is answered false, and the client that is still sending it gets the
  // answer (it used to get ECONNRESET about once a run): ten in a row, with a length, ...
  const tooLarge = /^invalid request: body larger than 1048576 bytes$/;
  const bigJson = JSON.stringify({ method_name: 'recv', method_params: { taskfile: 'x', pad: 'c'.repeat(2 * 1024 * 1024) } });
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    const bigBody = await d.post('/recv', bigJson).catch((err: Error) => ({ status: 0, body: `${err.message} (try ${i + 1})` }));
    assert.equal(bigBody.status, 200, bigBody.body);
    assert.match(JSON.parse(bigBody.body).return_content.desc, tooLarge);
    assert.ok(Date.now() - t0 < 5000);
  }
  // ... chunked, with no length ...
  const chunked = await request(`${d.apiBase}/recv`, {
    method: 'POST',
    body: Readable.from((function* () {
      for (let i = 0; i < 32; i++) yield Buffer.alloc(64 * 1024, 'c');
    })()),
  });
  assert.equal(chunked.statusCode, 200);
  assert.match(JSON.parse(await chunked.body.text()).return_content.desc, tooLarge);
  // ... and written slowly over a raw socket: the answer comes once the body is in.
  const { port: apiPort } = new URL(d.apiBase);
  const slow = await new Promise<string>((resolve, reject) => {
    const size = 2 * 1024 * 1024;
    const sock = net.connect(Number(apiPort), '127.0.0.1', async () => {
      sock.write(`POST /recv HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`);
      for (let sent = 0; sent < size; sent += 128 * 1024) {
        if (!sock.write(Buffer.alloc(128 * 1024, 'c'))) await new Promise((r) => sock.once('drain', r));
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    let answer = '';
    sock.on('data', (b) => (answer += String(b)));
    sock.on('error', (err) => reject(new Error(`slow writer: ${err.message}; answer so far: ${answer}`)));
    sock.on('close', () => resolve(answer));
    setTimeout(() => reject(new Error('the slow writer never got an answer')), 15_000);
  });
  assert.match(slow, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(slow, /\r\nconnection: close\r\n/i);
  assert.match(JSON.parse(slow.slice(slow.indexOf('\r\n\r\n') + 4)).return_content.desc, tooLarge);
  // A body declared far larger than anything drained is answered at once, unread.
  const declared = await new Promise<{ answer: string; ms: number }>((resolve, reject) => {
    const start = Date.now();
    const sock = net.connect(Number(apiPort), '127.0.0.1', () => sock.write(`POST /recv HTTP/1.1\r\nHost: x\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`));
    let answer = '';
    sock.on('data', (b) => (answer += String(b)));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ answer, ms: Date.now() - start }));
    setTimeout(() => reject(new Error('no answer to a 100 MiB declaration')), 15_000);
  });
  assert.match(declared.answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*body larger than 1048576 bytes/);
  assert.ok(declared.ms < 5000, `answered after ${declared.ms} ms`);

  // A client that sends half its headers and waits is disconnected (tuning.apiheaders 1.5 s here).
  const port = apiPort;
  const closedAfter = await new Promise<number>((resolve, reject) => {
    const start = Date.now();
    const sock = net.connect(Number(port), '127.0.0.1', () => sock.write('POST /recv HTTP/1.1\r\nHost: x\r\n'));
    let answer = '';
    sock.on('data', (b) => (answer += String(b)));
    sock.on('error', () => undefined);
    sock.on('close', () => (answer.startsWith('HTTP/1.1 408') ? resolve(Date.now() - start) : reject(new Error(`closed without a 408: ${answer}`))));
    setTimeout(() => reject(new Error('the slow client was never disconnected')), 15_000);
  });
  assert.ok(closedAfter < 10_000, `disconnected after ${closedAfter} ms`);

  // Twenty identical recv calls at once: one succeeds, the others are told it is queued.
  const taskFile = path.join(callers, 'cfec-001-twenty.task.json');
  await writeFile(taskFile, JSON.stringify(good({ name: 'twenty' })));
  const answers = await Promise.all(Array.from({ length: 20 }, () => d.api('recv', { taskfile: taskFile, reactive: 'false' })));
  const ok = answers.filter((x) => x.return_status === 'true');
  assert.equal(ok.length, 1, JSON.stringify(answers.map((x) => x.return_content.desc)));
  for (const x of answers.filter((y) => y.return_status === 'false')) assert.match(x.return_content.desc, /^same taskfile in (queues|downloading):/);
  await waitFor(() => readFile(path.join(d.paths.downloaded, 'cfec-001-twenty.task.json'), 'utf8'), { timeoutMs: 30_000, what: 'twenty downloaded' });
  assert.ok(!d.exited());
  await goodTaskStillWorks('api');
});

test('two task files naming the same DCP with different content, dropped together: run one after the other; the table holds only hashes of what is on disk', async () => {
  // Same name "twin" (plan A: the same store directory), different files.
  const other = await makeDcp(path.join(base, 'origin', 'cfec-002', 'dcps'), 'twin', [
    { file: 'a.mxf', size: 200_000, seed: 'other/a' },
    { file: 'b.xml', size: 700, seed: 'other/b' },
  ]);
  const first = makeCdnTask({ name: 'twin', basesubdir: 'cfec-001', cdnUrl: cdnUrl(), filelist: dcp.filelist });
  const second = makeCdnTask({ name: 'twin', basesubdir: 'cfec-002', cdnUrl: `${origin.url}/dcp/cfec-002/dcps/twin`, filelist: other.filelist });
  corpusCount += 1;
  await writeFile(path.join(d.paths.queues, 'cfec-001-twin.task.json'), JSON.stringify(first));
  await writeFile(path.join(d.paths.queues, 'cfec-002-twin.task.json'), JSON.stringify(second));
  let both = false;
  await waitFor(
    async () => {
      const running = (await readdir(d.paths.downloading)).filter((n) => n.endsWith('-twin.task.json'));
      if (running.length > 1) both = true;
      const done = (await readdir(d.paths.downloaded)).filter((n) => n.endsWith('-twin.task.json')).length + (await readdir(d.paths.history)).filter((n) => n.includes('-twin.task.json')).length;
      return done >= 2 || undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20, what: `both twins done\n${d.output()}` },
  );
  assert.equal(both, false, 'never two tasks of one DCP in downloading at once');
  // Whatever order they ran in, the store holds one whole version and the table agrees with the disk.
  const table = await readFile(path.join(d.root, 'etc/bft2/hashtable.txt'), 'utf8').catch(() => '');
  for (const line of table.split('\n').filter((l) => l.includes('/twin/'))) {
    const [hash, file] = [line.slice(0, 40), line.slice(42)];
    assert.equal(await sha1Of(file), hash, `table row for ${file} matches the file on disk`);
  }
  const a = await sha1Of(path.join(d.paths.dcp, 'twin', 'a.mxf'));
  assert.ok([dcp.filelist[0].hash, other.filelist[0].hash].includes(a));
});

test('a config with a syntax error right after obssk: reloadconf refuses it without quoting any of the key', async () => {
  const file = path.join(d.root, 'etc/bft2/config.json');
  const original = await readFile(file, 'utf8');
  const secret = 'Zq9SECRETxK3v7Lm2Pw8RtY5';
  corpusCount += 2;
  try {
    for (const broken of [
      original.replace(/\}\s*$/, `, "obsak": "AK", "obssk": "${secret}" "obsendpoint": "x" }`),
      original.replace(/\}\s*$/, `, "obssk": ${secret} }`),
    ]) {
      await writeFile(file, broken);
      const answer = JSON.parse((await d.get('/reloadconf')).body) as string;
      assert.match(answer, /^reload config.json failed: invalid config .*config\.json: not JSON: line \d+, column \d+: [^;]+; the running config stays in force, nothing was applied\.$/);
      for (let i = 0; i + 4 <= secret.length; i++) assert.ok(!answer.includes(secret.slice(i, i + 4)), `answer quotes part of the key: ${answer}`);
    }
    const log = await readFile(d.paths.log, 'utf8');
    assert.ok(!log.includes(secret.slice(0, 8)), 'the log never holds the key');
  } finally {
    await writeFile(file, original);
    await d.get('/reloadconf');
  }
});

async function sha1Of(file: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha1').update(await readFile(file)).digest('hex');
}

test('after the whole corpus: the daemon is up and nothing was written outside its root', async () => {
  assert.equal((await d.get('/heartbeat')).status, 200);
  await nothingOutsideRoot(['api-callers', 'callers', 'origin', 'root', 'victims']);
  assert.ok(corpusCount >= 40, `corpus: ${corpusCount}`);
});
