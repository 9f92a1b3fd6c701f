// Unattended (issue 20): nothing a task brings stops the daemon, and nothing transient waits
// for a person. Real daemons, origins and files on loopback:
// - impossible names (reserved `.bft2-`, too long, not UTF-8) are refused at recv and pickup;
// - a slow writer whose half-written file got an `.err` is taken once it is complete;
// - a second drop of a running task is filed away in history, never left as a marker;
// - 100 `recv` reactive / `cancel` races on a running task end in one state, markers with it;
// - inotify out of watches (a user namespace with none): the spool is polled, the log says so;
// - an origin down for 90 s, and a name that resolves only after 60 s: `.finished` without
//   anyone deleting an `.err` (autoretry);
// - a task running at two crashes in a row is set aside on the third start, not crash-looped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile, readdir, rm, stat, appendFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startOrigin } from '../../src/origin/http-origin.ts';

const MB = 1024 * 1024;
const run = promisify(execFile);
const TUNING = { retrytries: 3, retrydelay: '300ms', retrymaxdelay: '600ms', quickdelay: '300ms', unparseablegrace: '1s', spoolrescan: '500ms', hashstable: '300ms' };
const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function fixture(name: string, files: { file: string; size: number }[]): Promise<{ originRoot: string; dcp: MadeDcp }> {
  const originRoot = await makeTempRoot();
  cleanups.push(() => rm(originRoot, { recursive: true, force: true }));
  const dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), name, files);
  return { originRoot, dcp };
}

async function daemon(opts: { config?: Record<string, unknown>; tuning?: Record<string, unknown>; wrap?: string[]; root?: string } = {}): Promise<Daemon> {
  const d = await startDaemon({ root: opts.root ?? (await makeTempRoot()), config: opts.config ?? {}, tuning: { ...TUNING, ...opts.tuning }, wrap: opts.wrap });
  cleanups.push(() => d.stop());
  return d;
}

const task = (name: string, cdnUrl: string, dcp: MadeDcp, extra: Record<string, unknown> = {}) => JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl, filelist: dcp.filelist, extra }));
/** The text with the bytes C3 28 (not UTF-8) where it says XX. */
const notUtf8 = (text: string) => {
  const [a, b] = text.split('XX');
  return Buffer.concat([Buffer.from(a), Buffer.from([0xc3, 0x28]), Buffer.from(b)]);
};
const exists = (p: string) => stat(p).then(() => true, () => false);
const spoolEntries = async (d: Daemon) => {
  const out: string[] = [];
  for (const s of ['tmp', 'queues', 'downloading', 'downloaded', 'history'] as const) for (const n of await readdir(d.paths[s]).catch(() => [])) out.push(`${s}/${n}`);
  return out.sort();
};

