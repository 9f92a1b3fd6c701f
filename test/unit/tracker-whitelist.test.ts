// opentracker's whitelist file as the sender keeps it (src/transfer/bt/tracker-whitelist.ts):
// the pure rules (what a line lists, what is appended, which trackerreload values mean
// what), and the file itself on disk — concurrent admits add each hash once, foreign lines
// stay, the mode stays, a PID file's process gets SIGHUP (a real child process counts
// them), a command runs, "not running" is an answer and a failing command an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { admitToWhitelist, listedHashes, parseTrackerReload, trackerReloadProblem, trackerWhitelistProblem, withHashes } from '../../src/transfer/bt/tracker-whitelist.ts';
import { parseConfig } from '../../src/config/load-config.ts';

const H = (c: string) => c.repeat(40);

test('listedHashes reads lines as opentracker does: 40 hex digits at the start, anything after a non-hex character ignored', () => {
  const text = `# comment\n${H('a')}\n${H('B')} the old system's DCP\n${H('c')}d\n  ${H('e')}\nzz\n`;
  assert.deepEqual([...listedHashes(text)], [H('a'), H('b')]);
});

test('withHashes appends only what is missing, lower case, once each, and keeps every other line', () => {
  const before = `# fleet\n${H('a')}`;
  const r = withHashes(before, [H('A'), H('f'), H('f'), H('1')]);
  assert.deepEqual(r.added, [H('f'), H('1')]);
  assert.equal(r.text, `# fleet\n${H('a')}\n${H('f')}\n${H('1')}\n`);
  assert.deepEqual(withHashes(r.text, [H('1')]), { text: r.text, added: [] });
  assert.equal(withHashes('', [H('2')]).text, `${H('2')}\n`);
});

test('trackerreload: an absolute path ending in .pid is a PID file, anything else a command; bad values named', () => {
  assert.deepEqual(parseTrackerReload('/run/opentracker.pid'), { kind: 'pidfile', file: '/run/opentracker.pid' });
  assert.deepEqual(parseTrackerReload('systemctl kill -s HUP opentracker'), { kind: 'command', command: 'systemctl kill -s HUP opentracker' });
  assert.deepEqual(parseTrackerReload('/usr/local/bin/reload-tracker'), { kind: 'command', command: '/usr/local/bin/reload-tracker' });
  assert.equal(parseTrackerReload('  '), undefined);
  assert.match(trackerReloadProblem('opentracker.pid')!, /absolute path, e.g. \/run\/opentracker.pid/);
  assert.match(trackerReloadProblem('kill -HUP 1\nrm -rf /')!, /one line/);
  assert.equal(trackerReloadProblem('pkill -HUP -x opentracker'), undefined);
  assert.match(trackerWhitelistProblem('whitelist.txt')!, /absolute path/);
  assert.match(trackerWhitelistProblem('/etc/opentracker/')!, /a file/);
  assert.equal(trackerWhitelistProblem('/etc/opentracker/whitelist.txt'), undefined);
});

test('config: trackerwhitelist and trackerreload are validated, and a reload without a whitelist is refused', () => {
  const c = parseConfig({ servertype: 'sender', trackerwhitelist: '/etc/opentracker/whitelist.txt', trackerreload: '/run/opentracker.pid' }, 'c');
  assert.equal(c.trackerwhitelist, '/etc/opentracker/whitelist.txt');
  assert.equal(parseConfig({ servertype: 'sender' }, 'c').trackerreload, '');
  assert.throws(() => parseConfig({ servertype: 'sender', trackerwhitelist: 'whitelist.txt' }, 'c'), /trackerwhitelist: must be an absolute path/);
  assert.throws(() => parseConfig({ servertype: 'sender', trackerreload: '/run/opentracker.pid' }, 'c'), /trackerreload: has nothing to reload without trackerwhitelist/);
});

