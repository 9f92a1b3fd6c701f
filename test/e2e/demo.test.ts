// `npm run demo` as a user runs it: a child process (npm → tools/demo → tools/demo.ts,
// which starts s3rver and three real daemons), stdout not a terminal (plain progress
// lines). It must end with status 0 and the "verified" summary line within two minutes,
// and leave nothing behind: no process naming its work directory, no work directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';

const LIMIT_MS = 120_000;

/** Pids of live processes whose command line contains `needle` (this test's own excluded). */
async function processesNaming(needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle)) out.push(`${pid}: ${cmd.split('\0').join(' ').trim()}`);
  }
  return out;
}

test('npm run demo: a sender, a cacher and a receiver deliver a DCP 1:1:1, verified, in under two minutes, leaving nothing behind', { timeout: LIMIT_MS + 30_000 }, async () => {
  const t0 = performance.now();
  // A process group of its own, so that a run over the limit can be stopped whole.
  const child = spawn('npm', ['run', 'demo'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, FORCE_COLOR: '0' } });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const overTime = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGTERM'); // the demo cleans up on SIGTERM
    } catch {
      // gone
    }
  }, LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(overTime);
  const ms = performance.now() - t0;
  console.log(`npm run demo: exit status ${code} after ${(ms / 1000).toFixed(1)} s`);

  const dir = /work dir: (\S+)/.exec(output)?.[1];
  assert.ok(dir, `the demo names its work directory:\n${output}`);
  assert.equal(code, 0, output);
  assert.match(output, /^bft2 demo: verified — 7 files, 84\.0 MB, every sha1 equal to the sender's; [\d.]+ s in all$/m, output);
  assert.ok(ms < LIMIT_MS, `took ${(ms / 1000).toFixed(1)} s`);
  // Each method carried a share, and the summary says where every file came from.
  for (const m of ['bt', 'obs', 'cdn']) assert.match(output, new RegExp(`^  ${m} +\\d+\\.\\d MB +[1-9]\\d* +[\\d.]+ s`, 'm'), `${m} line of the summary`);
  assert.equal(output.match(/^ {4}\S+ +[\d.]+ [KM]B {2}(bt|obs|cdn) +done +[\d.]+ s {2}sha1 [0-9a-f]{12}… ok$/gm)?.length, 7, output);
  // Nothing left: the directory is gone and no process names it (daemons, s3rver, the driver).
  assert.match(output, /^cleaned up: 3 daemons stopped, s3rver closed, \S+ removed$/m);
  assert.equal(existsSync(dir), false, `${dir} was left behind`);
  assert.deepEqual(await processesNaming(dir), [], 'processes left behind');
});