test('impossible names are refused with a clear .err at pickup and a false answer at recv: .bft2- names, names too long, bytes that are not UTF-8', async () => {
  const { originRoot, dcp } = await fixture('small', [{ file: 'a.mxf', size: 1000 }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  const d = await daemon();
  const cdn = (n: string) => `${origin.url}/dcp/cfec-001/dcps/${n}`;
  const cases: [string, string | Buffer, RegExp][] = [
    ['cfec-001-reserved', task('.bft2-old-small', cdn('small'), dcp), /^impossible name in name: "\.bft2-old-small" starts with \.bft2-, which bft2 reserves/],
    ['cfec-001-longname', task('n'.repeat(250), cdn('small'), dcp), /^impossible name in name: "n{80}\.\.\." is 250 bytes long; at most 215 fit/],
    ['cfec-001-utf8', notUtf8(task('smXXall', cdn('small'), dcp)), /^taskfile is not valid UTF-8: .*cfec-001-utf8(-2)?\.task\.json \(first bad byte at offset \d+\)$/],
  ];
  for (const [name, content, expected] of cases) {
    // Dropped into queues: an .err that says why, and the file stays.
    await writeFile(path.join(d.paths.queues, `${name}.task.json`), content);
    const err = await waitFor(() => readFile(path.join(d.paths.queues, `${name}.err`), 'utf8'), { timeoutMs: 10_000, what: `${name}.err` });
    assert.match(err.split('\n')[0], expected, name);
    // Given to recv: false, the same text, nothing taken.
    const outside = path.join(originRoot, `${name}-2.task.json`);
    await writeFile(outside, content);
    const r = await d.api('recv', { taskfile: outside });
    assert.equal(r.return_status, 'false', name);
    assert.match(r.return_content.desc, expected, name);
    assert.ok(await exists(outside), 'a refused file is left where it was');
  }
  // A task file name that leaves no room for bft2's suffixes (its .err still fits).
  const longFile = `cfec-001-${'x'.repeat(230)}`;
  await writeFile(path.join(d.paths.queues, `${longFile}.task.json`), task('small', cdn('small'), dcp));
  const longErr = await waitFor(() => readFile(path.join(d.paths.queues, `${longFile}.err`), 'utf8'), { timeoutMs: 10_000, what: 'the long file name refused' });
  assert.match(longErr, /^impossible name in task file name: /);
  // Nothing of them reached the store, and nothing is downloading.
  assert.deepEqual(await readdir(path.join(d.root, 'data/dcp')), []);
  assert.deepEqual((await readdir(d.paths.downloading)).filter((n) => !n.startsWith('.')), []);
});

test('a slow writer (scp in place, a long pause mid-file) gets .err while the file does not parse, and its task is taken once the file is complete', async () => {
  const { originRoot, dcp } = await fixture('slow', [{ file: 'a.mxf', size: 4000 }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  const d = await daemon();
  const text = task('slow', `${origin.url}/dcp/cfec-001/dcps/slow`, dcp);
  const file = path.join(d.paths.queues, 'cfec-001-slow.task.json');
  const fh = await open(file, 'w');
  await fh.write(text.slice(0, 100));
  await fh.sync();
  const err = path.join(d.paths.queues, 'cfec-001-slow.err');
  assert.match(await waitFor(() => readFile(err, 'utf8'), { timeoutMs: 10_000, what: 'the half-written file refused' }), /^invalid json format:/);
  await new Promise((r) => setTimeout(r, 1500)); // the writer pauses a while longer
  await fh.write(text.slice(100));
  await fh.close();
  await waitFor(() => exists(path.join(d.paths.downloaded, 'cfec-001-slow.task.json')), { timeoutMs: 20_000, what: 'the completed file downloaded' });
  assert.equal(await exists(err), false, 'the stale .err is gone');
  assert.equal(await exists(path.join(d.paths.downloaded, 'cfec-001-slow.err')), false);
});

test('a second drop of a running task is answered in the log and filed away in history with its reason; no marker outlives the first, whose progress has no error', async () => {
  const { originRoot, dcp } = await fixture('dup', [{ file: 'reel.mxf', size: 6 * MB }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  origin.throttle(2 * MB);
  const d = await daemon();
  const text = task('dup', `${origin.url}/dcp/cfec-001/dcps/dup`, dcp);
  await writeFile(path.join(d.paths.queues, 'cfec-001-dup.task.json'), text);
  await waitFor(() => exists(path.join(d.paths.downloading, 'cfec-001-dup.task.json')), { timeoutMs: 10_000, what: 'downloading' });
  await writeFile(path.join(d.paths.queues, 'cfec-001-dup.task.json'), text);
  const filed = await waitFor(async () => (await readdir(d.paths.history)).find((n) => /^cfec-001-dup\.task\.json\.duplicate-\d+$/.test(n)), { timeoutMs: 10_000, what: 'the duplicate filed in history' });
  assert.match(await readFile(path.join(d.paths.history, `${filed}.why`), 'utf8'), new RegExp(`^same taskfile in downloading:${d.paths.downloading}/cfec-001-dup\\.task\\.json`));
  assert.equal(await exists(path.join(d.paths.queues, 'cfec-001-dup.err')), false, 'no .err in queues');
  assert.match(await readFile(d.paths.log, 'utf8'), /SAME_IN_STATE cfec-001-dup: same taskfile in downloading:.*filed as/);
  origin.throttle(null);
  await waitFor(() => exists(path.join(d.paths.downloaded, 'cfec-001-dup.task.json')), { timeoutMs: 30_000, what: 'the first downloaded' });
  const p = await d.api('progress', { taskfile: 'cfec-001-dup.task.json' });
  assert.equal(p.return_content.status, 'downloaded');
  assert.equal(p.return_content.downerror, '');
  assert.deepEqual((await spoolEntries(d)).filter((e) => e.endsWith('.err')), []);
});

test('100 races of recv (reactive true) against cancel on a running task: it ends in exactly one state each time, with no marker that lacks its task file', { timeout: 600_000 }, async () => {
  const { originRoot, dcp } = await fixture('race', [{ file: 'reel.mxf', size: 8 * MB }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  origin.throttle(4 * MB);
  const d = await daemon({ config: { downloadingnum: 1 } });
  const outside = path.join(originRoot, 'incoming');
  await mkdir(outside, { recursive: true });
  const text = task('race', `${origin.url}/dcp/cfec-001/dcps/race`, dcp);
  const name = 'cfec-001-race';
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 100; i++) {
    const f = path.join(outside, `${name}.task.json`);
    await writeFile(f, text);
    // Start from a running task, most of the time; sometimes the previous race left it cancelled.
    const first = await d.api('recv', { taskfile: f, reactive: 'true' });
    assert.equal(first.return_status, 'true', JSON.stringify(first));
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
    await writeFile(f, text);
    const [r, c] = await Promise.all([d.api('recv', { taskfile: f, reactive: 'true' }), new Promise((res) => setTimeout(res, Math.floor(Math.random() * 40))).then(() => d.api('cancel', { taskfile: `${name}.task.json` }))]);
    await new Promise((res) => setTimeout(res, 50));
    // One live state at most; history may hold older copies.
    const entries = await spoolEntries(d);
    const live = entries.filter((e) => e === `queues/${name}.task.json` || e === `downloading/${name}.task.json` || e === `downloaded/${name}.task.json`);
    assert.ok(live.length <= 1, `race ${i}: ${entries.join(' ')}`);
    for (const e of entries.filter((x) => x.endsWith('.err') || x.endsWith('.cancelled'))) {
      const [state, n] = e.split('/');
      const base = n.replace(/\.(err|cancelled)$/, '');
      assert.ok(entries.includes(`${state}/${base}.task.json`), `race ${i}: ${e} without its task file (${entries.join(' ')})`);
      assert.ok(!e.endsWith('.err'), `race ${i}: an .err appeared: ${e}: ${await readFile(path.join(d.root, 'data/receiver', e), 'utf8').catch(() => '')}`);
    }
    // If it is in downloading, it is really running (progress moves or the task is there to resume).
    if (live[0]?.startsWith('downloading/')) {
      const p = await d.api('progress', { taskfile: `${name}.task.json` });
      assert.equal(p.return_content.status, 'downloading', `race ${i}: ${JSON.stringify(p.return_content)}`);
    }
    const key = `${r.return_status}/${c.return_content.desc.split(/[:,]/)[0]} -> ${live[0]?.split('/')[0] ?? 'history'}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    // Leave it cancelled for the next race.
    await d.api('cancel', { taskfile: `${name}.task.json` });
  }
  console.log(`# race outcomes (recv/cancel -> state): ${[...outcomes].map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  const log = await readFile(d.paths.log, 'utf8');
  assert.doesNotMatch(log, /ENOENT.*\.part|cannot write .*\.err/, 'no run tripped over a transition');
});

test('inotify out of watches (a user namespace that allows none): every spool watcher polls, the log names the limit and its fix once, and a dropped task is taken within the rescan period', async () => {
  const { originRoot, dcp } = await fixture('polled', [{ file: 'a.mxf', size: 3000 }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  const wrap = ['unshare', '--user', '--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"'];
  const d = await daemon({ wrap });
  const log = await waitFor(async () => {
    const t = await readFile(d.paths.log, 'utf8');
    return /inotify watch limit reached \(fs\.inotify\.max_user_watches\)/.test(t) ? t : undefined;
  }, { timeoutMs: 15_000, what: 'the limit named in the log' });
  assert.equal(log.match(/inotify watch limit reached \(fs\.inotify\.max_user_watches\)/g)!.length, 1, 'the fix is logged once');
  assert.match(log, /inotify limit: .*data\/receiver\/queues is watched by polling from now on/);
  const t0 = Date.now();
  await writeFile(path.join(d.paths.queues, 'cfec-001-polled.task.json'), task('polled', `${origin.url}/dcp/cfec-001/dcps/polled`, dcp));
  await waitFor(() => exists(path.join(d.paths.downloaded, 'cfec-001-polled.task.json')), { timeoutMs: 15_000, what: 'the dropped task taken by polling and downloaded' });
  console.log(`# polled pickup and download: ${Date.now() - t0} ms (tuning.spoolrescan 500 ms)`);
  const metrics = await d.get('/metrics');
  assert.match(metrics.body, /^bft2_watch_polling 1$/m, '/metrics says the node polls');
  assert.equal(JSON.parse((await d.get('/health')).body).watching, 'polling (inotify limit)');
  const status = await run(path.join(REPO_ROOT, 'bin/bft2'), ['--root', d.root, 'status']);
  assert.match(status.stdout, /^watching: polling \(inotify limit\): pickup is slower; raise fs\.inotify\.max_user_watches/m, '`bft2 status` says so');
  const page = await d.get('/');
  assert.match(page.body, /watching: polling \(inotify limit\)/, 'the status page says so');
});

test('transient faults heal by themselves: an origin down for 90 s mid-download, and a CDN name that resolves only after 60 s, both end .finished with nobody deleting an .err', { timeout: 300_000 }, async () => {
  const down = async () => {
    const { originRoot, dcp } = await fixture('outage', [{ file: 'reel.mxf', size: 8 * MB }]);
    const origin = await startTestOrigin(originRoot);
    const port = Number(new URL(origin.url).port);
    origin.throttle(2 * MB);
    const d = await daemon({ config: { autoretry: '5s' } });
    await writeFile(path.join(d.paths.queues, 'cfec-001-outage.task.json'), task('outage', `${origin.url}/dcp/cfec-001/dcps/outage`, dcp));
    await waitFor(async () => Number((await d.api('progress', { taskfile: 'cfec-001-outage.task.json' })).return_content.downloaded) > MB || undefined, { timeoutMs: 20_000, what: 'the download under way' });
    await origin.close(); // killed 2 s or so into the download
    const killedAt = Date.now();
    const err = await waitFor(() => readFile(path.join(d.paths.downloading, 'cfec-001-outage.err'), 'utf8'), { timeoutMs: 30_000, what: 'the .err of the refused connection' });
    assert.match(err, /ECONNREFUSED/);
    assert.match(err, /^autoretry: a transient fault: bft2 tries again by itself once the source answers; next check /m);
    const p = await d.api('progress', { taskfile: 'cfec-001-outage.task.json' });
    assert.match(p.return_content.desc, /^retrying: .*ECONNREFUSED.*, next try \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, JSON.stringify(p.return_content));
    await new Promise((r) => setTimeout(r, Math.max(0, 90_000 - (Date.now() - killedAt))));
    const back = await startOrigin({ rootDir: originRoot, host: '127.0.0.1', port });
    cleanups.push(() => back.close());
    await waitFor(() => exists(path.join(d.root, 'data/dcp/outage.finished')), { timeoutMs: 60_000, what: `outage.finished after the origin came back\n${d.output()}` });
    return Date.now() - killedAt;
  };
  const dns = async () => {
    const { originRoot, dcp } = await fixture('dnslate', [{ file: 'reel.mxf', size: 2 * MB }]);
    const origin = await startTestOrigin(originRoot);
    cleanups.push(() => origin.close());
    const port = Number(new URL(origin.url).port);
    // The daemon's own /etc/hosts and resolv.conf (a mount namespace): the name is unknown,
    // and no name server answers on loopback, so the resolver fails at once (EAI_AGAIN).
    const etc = await makeTempRoot();
    cleanups.push(() => rm(etc, { recursive: true, force: true }));
    await writeFile(path.join(etc, 'hosts'), '127.0.0.1 localhost\n');
    await writeFile(path.join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const wrap = ['unshare', '--mount', 'sh', '-c', `mount --bind ${etc}/hosts /etc/hosts && mount --bind ${etc}/resolv.conf /etc/resolv.conf && exec "$0" "$@"`];
    const d = await daemon({ wrap, config: { autoretry: '5s' } });
    const started = Date.now();
    await writeFile(path.join(d.paths.queues, 'cfec-001-dnslate.task.json'), task('dnslate', `http://cdn.bft2.test:${port}/dcp/cfec-001/dcps/dnslate`, dcp));
    const err = await waitFor(() => readFile(path.join(d.paths.downloading, 'cfec-001-dnslate.err'), 'utf8'), { timeoutMs: 30_000, what: 'the .err of the unresolvable name' });
    assert.match(err, /EAI_AGAIN|ENOTFOUND/);
    assert.match(err, /^autoretry: /m);
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - started))));
    await appendFile(path.join(etc, 'hosts'), '127.0.0.1 cdn.bft2.test\n');
    await waitFor(() => exists(path.join(d.root, 'data/dcp/dnslate.finished')), { timeoutMs: 60_000, what: `dnslate.finished after the name resolved\n${d.output()}` });
    return Date.now() - started;
  };
  const [outageMs, dnsMs] = await Promise.all([down(), dns()]);
  console.log(`# origin down 90 s: finished ${Math.round(outageMs / 1000)} s after the kill; name resolvable after 60 s: finished ${Math.round(dnsMs / 1000)} s after the drop`);
});

test('a task running at two crashes of the daemon in a row is set aside with an .err on the third start; the daemon runs every other task; deleting the .err re-arms it', { timeout: 180_000 }, async () => {
  const { originRoot, dcp } = await fixture('poison', [{ file: 'reel.mxf', size: 8 * MB }]);
  const origin = await startTestOrigin(originRoot);
  cleanups.push(() => origin.close());
  origin.throttle(MB);
  const root = await makeTempRoot();
  let d = await daemon({ root });
  await writeFile(path.join(d.paths.queues, 'cfec-001-poison.task.json'), task('poison', `${origin.url}/dcp/cfec-001/dcps/poison`, dcp));
  for (let crash = 1; crash <= 2; crash++) {
    await waitFor(async () => Number((await d.api('progress', { taskfile: 'cfec-001-poison.task.json' })).return_content.downloaded) > 0 || undefined, { timeoutMs: 20_000, what: `running before crash ${crash}` });
    await d.kill('SIGKILL');
    d = await daemon({ root, config: d.config });
  }
  const err = await waitFor(() => readFile(path.join(d.paths.downloading, 'cfec-001-poison.err'), 'utf8'), { timeoutMs: 10_000, what: 'the quarantine .err' });
  assert.match(err, /^quarantined: the daemon stopped unexpectedly 2 times in a row while this task was running/);
  assert.match(await readFile(d.paths.log, 'utf8'), /TASK_QUARANTINED cfec-001-poison/);
  // The daemon runs the others meanwhile.
  const other = await fixture('other', [{ file: 'b.mxf', size: 2000 }]);
  const otherOrigin = await startTestOrigin(other.originRoot);
  cleanups.push(() => otherOrigin.close());
  await writeFile(path.join(d.paths.queues, 'cfec-001-other.task.json'), task('other', `${otherOrigin.url}/dcp/cfec-001/dcps/other`, other.dcp));
  await waitFor(() => exists(path.join(d.paths.downloaded, 'cfec-001-other.task.json')), { timeoutMs: 20_000, what: 'another task downloaded meanwhile' });
  origin.throttle(null);
  await rm(path.join(d.paths.downloading, 'cfec-001-poison.err'));
  await waitFor(() => exists(path.join(d.paths.downloaded, 'cfec-001-poison.task.json')), { timeoutMs: 30_000, what: 'the re-armed task downloaded' });
});
