// `recv` never moves a file out of a bft2 spool (issue 22, point 3): a sender and a receiver
// on one machine (as in the walkthrough), the receiver given the sender's own
// `data/sender/uploaded/<task>.task.json` — directly, and through a symlinked directory —
// copies it and says so; the sender keeps its task (status `ready`, seeding). A task file
// elsewhere is moved, as the seed says. `recv --help` says what it does with the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFile, readFile, rm, stat, symlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp } from '../../tools/harness/dcp-fixture.ts';
import { startLoopbackSender, gentaskOn } from '../../tools/harness/sender-config.ts';
import { startDaemon, makeTempRoot, waitFor, REPO_ROOT, type Daemon } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const run = promisify(execFile);
const bft2 = (root: string, ...args: string[]) => run(path.join(REPO_ROOT, 'bin', 'bft2'), ['--root', root, ...args]);
let base: string;
let sender: Daemon;
let receiver: Daemon;

before(async () => {
  base = await makeTempRoot();
  ({ sender } = await startLoopbackSender({ ak: 'none', sk: 'none', endpoint: 'http://127.0.0.1:9' }, { root: path.join(base, 'sender'), config: { autosend: true }, tuning: { hashstable: '300ms' } }));
  receiver = await startDaemon({ root: path.join(base, 'receiver'), config: { downloadingnum: 3 }, tuning: { retrydelay: '200ms' } });
});
after(async () => {
  await receiver?.stop();
  await sender?.stop();
  await rm(base, { recursive: true, force: true });
});

async function publish(name: string): Promise<string> {
  const dcp = await makeDcp(path.join(sender.root, 'data/dcp/cfec-001/dcps'), name, [{ file: 'reel.mxf', size: 2 * MB }, { file: 'CPL.xml', size: 700 }]);
  await gentaskOn(sender, { dcppath: dcp.dir, task: `cfec-001-${name}`, btobscdn: '0:0:1', until: 'ready' });
  return path.join(sender.root, `data/sender/uploaded/cfec-001-${name}.task.json`);
}

const downloaded = (name: string) => waitFor(() => stat(path.join(receiver.paths.downloaded, `cfec-001-${name}.task.json`)).then(() => true), { timeoutMs: 60_000, what: `${name} downloaded` });

test("recv of the sender's own uploaded task file copies it, says so, and the sender keeps its task", { timeout: 120_000 }, async () => {
  const uploaded = await publish('feature');
  const before = await readFile(uploaded, 'utf8');
  const { stdout } = await bft2(receiver.root, 'recv', uploaded);
  assert.equal(
    stdout.trim(),
    `succeed! (copied to ${path.join(receiver.paths.tmp, 'cfec-001-feature.task.json')}: ${uploaded} is in the bft2 spool ${path.join(sender.root, 'data/sender')} and stays there)`,
  );
  assert.equal(await readFile(uploaded, 'utf8'), before, 'the sender keeps its task file, unchanged');
  const status = (await bft2(sender.root, 'status')).stdout;
  // The receiver may have begun fetching from the sender's origin already: its bytes show as sent.
  assert.match(status, /^sender\/ready +cfec-001-feature +100%( +sent cdn \d+(\.\d)? (B|KiB|MiB))?$/m);
  await downloaded('feature');
  assert.equal((await sender.api('uploadprogress', { taskfile: 'cfec-001-feature.task.json' })).return_content.status, 'ready');
});

test('through a symlinked directory the spool is still known: copied', { timeout: 120_000 }, async () => {
  const uploaded = await publish('trailer');
  const link = path.join(base, 'looks-elsewhere');
  await symlink(path.dirname(uploaded), link);
  const answer = (await receiver.api('recv', { taskfile: path.join(link, 'cfec-001-trailer.task.json') })).return_content;
  assert.match(answer.desc, /^succeed! \(copied to .*: .*looks-elsewhere\/cfec-001-trailer\.task\.json is in the bft2 spool .*\/sender\/data\/sender and stays there\)$/);
  await stat(uploaded);
  await downloaded('trailer');
});

test('a task file elsewhere (the TMS copy) is moved, as the seed says', { timeout: 120_000 }, async () => {
  const uploaded = await publish('short');
  await mkdir(path.join(base, 'tms'), { recursive: true });
  const handed = path.join(base, 'tms', 'cfec-001-short.task.json');
  await copyFile(uploaded, handed);
  assert.equal((await receiver.api('recv', { taskfile: handed })).return_content.desc, 'succeed!');
  await assert.rejects(stat(handed), /ENOENT/, 'moved away');
  await downloaded('short');
});

test('recv --help says what it does with the file', async () => {
  const { stdout } = await bft2(receiver.root, 'recv', '--help');
  assert.match(stdout, /the original is removed — recv moves it, as the seed says/);
  assert.match(stdout, /A file inside a\s+bft2 spool \(any path under <root>\/data\/sender\/ or <root>\/data\/receiver\/, this node's or\s+another root's/);
  assert.match(stdout, /is copied instead and stays where it is/);
});
