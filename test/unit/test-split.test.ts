// Where a test file belongs (README "Tests", tools/run-tests), checked by reading every
// test file, so a new one in the wrong place fails here with its name:
// - test/unit/ holds pure and in-process tests, which `npm run test:unit` runs in under a
//   minute: no daemon, no seeder process, no CLI, no lab;
// - a file that mounts a filesystem, shifts the clock with faketime, sets a sysctl or runs
//   the lab needs the machine alone: it is named *.serial.test.ts, and `npm test` runs it
//   after the others, one file at a time.
// Files that hold a rate or a time limit are named so as well; that cannot be read off the
// code and is left to the author.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '..', '..');

/** What in a test file's code makes it need the machine alone, by name. */
const NEEDS_MACHINE_ALONE: [RegExp, string][] = [
  [/['"]u?mount['"]\s*,/, 'mounts a filesystem'],
  [/['"]faketime['"]/, 'runs a process under faketime'],
  [/['"]sysctl['"]\s*,/, 'sets a sysctl'],
  [/['"]netns['"]|['"]lab['"]\s*,\s*['"]lab['"]|['"](?:\.\/)?lab\/lab['"]|\brunLab\s*\(/, 'runs the lab (network namespaces)'],
];

/** What a unit test must not start. */
const NOT_IN_UNIT: [RegExp, string][] = [
  [/\bstart(?:Loopback)?(?:Daemon|Sender)\s*\(/, 'starts a daemon'],
  [/\bspawnSeeder\s*\(/, 'starts a seeder process'],
  [/['"]bin['"]\s*,\s*['"]bft2['"]|\bbin\/bft2\b/, 'runs the CLI'],
];

/** Problems of one test file (`rel`: its path in the repository, `code`: its text). */
export function misplaced(rel: string, code: string): string[] {
  const out: string[] = [];
  const serial = rel.endsWith('.serial.test.ts');
  for (const [re, what] of NEEDS_MACHINE_ALONE) {
    if (!serial && re.test(code)) out.push(`${rel} ${what}: name it *.serial.test.ts, so that it runs alone`);
  }
  if (rel.startsWith('test/unit/')) {
    if (serial) out.push(`${rel}: a unit test shares the machine; it belongs elsewhere under test/`);
    for (const [re, what] of NOT_IN_UNIT) if (re.test(code)) out.push(`${rel} ${what}: it belongs elsewhere under test/ (test/unit/ is in-process only)`);
  }
  return out;
}

/** Code without comments, so that a comment explaining what a test does not do is no match. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

test('the checker finds what it is meant to find', () => {
  assert.deepEqual(misplaced('test/e2e/a.test.ts', "execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dir]);").length, 1);
  assert.deepEqual(misplaced('test/e2e/a.serial.test.ts', "execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', dir]);"), []);
  assert.deepEqual(misplaced('test/e2e/b.test.ts', "const FAKE = ['faketime', '-f', '@2026-01-05 09:59:30 x5'];").length, 1);
  assert.deepEqual(misplaced('test/lab/c.test.ts', "spawn(path.join(REPO_ROOT, 'lab', 'lab'), ['run'])").length, 1);
  assert.deepEqual(misplaced('test/lab/c.test.ts', "execFileSync('ip', ['netns', 'list'])").length, 1);
  assert.deepEqual(misplaced('test/lab/c.test.ts', "const run = await runLab('lab/scenarios/mixed.json');").length, 1);
  assert.deepEqual(misplaced('test/unit/d.test.ts', 'const d = await startDaemon({ root, config });').length, 1);
  assert.deepEqual(misplaced('test/unit/e.test.ts', 'const s = await startLoopbackSender(s3);').length, 1);
  assert.deepEqual(misplaced('test/unit/f.serial.test.ts', '').length, 1);
  assert.deepEqual(misplaced('test/e2e/g.test.ts', 'const d = await startDaemon({ root, config });'), [], 'daemons are fine outside test/unit/');
  assert.deepEqual(misplaced('test/unit/h.test.ts', withoutComments("// no 'mount', [ here\nparse('/proc/self/mountinfo');")), []);
});

test('every test file is where it belongs: unit tests in-process, machine-wide ones *.serial.test.ts', async () => {
  const files = (await readdir(path.join(REPO, 'test'), { recursive: true })).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`);
  assert.ok(files.length > 40 && files.includes('test/unit/test-split.test.ts'), `the scan saw the test files (${files.length})`);
  const problems: string[] = [];
  for (const rel of files) {
    if (rel === 'test/unit/test-split.test.ts') continue; // its own examples above are not calls
    problems.push(...misplaced(rel, withoutComments(await readFile(path.join(REPO, rel), 'utf8'))));
  }
  assert.deepEqual(problems, []);
});
