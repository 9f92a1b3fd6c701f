// The pure parts of running unattended (issue 20): which faults are transient, which names
// are impossible, a task file that is not UTF-8, the crash guard's strikes, the `.err`
// footer of autoretry, and one task's transitions running one after the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { faultClass, nextRetryDelay, defaultRetryPolicy } from '../../src/transfer/retry-policy.ts';
import { errors } from '../../src/errors/catalogue.ts';
import { statusError } from '../../src/transfer/cdn/http-request.ts';
import { nameProblem, Paths, RECEIVER_STATES, LONGEST_AFFIX, NAME_MAX } from '../../src/config/paths.ts';
import { validateTask } from '../../src/task/validate-task.ts';
import { decodeUtf8 } from '../../src/trust/confined-file.ts';
import { CrashGuard } from '../../src/spool/crash-guard.ts';
import { TaskSpool } from '../../src/spool/task-spool.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { parseAutoRetry, parseDuration, tuningSchema } from '../../src/config/tuning.ts';
import { newStoreSwap, parseStoreSwap } from '../../src/roles/receiver/store-merge.ts';

const errno = (code: string) => Object.assign(new Error(code), { code });

test('transient faults: refused, reset, timed out, DNS failures, 5xx and 429 — also behind a cause; hopeless: 404, 403, bad URL, certificates, refused keys', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']) assert.equal(faultClass(errno(code)), 'transient', code);
  for (const status of [500, 502, 503, 504, 429]) assert.equal(faultClass(statusError('http://x/f', status)), 'transient', String(status));
  const wrapped = Object.assign(errors.BT_TORRENT_FETCH('http://x/t.torrent', false), { cause: errno('ENOTFOUND') });
  assert.equal(faultClass(wrapped), 'transient', 'a torrent fetch that did not resolve');
  for (const status of [401, 403, 404, 410]) assert.equal(faultClass(statusError('http://x/f', status)), 'hopeless', String(status));
  assert.equal(faultClass(errno('CERT_HAS_EXPIRED')), 'hopeless');
  assert.equal(faultClass(errno('InvalidAccessKeyId')), 'hopeless');
  assert.equal(faultClass(new Error('sha1 mismatch')), 'other');
});

test('retries: a transient fault gets growing delays for longer than the seed\'s 5 tries 5 minutes apart; a hopeless one 3 quick tries', () => {
  const p = defaultRetryPolicy();
  let waited = 0;
  let tries = 1;
  for (let d = nextRetryDelay(p, tries, errno('ECONNREFUSED')); d !== undefined; d = nextRetryDelay(p, ++tries, errno('ECONNREFUSED'))) waited += d;
  assert.ok(waited >= 25 * 60_000, `transient faults are retried for ${waited / 60_000} minutes`);
  assert.equal(tries, 7);
  assert.equal(nextRetryDelay(p, 1, statusError('http://x', 404)), 10_000);
  assert.equal(nextRetryDelay(p, 3, statusError('http://x', 404)), undefined);
});

test('impossible names: .bft2- prefixes and names too long once bft2 adds its suffixes are refused, naming the field', () => {
  assert.match(nameProblem('.bft2-old-small')!, /reserves for its own temporary files/);
  assert.equal(nameProblem('a'.repeat(NAME_MAX - LONGEST_AFFIX)), undefined);
  assert.match(nameProblem('a'.repeat(NAME_MAX - LONGEST_AFFIX + 1))!, /bytes long/);
  // Bytes, not characters: 80 three-byte characters are 240 bytes.
  assert.match(nameProblem('影'.repeat(80))!, /240 bytes/);
  const task = (over: Record<string, unknown>) => ({ name: 'small', size: 1, filelist: [{ file: 'a.mxf', hash: 'a'.repeat(40), size: 1 }], cdnlist: ['a.mxf'], cdn: { url: 'http://x' }, ...over });
  assert.throws(() => validateTask(task({ name: '.bft2-old-small' }), 't'), (e: Error & { code?: string }) => e.code === 'TASK_NAME_REFUSED' && /in name/.test(e.message));
  assert.throws(() => validateTask(task({ basesubdir: '.bft2-x' }), 't'), /in basesubdir/);
  const deep = { filelist: [{ file: 'sub/.bft2-a.mxf.part', hash: 'a'.repeat(40), size: 1 }], cdnlist: ['sub/.bft2-a.mxf.part'] };
  assert.throws(() => validateTask(task(deep), 't'), /in filelist\.file: "\.bft2-a\.mxf\.part"/);
  assert.doesNotThrow(() => validateTask(task({}), 't'));
});

