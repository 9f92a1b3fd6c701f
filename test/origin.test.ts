// Tests of the sender's HTTP origin (src/origin/http-origin.ts) over real sockets,
// and of the test origin's fault knobs (test/helpers/test-origin.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { getGlobalDispatcher, request } from 'undici';
import { startOrigin, type StartedOrigin } from '../src/origin/http-origin.ts';
import { startTestOrigin } from './helpers/test-origin.ts';
import { makeDcp, sha1File } from '../tools/harness/dcp-fixture.ts';
import { makeTempRoot } from '../tools/harness/daemon.ts';

let tmp: string;
let store: string; // plays <root>/data/dcp
let origin: StartedOrigin;
let content: Buffer; // bytes of dcps/demo/a.mxf
const FILE = '/dcp/cfec-001/dcps/demo/a.mxf';
const SIZE = 3 * 1024 * 1024 + 123;

before(async () => {
  tmp = await makeTempRoot();
  store = path.join(tmp, 'store');
  const dcps = path.join(store, 'cfec-001', 'dcps');
  const made = await makeDcp(dcps, 'demo', [
    { file: 'a.mxf', size: SIZE },
    { file: 'sub/b.xml', size: 1000 },
    { file: 'empty.txt', size: 0 },
  ]);
  content = await readFile(path.join(made.dir, 'a.mxf'));
  assert.equal(createHash('sha1').update(content).digest('hex'), made.filelist[0].hash);
  assert.equal(await sha1File(path.join(made.dir, 'a.mxf')), made.filelist[0].hash);

  await writeFile(path.join(tmp, 'secret.txt'), 'outside the store\n');
  await symlink(path.join(tmp, 'secret.txt'), path.join(made.dir, 'escape.txt'));
  await symlink(tmp, path.join(made.dir, 'escapedir'));
  await symlink(path.join(made.dir, 'a.mxf'), path.join(made.dir, 'inside-link.mxf'));
  origin = await startOrigin({ rootDir: store, host: '127.0.0.1', port: 0 });
});

