// install.sh under a temp root (SPEC §10): the release directory and its `current` link,
// the tree, the config template, the systemd unit, logrotate, the `bft2` link and the
// operator scripts; a second run changes nothing; then the installed daemon starts on a
// test config, answers its heartbeat and stops on SIGTERM.
// --from-checkout copies this checkout's node_modules instead of `npm ci` (no network,
// seconds instead of minutes); the default path (`npm ci`) is the same code otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, readlink, readdir, rm, writeFile, lstat, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { request } from 'undici';
import { makeTempRoot, freePort, waitFor, REPO_ROOT } from '../../tools/harness/daemon.ts';

const exec = promisify(execFile);
const INSTALL = path.join(REPO_ROOT, 'install.sh');

/** Every path under dir (not var/log, not node_modules' insides) with its type, link target or content hash, and mode. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of (await readdir(dir, { recursive: true })).sort()) {
    if (rel.startsWith('var/log') || /\/node_modules\//.test(rel)) continue;
    const p = path.join(dir, rel);
    const st = await lstat(p);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${await readlink(p)}`);
    else if (st.isDirectory()) out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)}`);
    else out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${createHash('sha1').update(await readFile(p)).digest('hex')}`);
  }
  return out;
}

test('install.sh --help and a wrong option', async () => {
  const { stdout } = await exec(INSTALL, ['--help']);
  assert.match(stdout, /^usage: \.\/install\.sh \[--root DIR\] \[--prefix DIR\]/);
  await assert.rejects(exec(INSTALL, ['--bogus']), (err: { code: number; stderr: string }) => err.code === 2 && /unknown option: --bogus/.test(err.stderr));
});

test('install under a temp root, twice (same result), then the installed daemon starts, answers and stops on SIGTERM', async () => {
  const root = await makeTempRoot();
  const prefix = path.join(root, 'opt/bft2');
  try {
    const first = await exec(INSTALL, ['--root', root, '--prefix', prefix, '--from-checkout'], { maxBuffer: 16 * 1024 * 1024 });
    assert.match(first.stdout, /wrote a config template: /);

    // The release, and `current` pointing at it (relative, so the prefix can move).
    const current = await readlink(path.join(prefix, 'current'));
    assert.match(current, /^releases\/\d+\.\d+\.\d+-[0-9a-f]{12}$/);
    const release = path.join(prefix, current);
    await stat(path.join(release, 'dist/.built'));
    await stat(path.join(release, 'node_modules/winston'));
    await stat(path.join(release, 'docs/config.md'));
    for (const s of ['autosend', 'autorecv', 'progress', 'uprogress', 'cprogress', 'cancel']) {
      assert.ok(((await stat(path.join(release, 'ops', `${s}.sh`))).mode & 0o111) !== 0, `${s}.sh installed, executable`);
    }
    await stat(path.join(release, 'bin/bft2'));
    for (const d of ['test', 'bench', 'lab', 'tools']) await assert.rejects(stat(path.join(release, d)), `${d}/ is not installed (tests and development tools)`);

    // The tree under the root.
    for (const d of ['etc/bft2', 'var/log/bft2', 'var/lib/bft2/locks', 'data/dcp', 'data/transfer', 'data/receiver/queues', 'data/receiver/history', 'data/sender/tmp', 'data/sender/uploaded']) {
      assert.ok((await stat(path.join(root, d))).isDirectory(), d);
    }
    // The config template: placeholders and // comments, owner-only (it will hold keys).
    const configFile = path.join(root, 'etc/bft2/config.json');
    const template = JSON.parse(await readFile(configFile, 'utf8'));
    assert.equal(template.servertype, '<sender|receiver|cacher>');
    assert.ok(Object.keys(template).some((k) => k.startsWith('//')));
    assert.equal((await stat(configFile)).mode & 0o777, 0o600);
    // systemd unit and logrotate.
    const unit = await readFile(path.join(root, 'etc/systemd/system/bft2.service'), 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${prefix}/current/bin/bft2 --root ${root} daemon$`, 'm'));
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^RestartPreventExitStatus=78$/m);
    assert.match(unit, /^MemoryHigh=512M$/m, 'a leak is contained');
    assert.match(unit, /^MemoryMax=1G$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
    // systemd's own check of the unit: no unknown keys, the ExecStart executable exists.
    const verify = await exec('systemd-analyze', ['verify', path.join(root, 'etc/systemd/system/bft2.service')]);
    assert.equal(verify.stderr, '', 'systemd-analyze verify has nothing to say');
    const rotate = await readFile(path.join(root, 'etc/logrotate.d/bft2'), 'utf8');
    assert.ok(rotate.includes(`${root}/var/log/bft2/bftv2.log ${root}/var/log/bft2/mhashtable.log {`));
    assert.match(rotate, /postrotate\n\s+systemctl reload bft2\.service .*\n\s+endscript/);
    // The inotify limits, persisted for the next boot (watchers would poll without them).
    const limits = await readFile(path.join(root, 'etc/sysctl.d/60-bft2-inotify.conf'), 'utf8');
    assert.match(limits, /^fs\.inotify\.max_user_watches = 1048576$/m);
    // The command.
    const bin = path.join(root, 'usr/local/bin/bft2');
    assert.equal(await readlink(bin), `${prefix}/current/bin/bft2`);

    // Twice: nothing changes (config, unit, release, links, modes, mtimes).
    const before = await snapshot(root);
    const second = await exec(INSTALL, ['--root', root, '--prefix', prefix, '--from-checkout']);
    assert.match(second.stdout, /already built/);
    assert.match(second.stdout, /kept the existing /);
    assert.doesNotMatch(second.stdout, /wrote |linked |current -> /);
    assert.deepEqual(await snapshot(root), before);

    // The template is refused until a role is chosen: exit 78, the field named.
    const refused = await exec(bin, ['--root', root, 'daemon']).catch((e: { code: number; stdout: string; stderr: string }) => e);
    assert.equal((refused as { code: number }).code, 78);
    assert.match((refused as { stderr: string }).stderr, /^bft2: invalid config .*config\.json: servertype: /);

    // A test config on free ports; the installed daemon starts, answers, stops on SIGTERM.
    const port = await freePort();
    await writeFile(configFile, JSON.stringify({ servertype: 'receiver', apilisten: `127.0.0.1:${port}`, btport: await freePort() }));
    assert.equal((await exec(bin, ['--root', root, 'checkconfig'])).stdout, `${configFile}: valid (servertype receiver)\n`);
    const daemon = spawn(bin, ['--root', root, 'daemon'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    daemon.stdout.on('data', (b: Buffer) => (out += b.toString()));
    daemon.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => daemon.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      const hb = await waitFor(async () => {
        const r = await request(`http://127.0.0.1:${port}/heartbeat`);
        return r.statusCode === 200 ? ((await r.body.json()) as string) : undefined;
      }, { timeoutMs: 30_000, what: `heartbeat of the installed daemon\n${out}` });
      assert.match(hb, /is living\.$/);
      assert.match(out, new RegExp(`^bft2 \\S+: logging to ${root}/var/log/bft2/bftv2.log`));
      // logrotate with the installed file, then the SIGHUP its postrotate sends through
      // `systemctl reload` (there is no systemd unit running here, so the test sends it).
      const log = path.join(root, 'var/log/bft2/bftv2.log');
      // The API answers before the daemon has finished starting (its hash watcher and
      // spools start after the listen); the log rotated below must hold the start line.
      await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes(' started: '), { timeoutMs: 30_000, what: `the start line in bftv2.log\n${out}` });
      await exec('logrotate', ['-f', '-s', path.join(root, 'logrotate.state'), path.join(root, 'etc/logrotate.d/bft2')]);
      assert.match(await readFile(`${log}.1`, 'utf8'), / started: /);
      await assert.rejects(stat(log), 'rotated away');
      daemon.kill('SIGHUP');
      await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes('log files reopened'), { timeoutMs: 10_000, what: `a new bftv2.log after SIGHUP\n${out}` });
    } finally {
      daemon.kill('SIGTERM');
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.match(await readFile(path.join(root, 'var/log/bft2/bftv2.log'), 'utf8'), /bft2 stopping/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
