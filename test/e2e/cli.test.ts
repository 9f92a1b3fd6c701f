// The command line against real daemons (SPEC §10): every command's --help, exit status
// (0 success, 1 a false answer, 2 no daemon), `status --json` beside the API's own
// answers for tasks in several states, checkconfig, retry, path hints, the sender's
// commands end to end, and the daemon's logs (first console line, SIGHUP reopen).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdir, writeFile, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask, type MadeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin, type TestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor, freePort, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';
import { runCommand } from '../helpers/run-command.ts';

const BFT2 = path.join(REPO_ROOT, 'bin/bft2');
const MB = 1024 * 1024;
const ENV = { retrytries: 1, retrydelay: '100ms', retrymaxdelay: '200ms', stall: '5000ms' };

const run = runCommand;
const bft2 = (args: string[], opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }) => run(BFT2, args, opts);

/** At most `n` at once: the machine running the tests is shared. */
async function eachLimit<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

let originRoot: string;
let origin: TestOrigin;
let dcp: MadeDcp;
let small: MadeDcp;

before(async () => {
  originRoot = await makeTempRoot();
  dcp = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'big', [{ file: 'reel.mxf', size: 24 * MB }]);
  small = await makeDcp(path.join(originRoot, 'cfec-001', 'dcps'), 'small', [{ file: 'a.mxf', size: 256 * 1024 }, { file: 'CPL.xml', size: 900 }]);
  origin = await startTestOrigin(originRoot);
});
after(async () => {
  await origin?.close();
  await rm(originRoot, { recursive: true, force: true });
});

const cdnTask = (name: string, from: MadeDcp, dcpName: string) =>
  JSON.stringify(makeCdnTask({ name, basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/${dcpName}`, filelist: from.filelist }), null, 2);

test('every command has --help (exit 0) and refuses an unknown option (exit 1); so do the operator scripts', async () => {
  const help = await bft2(['--help']);
  assert.equal(help.code, 0);
  const commands = [...help.stdout.slice(help.stdout.indexOf('Commands:')).matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  for (const c of ['daemon', 'checkconfig', 'inithashtable', 'addhashtable', 'gentask', 'taskfilesquery', 'send', 'recv', 'progress', 'uploadprogress', 'cprogress', 'cancel', 'retry', 'status', 'showschedules']) {
    assert.ok(commands.includes(c), `bft2 --help lists ${c}`);
  }
  await eachLimit(commands, 2, async (c) => {
    const h = await bft2([c, '--help']);
    assert.equal(h.code, 0, `${c} --help: ${h.stderr}`);
    assert.match(h.stdout, new RegExp(`^Usage: bft2 ${c}\\b`));
    const bad = await bft2([c, '--no-such-option']);
    assert.equal(bad.code, 1, `${c} --no-such-option`);
    assert.match(bad.stderr, /unknown option '--no-such-option'/);
  });
  const ops = ['autosend', 'autorecv', 'progress', 'uprogress', 'cprogress', 'cancel'];
  await eachLimit(ops, 2, async (s) => {
    const script = path.join(REPO_ROOT, 'ops', `${s}.sh`);
    const h = await run(script, ['--help']);
    assert.equal(h.code, 0, `${s}.sh --help`);
    assert.match(h.stdout, new RegExp(`^usage: ${s}\\.sh `));
    const none = await run(script, []);
    assert.notEqual(none.code, 0, `${s}.sh without arguments`);
  });
});

test('exit status: 0 success, 1 a false answer, 2 no daemon (API_UNREACHABLE); methods the daemon lacks say so', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: {}, tuning: ENV });
  try {
    const hb = await bft2(['--root', root, 'heartbeat']);
    assert.equal(hb.code, 0);
    assert.match(hb.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d is living\.\n$/);
    const unknown = await bft2(['--root', root, 'progress', 'cfec-001-nosuch']);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).desc, 'unknown task, not found task.');
    const cancel = await bft2(['--root', root, 'cancel', 'cfec-001-nosuch']);
    assert.equal(cancel.code, 0, 'the seed answers true: nothing to cancel');
    assert.equal(cancel.stdout.trim(), 'no need to cancel, not found task: cfec-001-nosuch.task.json');

    // cprogress and showschedules: whatever the daemon answers, the CLI mirrors it.
    const cp = await d.api('cprogress', { taskfile: 'cfec-001-nosuch.task.json' });
    const cpCli = await bft2(['--root', root, 'cprogress', 'cfec-001-nosuch']);
    assert.equal(cpCli.code, cp.return_status === 'true' ? 0 : 1);
    assert.ok(cpCli.stdout.includes(String(cp.return_content.desc)), cpCli.stdout);
    const sched = await d.get('/showschedules');
    const schedCli = await bft2(['--root', root, 'showschedules']);
    if (sched.status === 404) {
      assert.equal(schedCli.code, 1);
      assert.match(schedCli.stderr, /^bft2: the daemon at 127\.0\.0\.1:\d+ does not provide \/showschedules \(HTTP 404: not found: \/showschedules\)\n$/);
    } else {
      assert.equal(schedCli.code, 0);
      assert.match(schedCli.stdout, /^Now: /);
    }
    assert.equal((await bft2(['--root', root, 'reloadconf'])).stdout.trim(), 'reload config.json ok. no key to apply changed.');
  } finally {
    await d.stop();
  }
  // The same root without its daemon.
  const apilisten = String(d.config.apilisten);
  for (const args of [['heartbeat'], ['progress', 'x'], ['recv', '/etc/hostname'], ['showschedules']]) {
    const r = await bft2(['--root', root, ...args]);
    assert.equal(r.code, 2, `${args[0]} without a daemon: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`bft2: cannot reach the bft2 daemon at ${apilisten}: `), r.stderr);
    assert.match(r.stderr, /\(is `bft2 daemon` running\?\)\n$/);
  }
  await writeFile(path.join(root, 'data/receiver/queues/cfec-001-waiting.task.json'), cdnTask('waiting', small, 'small'));
  const st = await bft2(['--root', root, 'status']);
  assert.equal(st.code, 2);
  assert.match(st.stdout, /^receiver\/queues\s+cfec-001-waiting\s+daemon not reachable$/m);
  await rm(root, { recursive: true, force: true });
});