test('a task file that is not UTF-8 is refused with the offset of its first bad byte', () => {
  const bytes = Buffer.concat([Buffer.from('{"name": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  assert.throws(() => decodeUtf8('/q/x.task.json', bytes), (e: Error & { code?: string }) => e.code === 'TASK_NOT_UTF8' && /offset 10/.test(e.message));
  assert.equal(decodeUtf8('/q/x.task.json', Buffer.from('{"name": "影片"}')), '{"name": "影片"}');
});

test('paths: a task whose longest path would reach PATH_MAX is named with its length', () => {
  const paths = new Paths('/r');
  const config = { servertype: 'receiver', receiverstoreplan: 'A', basedatapath: '/data/dcp' } as never;
  assert.equal(paths.pathTooLong(config, 'cfec', 'film', [{ file: 'a.mxf' }]), undefined);
  const deep = Array.from({ length: 21 }, () => 'd'.repeat(200)).join('/');
  const long = paths.pathTooLong(config, 'cfec', 'film', [{ file: 'a.mxf' }, { file: deep }]);
  assert.ok(long?.file === deep, 'the deep file is named');
  assert.ok(long!.bytes >= 4096);
});

test('durations and autoretry values: units required, off allowed, nonsense refused', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30m'), 1_800_000);
  assert.throws(() => parseDuration('30'), /not a duration/);
  assert.equal(parseAutoRetry('off'), 'off');
  assert.equal(parseAutoRetry('30m'), 1_800_000);
  assert.equal(parseAutoRetry('200ms'), undefined, 'less than a second is refused');
  assert.equal(tuningSchema.parse(undefined).retrydelay, 60_000);
  assert.equal(tuningSchema.safeParse({ retrydelay: 'soon' }).success, false);
  assert.equal(tuningSchema.safeParse({ retrydaley: '1s' }).success, false, 'a misspelt tuning key is refused');
});

test('the crash guard: a task running at two crashes in a row is quarantined at the third start; a clean stop clears every strike', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-guard-'));
  try {
    const log = silentLogger();
    let g = await CrashGuard.open(dir, log);
    g.started('receiver/poison');
    g.started('receiver/fine');
    g.ended('receiver/fine');
    await g.saved(); // the record is written in the background; a crash comes after it
    // crash 1: no close
    g = await CrashGuard.open(dir, log);
    assert.equal(g.strikes('receiver/poison'), 1);
    assert.equal(g.quarantined('receiver/poison'), false);
    assert.equal(g.strikes('receiver/fine'), 0);
    g.started('receiver/poison');
    await g.saved();
    // crash 2
    g = await CrashGuard.open(dir, log);
    assert.equal(g.quarantined('receiver/poison'), true, 'two crashes in a row while it ran');
    g.ended('receiver/poison');
    await g.close();
    g = await CrashGuard.open(dir, log);
    assert.equal(g.strikes('receiver/poison'), 0, 'a clean stop clears the record');
    await g.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('one task\'s transitions run one after the other, in call order, even when one fails', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bft2-chain-'));
  try {
    const spool = new TaskSpool(new Paths(root), 'receiver', RECEIVER_STATES, silentLogger());
    const order: string[] = [];
    let inside = 0;
    let otherRan!: () => void;
    const otherDone = new Promise<void>((r) => (otherRan = r));
    /** A transition that takes `ms`, or (`untilOther`) lasts until the other task's has run, 5 s at most. */
    const step = (name: string, ms: number, { fail = false, untilOther = false } = {}) =>
      spool.withLock('t', async () => {
        inside++;
        assert.equal(inside, 1, 'never two at once');
        await Promise.race([new Promise((r) => setTimeout(r, ms)), ...(untilOther ? [otherDone] : [])]);
        order.push(name);
        inside--;
        if (fail) throw new Error(name);
      });
    const steps = [step('a', 5_000, { untilOther: true }), step('b', 1, { fail: true }), step('c', 10)];
    const other = spool.withLock('other', async () => {
      order.push('other');
      otherRan();
    });
    await Promise.allSettled([...steps, other]);
    assert.deepEqual(order.filter((x) => x !== 'other'), ['a', 'b', 'c']);
    assert.equal(order[0], 'other', 'another task does not wait');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('an .err\'s autoretry footer belongs to that error: the next error keeps the history but not the old footer', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bft2-err-'));
  try {
    const spool = new TaskSpool(new Paths(root), 'receiver', RECEIVER_STATES, silentLogger());
    await spool.ensureDirs();
    await spool.writeErr('downloading', 't', 'connect ECONNREFUSED', [], ['autoretry: a transient fault ...']);
    await spool.writeErr('downloading', 't', 'sha1 mismatch');
    const text = await readFile(spool.marker('downloading', 't', '.err'), 'utf8');
    assert.equal(text.split('\n')[0], 'sha1 mismatch');
    assert.match(text, /connect ECONNREFUSED/);
    assert.doesNotMatch(text, /autoretry:/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a store swap sets the old DCP aside under a name of its own, recorded in the .storing marker', async () => {
  const a = newStoreSwap('t', '/r/data/dcp/film');
  const b = newStoreSwap('t', '/r/data/dcp/film');
  assert.notEqual(a.oldDir, b.oldDir);
  assert.match(path.basename(a.oldDir), /^\.bft2-old-/);
  assert.deepEqual(parseStoreSwap(JSON.stringify(a)), a);
  assert.equal(parseStoreSwap('t\n'), undefined, 'an older marker records no swap');
});