/** A real process that counts the SIGHUPs it gets (as opentracker re-reads on each). */
async function hupCounter(dir: string): Promise<{ pid: number; count(): Promise<number>; stop(): void }> {
  const out = path.join(dir, 'hups');
  const p = spawn('bash', ['-c', `n=0; trap 'n=$((n+1)); echo $n > ${out}' HUP; echo 0 > ${out}; while :; do sleep 0.05; done`], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await stat(out).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 20));
  return { pid: p.pid!, count: async () => Number((await readFile(out, 'utf8')).trim()), stop: () => p.kill('SIGKILL') };
}

test('admitToWhitelist on disk: concurrent tasks add each hash once; other lines and the mode stay; one PID file HUP per new batch', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-wl-'));
  const counter = await hupCounter(dir);
  try {
    const file = path.join(dir, 'whitelist.txt');
    await writeFile(file, `# opentracker whitelist\n${H('0')}\n`);
    await chmod(file, 0o640);
    const pidFile = path.join(dir, 'opentracker.pid');
    await writeFile(pidFile, `${counter.pid}\n`);
    const reload = { kind: 'pidfile' as const, file: pidFile };
    // Eight tasks publish at once, sharing some torrents.
    const sets = Array.from({ length: 8 }, (_, i) => [H(String(i + 1)), H(String((i % 3) + 1))]);
    const results = await Promise.all(sets.map((s) => admitToWhitelist(file, reload, s)));
    const text = await readFile(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '# opentracker whitelist');
    assert.deepEqual(lines.slice(1).sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => H(String(i))).sort());
    assert.deepEqual(results.flatMap((r) => r.added).sort(), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => H(String(i))).sort(), 'each new hash reported added once');
    assert.ok(results.every((r) => r.reloaded), JSON.stringify(results));
    assert.equal((await stat(file)).mode & 0o777, 0o640, 'the mode the operator gave stays');
    await new Promise((r) => setTimeout(r, 300));
    const hups = await counter.count();
    assert.ok(hups >= 1 && hups <= 8, `${hups} SIGHUPs for 8 tasks at once (asks made while one runs share the next)`);
    // Everything listed and seen re-read: nothing more to tell the tracker.
    const again = await admitToWhitelist(file, reload, [H('3')]);
    assert.deepEqual(again, { added: [], reloaded: false });
    assert.equal(await readFile(file, 'utf8'), text);
    assert.equal(await counter.count(), hups);
    assert.equal((await readdir(dir)).filter((n) => n.endsWith('.lock') || n.startsWith('.bft2-')).length, 0, 'no lock or temp file left');
  } finally {
    counter.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('admitToWhitelist: a tracker not running is a note (it reads the file when it starts); a failing command and a missing directory are errors naming them', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-wl-'));
  try {
    const file = path.join(dir, 'whitelist.txt');
    const none = await admitToWhitelist(file, { kind: 'pidfile', file: path.join(dir, 'none.pid') }, [H('a')]);
    assert.equal(none.reloaded, false);
    assert.match(none.note!, /not running \(no PID file .*none\.pid\)/);
    // A hash not yet seen re-read is told again next time: here by a command.
    const marker = path.join(dir, 'reloaded');
    const cmd = await admitToWhitelist(file, { kind: 'command', command: `touch ${marker}` }, [H('a')]);
    assert.deepEqual(cmd, { added: [], reloaded: true });
    await stat(marker);
    await assert.rejects(admitToWhitelist(file, { kind: 'command', command: 'echo "opentracker.service not loaded" >&2; exit 5' }, [H('b')]), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TRACKER_RELOAD');
      assert.match(err.message, /trackerreload echo .*exit 5: opentracker.service not loaded/);
      return true;
    });
    assert.ok(listedHashes(await readFile(file, 'utf8')).has(H('b')), 'the hash is in the file even though the reload failed');
    await assert.rejects(admitToWhitelist(path.join(dir, 'nodir', 'whitelist.txt'), undefined, [H('c')]), /tracker whitelist .*nodir\/whitelist.txt: its directory .*nodir does not exist/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