test('every command against a stopped daemon keeps the documented exit status: 2 and "cannot reach" when it needs the daemon, its own status when it does not', async () => {
  const help = await bft2(['--help']);
  assert.match(help.stdout, /Exit status: 0 success; 1 failure or a `false` answer; 2 daemon not reachable\./, 'where the codes are documented');
  const commands = [...help.stdout.slice(help.stdout.indexOf('Commands:')).matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  const root = await makeTempRoot();
  try {
    await writeConfig(root, {});
    const apilisten = JSON.parse(await readFile(path.join(root, 'etc/bft2/config.json'), 'utf8')).apilisten;
    const dcpDir = path.join(root, 'data/dcp/cfec-001/dcps/feature');
    await makeDcp(path.dirname(dcpDir), 'feature', [{ file: 'reel.mxf', size: 1000 }]);
    const taskFile = path.join(root, 'cfec-001-feature.task.json');
    await writeFile(taskFile, cdnTask('feature', small, 'small'));
    await mkdir(path.join(root, 'data/receiver/downloading'), { recursive: true });
    await writeFile(path.join(root, 'data/receiver/downloading/cfec-001-broken.err'), 'cdn download error: x\n');
    const NEEDS = 2;
    // Each command with arguments that get it past its own checks to the daemon (or its work).
    const table: Record<string, [string[], number][]> = {
      heartbeat: [[[], NEEDS]],
      showschedules: [[[], NEEDS]],
      reloadconf: [[[], NEEDS]],
      status: [[[], NEEDS], [['--json'], NEEDS]],
      progress: [[['cfec-001-feature'], NEEDS], [['cfec-001-feature', '--wait', '--timeout', '5'], NEEDS]],
      cprogress: [[['cfec-001-feature'], NEEDS]],
      uploadprogress: [[['cfec-001-feature'], NEEDS]],
      cancel: [[['cfec-001-feature'], NEEDS]],
      recv: [[[taskFile], NEEDS]],
      send: [[[taskFile], NEEDS], [['cfec-001-feature'], NEEDS]],
      gentask: [[[dcpDir], NEEDS], [[dcpDir, '--wait', '--timeout', '5'], NEEDS]],
      taskfilesquery: [[[dcpDir], NEEDS]],
      // Without the daemon by design:
      checkconfig: [[[], 0]],
      inithashtable: [[[], 0]],
      addhashtable: [[[path.join(root, 'data/dcp')], 0]],
      retry: [[['cfec-001-broken'], 0], [['cfec-001-broken'], 1]],
      plan: [[[path.join(REPO_ROOT, 'docs/fleet.example.json')], 0]],
    };
    // `daemon` starts one: the start-up tests above cover its exit status.
    assert.deepEqual(commands.filter((c) => c !== 'daemon' && !table[c]), [], 'every command has a row here');
    for (const [command, runs] of Object.entries(table)) {
      for (const [args, expected] of runs) {
        const r = await bft2(['--root', root, command, ...args]);
        const what = `${command} ${args.join(' ')}`;
        assert.equal(r.code, expected, `${what}: ${r.stdout}${r.stderr}`);
        if (expected === NEEDS) assert.ok(r.stderr.includes(`bft2: cannot reach the bft2 daemon at ${apilisten}: `), `${what} says why: ${r.stderr}`);
        else assert.doesNotMatch(r.stderr, /cannot reach/, what);
      }
    }
    // status with no task at all: says the daemon is down, not only "no tasks".
    await rm(path.join(root, 'data/receiver/downloading/cfec-001-broken.task.json'), { force: true });
    const empty = await bft2(['--root', root, 'status']);
    assert.equal(empty.code, 2);
    assert.equal(empty.stdout, 'no tasks in the spool\n');
    assert.match(empty.stderr, /^bft2: cannot reach the bft2 daemon at .*\(is `bft2 daemon` running\?\)\n$/);
    // status --watch: stopped by Ctrl-C, it exits 2 when the daemon was down at its last look.
    const watching = spawn(BFT2, ['--root', root, 'status', '--watch', '--interval', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    watching.stdout.on('data', (b: Buffer) => (seen += b.toString()));
    await waitFor(() => seen.includes('cannot reach the bft2 daemon'), { timeoutMs: 20_000, what: `status --watch output: ${seen}` });
    watching.kill('SIGINT');
    const code = await new Promise<number | null>((r) => watching.once('close', (c) => r(c)));
    assert.equal(code, 2);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('status --json: one row per task of every role, agreeing with the API\'s own answers', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { downloadingnum: 1, avoidrepeat: false }, tuning: ENV });
  const outside = `${root}-tms`;
  await mkdir(outside, { recursive: true });
  const recv = async (name: string, json: string) => {
    const file = path.join(outside, `cfec-001-${name}.task.json`);
    await writeFile(file, json);
    const r = await bft2(['--root', root, 'recv', file]);
    assert.equal(r.code, 0, `recv ${name}: ${r.stdout}${r.stderr}`);
  };
  const progress = async (name: string) => (await d.api('progress', { taskfile: `cfec-001-${name}.task.json` })).return_content;
  try {
    // done: downloaded (and a copy of it in history, as after an earlier run of the same name)
    await recv('done', cdnTask('done', small, 'small'));
    await waitFor(async () => (await progress('done')).status === 'downloaded', { timeoutMs: 30_000, what: 'done downloaded' });
    await writeFile(path.join(d.paths.history, 'cfec-001-done.task.json'), cdnTask('done', small, 'small'));
    // failed: the origin has no such DCP; one try (tuning.retrytries 1) and it stops in error
    await recv('failed', cdnTask('failed', small, 'nosuch'));
    await waitFor(async () => (await progress('failed')).status === 'downloaderror', { timeoutMs: 30_000, what: 'failed in downloaderror' });
    // slow: downloading behind a throttled origin; waiting: queued behind it (downloadingnum 1)
    origin.throttle(512 * 1024);
    await recv('slow', cdnTask('slow', dcp, 'big'));
    await waitFor(async () => (await progress('slow')).status === 'downloading', { timeoutMs: 30_000, what: 'slow downloading' });
    await recv('waiting', cdnTask('waiting', small, 'small'));
    // gone: cancelled while queued, so in history with .cancelled
    await recv('gone', cdnTask('gone', small, 'small'));
    assert.equal((await bft2(['--root', root, 'cancel', 'cfec-001-gone'])).code, 0);
    // a sender task file on this receiver (never sent)
    await writeFile(path.join(root, 'data/sender/tmp/cfec-001-stray.task.json'), cdnTask('stray', small, 'small'));

    const r = await bft2(['--root', root, 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, any>[];
    const key = (x: Record<string, any>) => `${x.role}/${x.task}`;
    assert.equal(new Set(rows.map(key)).size, rows.length, 'no task twice');
    assert.deepEqual(rows.map(key).sort(), ['receiver/cfec-001-done', 'receiver/cfec-001-failed', 'receiver/cfec-001-gone', 'receiver/cfec-001-slow', 'receiver/cfec-001-waiting', 'sender/cfec-001-stray']);
    const row = (t: string) => rows.find((x) => x.task === `cfec-001-${t}`)!;

    for (const t of ['done', 'failed', 'gone', 'waiting', 'slow']) {
      const c = await progress(t);
      const x = row(t);
      assert.equal(x.state, c.status || x.dir, `${t}: state`);
      assert.equal(x.taskfile, c.taskfullpath, `${t}: taskfile`);
      if (t !== 'slow') {
        assert.deepEqual(x.answer, c, `${t}: the API's answer as it is`);
        assert.equal(x.percent, c.totalpercent, `${t}: percent`);
        assert.equal(x.rate, c.rate, `${t}: rate`);
      }
    }
    assert.equal(row('done').state, 'downloaded');
    assert.equal(row('done').dir, 'downloaded', 'the live one, not the copy in history');
    assert.equal(row('done').percent, '100.000%');
    assert.equal(row('failed').state, 'downloaderror');
    assert.equal(row('failed').reason, (await progress('failed')).downerror.split('\n')[0]);
    assert.match(row('failed').reason, /cdn download error: /);
    assert.equal(row('slow').state, 'downloading');
    assert.match(row('slow').percent, /^\d+\.\d{3}%$/);
    assert.ok(row('slow').methods.cdn >= 0 && row('slow').methods.cdn <= 1);
    assert.equal(row('waiting').state, 'queues');
    assert.equal(row('waiting').reason, 'waiting for a free slot: 1st of 1 in queue, 1 downloading (downloadingnum 1)');
    assert.equal(row('gone').state, 'history');
    assert.equal(row('gone').reason, 'cancelled');
    assert.equal(row('stray').state, 'tmp');
    assert.equal(row('stray').reason, 'in tmp; this node is a receiver');
    assert.equal(row('stray').answer, null);

    // The plain table: one line per row, the same states and reasons.
    const plain = await bft2(['--root', root, 'status']);
    const lines = plain.stdout.trimEnd().split('\n');
    assert.equal(lines.length, rows.length);
    assert.match(plain.stdout, /^receiver\/downloaded\s+cfec-001-done\s+100\.000%$/m);
    assert.match(plain.stdout, /^receiver\/downloading\s+cfec-001-slow\s+\d+\.\d{3}%\s+\d+ (B|KB|MB)\/s\s+(\d+ min|\d+ h \d\d min)?/m);
    assert.match(plain.stdout, /^receiver\/downloaderror\s+cfec-001-failed\s+\S+%\s+cdn download error: /m);
    assert.match(plain.stdout, /^receiver\/queues\s+cfec-001-waiting\s+0\.000%\s+waiting for a free slot: 1st of 1 in queue/m);
  } finally {
    origin.throttle(null);
    await d.stop();
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  }
});

test('checkconfig: exit 1 when invalid; unknown keys with the intended key; keys the role does not use; // keys are comments', async () => {
  const dir = await makeTempRoot();
  try {
    await mkdir(path.join(dir, 'etc/bft2'), { recursive: true });
    await writeFile(path.join(dir, 'etc/bft2/config.json'), JSON.stringify({ '//': 'a comment', servertype: 'receiver', obsk: 'x', downloadnum: 2, httporigin: '127.0.0.1:8080' }));
    const ok = await bft2(['--root', dir, 'checkconfig']);
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, [
      `${dir}/etc/bft2/config.json: valid (servertype receiver)`,
      '3 warnings:',
      '  unknown key "obsk": did you mean "obssk"?',
      '  unknown key "downloadnum": did you mean "downloadingnum"?',
      '  "httporigin" is set, but a receiver does not use it (used by: sender)',
      '',
    ].join('\n'));
    assert.equal((await bft2(['--root', dir, 'checkconfig', '--strict'])).code, 1);

    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ servertype: 'seeder', bttime: '25:00' }));
    const bad = await bft2(['checkconfig', 'bad.json'], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`^${dir}/bad.json: invalid, the daemon would refuse it:\n  servertype: .*\n  bttime: 25:00: must be HH:MM-HH:MM`));

    const missing = await bft2(['--root', dir, 'checkconfig', '/etc/bft2/config.json']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `bft2: no such file: /etc/bft2/config.json (but ${dir}/etc/bft2/config.json exists: did you mean that path? --root maps only the configuration)\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A TCP server on a loopback port, holding it as another program would. */
async function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Writes `<root>/etc/bft2/config.json`: a loopback receiver unless `config` says otherwise. */
async function writeConfig(root: string, config: Record<string, unknown>): Promise<void> {
  await mkdir(path.join(root, 'etc/bft2'), { recursive: true });
  const base = { servertype: 'receiver', apilisten: `127.0.0.1:${await freePort()}`, btport: await freePort(), avoidrepeat: false };
  await writeFile(path.join(root, 'etc/bft2/config.json'), JSON.stringify({ ...base, ...config }, null, 2));
}

test('daemon start-up failures caused by config.json name the key and exit 78, which the systemd unit does not restart', async () => {
  const unit = await readFile(path.join(REPO_ROOT, 'packaging/bft2.service.in'), 'utf8');
  assert.match(unit, /^RestartPreventExitStatus=78$/m, 'the unit and the exit status agree');
  const held = await holdPort();
  const root = await makeTempRoot();
  const daemon = async () => {
    const r = await bft2(['--root', root, 'daemon'], { timeoutMs: 30_000 });
    assert.notEqual(r.code, null, `the daemon did not exit: ${r.stdout}${r.stderr}`);
    return r;
  };
  try {
    const inUse = 'another program listens there already (EADDRINUSE)';
    for (const [key, config, doing] of [
      ['apilisten', { apilisten: `127.0.0.1:${held.port}` }, 'cannot listen there'],
      ['metricslisten', { metricslisten: `127.0.0.1:${held.port}` }, 'cannot listen there'],
      ['btport', { btport: held.port }, 'cannot listen on it'],
      // Without receiverseed only btatstart makes the client at start: its port is taken then.
      ['btport', { btport: held.port, receiverseed: false, btatstart: true }, 'cannot listen on it'],
      ['httporigin', { servertype: 'sender', httporigin: `127.0.0.1:${held.port}` }, 'cannot listen there'],
      ['embeddedtracker', { servertype: 'cacher', embeddedtracker: `127.0.0.1:${held.port}` }, 'cannot listen there'],
    ] as const) {
      await writeConfig(root, config);
      const value = key === 'btport' ? String(held.port) : `127.0.0.1:${held.port}`;
      const r = await daemon();
      assert.equal(r.code, 78, `${key}: ${r.stderr}`);
      assert.equal(r.stderr, `bft2: cannot start: config.json ${key} "${value}": ${doing}: ${inUse}\n`, key);
      assert.ok((await readFile(path.join(root, 'var/log/bft2/bftv2.log'), 'utf8')).includes(`cannot start: config.json ${key} "${value}"`), `${key}: in the log too`);
    }
    // A store path that cannot be made: a file stands where a directory must be.
    await writeFile(path.join(root, 'blocked'), 'a file\n');
    await writeConfig(root, { basedatapath: '/blocked/dcp' });
    const store = await daemon();
    assert.equal(store.code, 78);
    assert.equal(store.stderr, `bft2: cannot start: config.json basedatapath "/blocked/dcp": cannot create ${root}/blocked/dcp: a part of the path is a file, not a directory (ENOTDIR)\n`);
    // A schema problem and a JSON syntax error: the key, or the line and column.
    await writeConfig(root, { apilisten: '127.0.0.1:99999' });
    const range = await daemon();
    assert.equal(range.code, 78);
    assert.equal(range.stderr, `bft2: invalid config ${root}/etc/bft2/config.json: apilisten: port 99999 is out of range: it must be from 1 to 65535\n`);
    await writeFile(path.join(root, 'etc/bft2/config.json'), '{\n  "servertype": "receiver"\n  "apilisten": "127.0.0.1:8191"\n}\n');
    const syntax = await daemon();
    assert.equal(syntax.code, 78);
    assert.equal(syntax.stderr, `bft2: invalid config ${root}/etc/bft2/config.json: not JSON: line 2, column 27: ',' missing at the end of line 2 (the next key or value starts at line 3, column 3)\n`);
  } finally {
    await held.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('reloadconf: live keys applied, restart keys wait and say so (receiverstoreplan: the next DCP still goes where plan A puts it); a refused file is logged and changes nothing', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: { receiverstoreplan: 'A', downloadingnum: 2 }, tuning: ENV });
  const configFile = path.join(root, 'etc/bft2/config.json');
  try {
    const original = JSON.parse(await readFile(configFile, 'utf8'));
    await writeFile(configFile, JSON.stringify({ ...original, receiverstoreplan: 'B', downloadingnum: 3 }, null, 2));
    const ok = await bft2(['--root', root, 'reloadconf']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'reload config.json ok. applied: downloadingnum. waiting for a restart: receiverstoreplan ("A" until then, "B" after).\n');
    assert.match(await readFile(d.paths.log, 'utf8'), /info: config reloaded: applied downloadingnum; waiting for a restart: receiverstoreplan \("A" until then, "B" after\)\n/);
    // The next DCP goes where plan A puts it: <basedatapath>/<name>.
    const outside = path.join(root, 'cfec-001-planned.task.json');
    await writeFile(outside, cdnTask('planned', small, 'small'));
    assert.equal((await bft2(['--root', root, 'recv', outside])).code, 0);
    await waitFor(() => stat(path.join(d.paths.downloaded, 'cfec-001-planned.task.json')).then(() => true), { timeoutMs: 30_000, what: `planned downloaded\n${d.output()}` });
    await stat(path.join(d.paths.dcp, 'planned', 'a.mxf'));
    await assert.rejects(stat(path.join(d.paths.dcp, 'cfec-001', 'dcps', 'planned')), 'not where plan B would put it');

    // A file with a syntax error: refused, logged, the running config stays (and says so).
    const broken = `{"servertype": "receiver", "apilisten": "${original.apilisten}", "downloadingnum": 9,}`;
    const column = broken.lastIndexOf(',') + 1;
    await writeFile(configFile, broken);
    const refused = await bft2(['--root', root, 'reloadconf']);
    assert.equal(refused.code, 1);
    // The CLI reads the API address from the file too; it says the file is broken and asks the daemon all the same.
    assert.match(refused.stderr, new RegExp(`^bft2: invalid config .*\\nbft2: asking the daemon at ${original.apilisten} all the same\\n$`));
    assert.equal(refused.stdout, `reload config.json failed: invalid config ${configFile}: not JSON: line 1, column ${column}: a ',' before '}' (JSON allows no trailing comma); the running config stays in force, nothing was applied.\n`);
    assert.match(await readFile(d.paths.log, 'utf8'), /warn: reloadconf refused, the running config stays in force: invalid config .*config\.json: not JSON: line 1, column \d+: a ',' before '}'/);
    // Still running on the old config: putting the file back applies nothing new.
    await writeFile(configFile, JSON.stringify({ ...original, receiverstoreplan: 'B', downloadingnum: 3 }, null, 2));
    assert.equal((await bft2(['--root', root, 'reloadconf'])).stdout, 'reload config.json ok. no key to apply changed. waiting for a restart: receiverstoreplan ("A" until then, "B" after).\n');
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('retry deletes the .err wherever it is, says which file; no .err: says so, exit 1', async () => {
  const root = await makeTempRoot();
  try {
    const rdir = path.join(root, 'data/receiver/downloading');
    const sdir = path.join(root, 'data/sender/tmp');
    await mkdir(rdir, { recursive: true });
    await mkdir(sdir, { recursive: true });
    await writeFile(path.join(rdir, 'cfec-001-x.task.json'), '{}');
    await writeFile(path.join(rdir, 'cfec-001-x.err'), 'cdn download error: reel.mxf: HTTP 404\n');
    await writeFile(path.join(sdir, 'cfec-001-y.err'), 'invalid json format\n');
    const x = await bft2(['--root', root, 'retry', 'cfec-001-x.task.json']);
    assert.equal(x.code, 0);
    assert.equal(x.stdout, `removed ${path.join(rdir, 'cfec-001-x.err')}\n`);
    await assert.rejects(stat(path.join(rdir, 'cfec-001-x.err')));
    await stat(path.join(rdir, 'cfec-001-x.task.json'));
    const y = await bft2(['--root', root, 'retry', 'cfec-001-y']);
    assert.equal(y.stdout, `removed ${path.join(sdir, 'cfec-001-y.err')}\n`);
    const again = await bft2(['--root', root, 'retry', 'cfec-001-x']);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, 'bft2: no cfec-001-x.err to remove: the task is in receiver/downloading; nothing to retry\n');
    const none = await bft2(['--root', root, 'retry', 'cfec-001-z']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^bft2: no cfec-001-z\.err to remove: no task cfec-001-z\.task\.json in /);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('paths are used as given (relative to the current directory); a missing one is named, with the path under --root when that exists', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: {}, tuning: ENV });
  try {
    const inRoot = path.join(root, 'data/receiver/tmp/cfec-001-rel.task.json');
    await writeFile(inRoot, cdnTask('rel', small, 'small'));
    const wrong = await bft2(['--root', root, 'recv', '/data/receiver/tmp/cfec-001-rel.task.json']);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout.trim(), 'open json file error:open /data/receiver/tmp/cfec-001-rel.task.json: no such file or directory');
    assert.equal(wrong.stderr, `bft2: no such file: /data/receiver/tmp/cfec-001-rel.task.json (but ${inRoot} exists: did you mean that path? --root maps only the configuration)\n`);
    const relative = await bft2(['--root', root, 'recv', 'data/receiver/tmp/cfec-001-rel.task.json'], { cwd: root });
    assert.equal(relative.code, 0, relative.stdout + relative.stderr);
    assert.equal(relative.stdout.trim(), 'succeed!');
    const dir = await bft2(['--root', root, 'addhashtable', '/data/dcp']);
    assert.equal(dir.code, 1);
    assert.equal(dir.stderr, `bft2: no such directory: /data/dcp (but ${root}/data/dcp exists: did you mean that path? --root maps only the configuration)\n`);
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('sender commands: gentask --wait (default task file), taskfilesquery, send by name, uploadprogress --wait, status', async () => {
  const root = await makeTempRoot();
  const port = await freePort();
  const d = await startDaemon({
    root,
    config: { servertype: 'sender', autosend: false, senderdomain: `http://127.0.0.1:${port}`, cdnurl: `http://127.0.0.1:${port}`, httporigin: `127.0.0.1:${port}`, 'bt-obs-cdn': '0:0:1' },
    tuning: { ...ENV, hashstable: '200ms' },
  });
  try {
    const made = await makeDcp(path.join(root, 'data/dcp/cfec-001/dcps'), 'feature', [{ file: 'reel.mxf', size: 2 * MB }, { file: 'CPL.xml', size: 700 }]);
    const taskfile = path.join(root, 'data/sender/tmp/cfec-001-feature.task.json');
    const gen = await bft2(['--root', root, 'gentask', path.relative(root, made.dir), '--policy', 'fulltime', '--wait', '--timeout', '60'], { cwd: root });
    assert.equal(gen.code, 0, gen.stdout + gen.stderr);
    assert.match(gen.stderr, new RegExp(`^please wait until .* and ${taskfile} all are finished\\.\n`));
    assert.deepEqual(JSON.parse(gen.stdout), { status: 'finished', desc: 'succeed!' });
    const task = JSON.parse(await readFile(taskfile, 'utf8'));
    assert.equal(task.basesubdir, 'cfec-001', 'from the DCP path');
    const q = await bft2(['--root', root, 'taskfilesquery', made.dir]);
    assert.equal(q.code, 0);
    assert.equal(JSON.parse(q.stdout).status, 'finished');

    const sent = await bft2(['--root', root, 'send', 'cfec-001-feature']);
    assert.equal(sent.code, 0, sent.stdout);
    const up = await bft2(['--root', root, 'uploadprogress', 'cfec-001-feature', '--wait', '--timeout', '60']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.equal(JSON.parse(up.stdout).status, 'ready');
    const st = await bft2(['--root', root, 'status']);
    assert.equal(st.stdout, 'sender/ready  cfec-001-feature  100%\n');
    const missing = await bft2(['--root', root, 'gentask', '/data/dcp/cfec-001/dcps/feature']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^bft2: no such directory: \/data\/dcp\/cfec-001\/dcps\/feature \(but .* exists: did you mean that path\?/);
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('the daemon: its first console line says where it logs; SIGHUP reopens the log (after a rename, a new file at the same path)', async () => {
  const root = await makeTempRoot();
  const d = await startDaemon({ root, config: {}, tuning: ENV });
  try {
    assert.equal(d.output().split('\n')[0], `bft2 ${JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')).version}: logging to ${d.paths.log} (hash table: ${path.join(root, 'var/log/bft2/mhashtable.log')})`);
    await waitFor(async () => {
      const t = await readFile(d.paths.log, 'utf8');
      return t.includes(' started: ') ? t : undefined;
    }, { timeoutMs: 10_000, what: 'start logged' });
    await rename(d.paths.log, `${d.paths.log}.1`);
    d.proc.kill('SIGHUP');
    await waitFor(() => stat(d.paths.log).then(() => true), { timeoutMs: 10_000, what: 'a new bftv2.log' });
    await d.get('/reloadconf');
    const fresh = await waitFor(async () => {
      const t = await readFile(d.paths.log, 'utf8');
      return t.includes('config reloaded') ? t : undefined;
    }, { timeoutMs: 10_000, what: 'the reload logged in the new file' });
    assert.match(fresh, /^\S+ \S+ info: log files reopened\n/);
    const old = await readFile(`${d.paths.log}.1`, 'utf8');
    assert.match(old, / started: /);
    assert.doesNotMatch(old, /config reloaded|log files reopened/);
    assert.equal(d.exited(), false, 'SIGHUP does not stop the daemon');
  } finally {
    await d.stop();
    await rm(root, { recursive: true, force: true });
  }
});

test('operator scripts: autosend.sh publishes a DCP, autorecv.sh receives it from the sender\'s root and checks it; progress.sh, cancel.sh', async () => {
  const base = await makeTempRoot();
  const sroot = path.join(base, 'sender');
  const rroot = path.join(base, 'receiver');
  const port = await freePort();
  const s = await startDaemon({
    root: sroot,
    config: { servertype: 'sender', autosend: true, basesubdir: 'demo-001', senderdomain: `http://127.0.0.1:${port}`, cdnurl: `http://127.0.0.1:${port}`, httporigin: `127.0.0.1:${port}`, 'bt-obs-cdn': '0:0:1' },
    tuning: { ...ENV, hashstable: '200ms' },
  });
  const r = await startDaemon({ root: rroot, config: {}, tuning: ENV });
  const ops = (script: string, args: string[]) => run(path.join(REPO_ROOT, 'ops', script), args);
  try {
    await makeDcp(path.join(sroot, 'data/dcp/demo-001/dcps'), 'trailer', [{ file: 'trailer.mxf', size: 3 * MB }, { file: 'PKL.xml', size: 500 }]);
    const sent = await ops('autosend.sh', ['--root', sroot, 'trailer', '0:0:1', 'fulltime', '--timeout', '60']);
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    assert.match(sent.stdout, /^already sent by autosend: /m, 'autosend on: send says the daemon took it');
    assert.match(sent.stdout, new RegExp(`^ready: ${sroot}/data/sender/uploaded/demo-001-trailer\\.task\\.json$`, 'm'));
    const got = await ops('autorecv.sh', ['--root', rroot, 'trailer', 'demo-001', 'false', sroot, '--timeout', '60']);
    assert.equal(got.code, 0, got.stdout + got.stderr);
    assert.match(got.stdout, new RegExp(`^checkdcp: 2 files verified in ${rroot}/data/dcp/trailer$`, 'm'));
    const p = await ops('progress.sh', ['--root', rroot, 'trailer', 'demo-001']);
    assert.equal(JSON.parse(p.stdout).status, 'downloaded');
    const u = await ops('uprogress.sh', ['--root', sroot, 'demo-001-trailer']);
    assert.equal(JSON.parse(u.stdout).status, 'ready');
    const c = await ops('cancel.sh', ['--root', sroot, 'trailer', 'demo-001']);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.equal(c.stdout.trim(), 'succeeded!');
    const bad = await ops('progress.sh', ['--root', rroot, 'trailer', 'demo-001', '--bogus']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown option '--bogus'/);
  } finally {
    await s.stop();
    await r.stop();
    await rm(base, { recursive: true, force: true });
  }
});