after(async () => {
  await origin?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A raw request target: undici's URL helpers would fold `..` away before sending. */
async function raw(pathname: string, method = 'GET', headers: Record<string, string> = {}) {
  const res = await getGlobalDispatcher().request({ origin: origin.url, path: pathname, method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

async function get(pathname: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(origin.url + pathname, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

test('GET serves the whole file with validators and Accept-Ranges', async () => {
  const r = await get(FILE);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(SIZE));
  assert.equal(r.headers['accept-ranges'], 'bytes');
  assert.match(String(r.headers.etag), /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
  assert.ok(!Number.isNaN(Date.parse(String(r.headers['last-modified']))));
  assert.ok(r.body.equals(content));
});

test('GET of a file in a subdirectory, an empty file and a link that stays inside', async () => {
  const sub = await get('/dcp/cfec-001/dcps/demo/sub/b.xml');
  assert.equal(sub.status, 200);
  assert.equal(sub.body.length, 1000);
  const empty = await get('/dcp/cfec-001/dcps/demo/empty.txt');
  assert.equal(empty.status, 200);
  assert.equal(empty.headers['content-length'], '0');
  assert.equal(empty.body.length, 0);
  const link = await get('/dcp/cfec-001/dcps/demo/inside-link.mxf');
  assert.equal(link.status, 200);
  assert.ok(link.body.equals(content));
});

test('HEAD answers the headers of GET without a body', async () => {
  const r = await get(FILE, {}, 'HEAD');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(SIZE));
  assert.equal(r.headers['accept-ranges'], 'bytes');
  assert.ok(r.headers.etag);
  assert.equal(r.body.length, 0);
});

test('Range bytes=a-b', async () => {
  const r = await get(FILE, { range: 'bytes=100-199' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 100-199/${SIZE}`);
  assert.equal(r.headers['content-length'], '100');
  assert.ok(r.body.equals(content.subarray(100, 200)));
});

test('Range bytes=a- runs to the end', async () => {
  const start = SIZE - 5000;
  const r = await get(FILE, { range: `bytes=${start}-` });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes ${start}-${SIZE - 1}/${SIZE}`);
  assert.ok(r.body.equals(content.subarray(start)));
});

test('Range bytes=-n gives the last n bytes; an end past the file is clamped', async () => {
  const r = await get(FILE, { range: 'bytes=-10' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
  assert.ok(r.body.equals(content.subarray(SIZE - 10)));
  const c = await get(FILE, { range: `bytes=${SIZE - 3}-${SIZE + 1000}` });
  assert.equal(c.status, 206);
  assert.equal(c.body.length, 3);
});

test('unsatisfiable Range is 416 with bytes */size', async () => {
  for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 10}-${SIZE + 20}`, 'bytes=-0']) {
    const r = await get(FILE, { range });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers['content-range'], `bytes */${SIZE}`, range);
  }
  const e = await get('/dcp/cfec-001/dcps/demo/empty.txt', { range: 'bytes=0-' });
  assert.equal(e.status, 416);
  assert.equal(e.headers['content-range'], 'bytes */0');
});

test('malformed or multiple ranges are ignored: 200 with the whole file', async () => {
  for (const range of ['bytes=5-2', 'items=0-1', 'bytes=0-1,5-6', 'bytes=x-y']) {
    const r = await get(FILE, { range });
    assert.equal(r.status, 200, range);
    assert.equal(r.body.length, SIZE, range);
  }
});

test('If-Range: a matching ETag or date keeps the range, a mismatch sends the whole file', async () => {
  const head = await get(FILE, {}, 'HEAD');
  const etag = String(head.headers.etag);
  const lm = String(head.headers['last-modified']);

  const m = await get(FILE, { range: 'bytes=0-9', 'if-range': etag });
  assert.equal(m.status, 206);
  assert.ok(m.body.equals(content.subarray(0, 10)));

  const d = await get(FILE, { range: 'bytes=0-9', 'if-range': lm });
  assert.equal(d.status, 206);

  for (const stale of ['"0-0-0"', `W/${etag}`, 'Thu, 01 Jan 1970 00:00:00 GMT']) {
    const r = await get(FILE, { range: 'bytes=0-9', 'if-range': stale });
    assert.equal(r.status, 200, stale);
    assert.equal(r.headers['content-range'], undefined);
    assert.ok(r.body.equals(content), stale);
  }
});

test('404 for a missing file, a directory, and outside the URL prefix', async () => {
  for (const p of [
    '/dcp/cfec-001/dcps/demo/nope.mxf',
    '/dcp/cfec-001/dcps/demo',
    '/dcp/cfec-001/dcps/demo/',
    '/dcp/',
    '/dcp',
    '/other/cfec-001/dcps/demo/a.mxf',
    '/dcp/cfec-001/dcps/demo/a.mxf/x',
  ]) {
    const r = await raw(p);
    assert.equal(r.status, 404, p);
  }
});

test('traversal is refused: ../, %2e%2e, NUL, backslash, empty segments, symlinks out', async () => {
  for (const p of [
    '/dcp/../secret.txt',
    '/dcp/cfec-001/../../secret.txt',
    '/dcp/%2e%2e/secret.txt',
    '/dcp/%2E%2E/secret.txt',
    '/dcp/cfec-001/dcps/demo/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt',
    '/dcp/..%2fsecret.txt',
    '/dcp/cfec-001/dcps/demo/a.mxf%00',
    '/dcp/cfec-001/dcps/demo/a.mxf%00.txt',
    '/dcp/cfec-001\\..\\..\\secret.txt',
    '/dcp/cfec-001%5cdcps%5cdemo%5ca.mxf',
    '/dcp/cfec-001//dcps/demo/a.mxf',
    '/dcp/./cfec-001/dcps/demo/a.mxf',
    '/dcp/cfec-001/dcps/demo/escape.txt',
    '/dcp/cfec-001/dcps/demo/escapedir/secret.txt',
    '/dcp/%E0%A4%A',
  ]) {
    const r = await raw(p);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.toString('latin1').includes('outside the store'), p);
  }
});

test('methods other than GET and HEAD are 405', async () => {
  for (const method of ['PUT', 'POST', 'DELETE']) {
    const r = await raw(FILE, method);
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  const put = await request(origin.url + FILE, { method: 'PUT', body: 'overwrite?' });
  await put.body.dump();
  assert.equal(put.statusCode, 405);
  assert.equal((await get(FILE)).body.length, SIZE);
});

test('a client that goes away mid-body does not leak file descriptors', async () => {
  const fdDir = '/proc/self/fd';
  const countFds = async () => (await readdir(fdDir)).length;
  await get(FILE); // warm up pools so the baseline includes steady sockets
  const baseline = await countFds();
  for (let i = 0; i < 5; i++) {
    const ac = new AbortController();
    const res = await request(origin.url + FILE, { signal: ac.signal });
    // Read a little, then abort with most of the file still to come.
    for await (const _ of res.body) {
      ac.abort();
      break;
    }
  }
  // The server closes the fd when it sees the socket close; give it a moment.
  let now = await countFds();
  for (let i = 0; i < 50 && now > baseline + 1; i++) {
    await new Promise((r) => setTimeout(r, 20));
    now = await countFds();
  }
  assert.ok(now <= baseline + 1, `fds: baseline ${baseline}, now ${now}`);
});

test('test origin: request log, getsFor and dropConnectionOnce', async () => {
  const t = await startTestOrigin(store);
  try {
    const url = t.url + FILE;
    t.dropConnectionOnce('/demo/a.mxf', 100_000);
    const res = await request(url);
    assert.equal(res.statusCode, 200);
    let got = 0;
    await assert.rejects(async () => {
      for await (const chunk of res.body) got += (chunk as Buffer).length;
    });
    assert.ok(got >= 100_000 && got < SIZE, `got ${got} bytes before the cut`);
    assert.equal(got, 100_000);

    // Only once: the resumed request gets the rest.
    const rest = await request(url, { headers: { range: `bytes=${got}-` } });
    assert.equal(rest.statusCode, 206);
    const tail = Buffer.from(await rest.body.arrayBuffer());
    assert.ok(tail.equals(content.subarray(got)));

    assert.equal(t.getsFor('/demo/a.mxf'), 2);
    assert.equal(t.getsFor('b.xml'), 0);
    assert.deepEqual(
      t.requests.map((r) => [r.method, r.path, r.range]),
      [
        ['GET', FILE, undefined],
        ['GET', FILE, `bytes=${got}-`],
      ],
    );
  } finally {
    await t.close();
  }
});

test('test origin: throttle slows the transfer and null lifts it', async () => {
  const t = await startTestOrigin(store);
  try {
    t.throttle(1024 * 1024); // 1 MiB/s: 3 MiB should take ~2 s or more
    const t0 = Date.now();
    const r1 = await request(t.url + FILE);
    const b1 = Buffer.from(await r1.body.arrayBuffer());
    const slow = Date.now() - t0;
    assert.ok(b1.equals(content));
    assert.ok(slow >= 1500, `throttled transfer took ${slow} ms`);

    t.throttle(null);
    const t1 = Date.now();
    const r2 = await request(t.url + FILE);
    const b2 = Buffer.from(await r2.body.arrayBuffer());
    assert.ok(b2.equals(content));
    assert.ok(Date.now() - t1 < slow / 2, `unthrottled took ${Date.now() - t1} ms`);
  } finally {
    await t.close();
  }
});

test('startOrigin serves a store that does not exist yet once it appears', async () => {
  const late = path.join(tmp, 'late-store');
  const o = await startOrigin({ rootDir: late, host: '127.0.0.1', port: 0, urlPrefix: 'files' });
  try {
    const miss = await request(o.url + '/files/x.txt');
    await miss.body.dump();
    assert.equal(miss.statusCode, 404);
    await mkdir(late, { recursive: true });
    await writeFile(path.join(late, 'x.txt'), 'hello');
    const hit = await request(o.url + '/files/x.txt');
    assert.equal(hit.statusCode, 200);
    assert.equal(await hit.body.text(), 'hello');
  } finally {
    await o.close();
  }
});
