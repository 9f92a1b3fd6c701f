// The repository's import rules (README, "Layout"), checked by reading every .ts file's
// imports: nothing outside test/ imports from test/, and no test imports a script — an
// entry point at the top of bin/, bench/, lab/ or tools/ (a test runs those as processes,
// as a user would); their libraries (tools/harness/, lab/lib/, bench/lib/) may be imported.
// Also: the old scripts/ folder stays gone, so a merge that adds a file there fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const SKIP = new Set(['node_modules', 'dist', '.git', 'spool']);
const SCRIPT_DIRS = ['bin', 'bench', 'lab', 'tools'];

/** Relative module specifiers of a file: static and dynamic imports, re-exports, require. */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) if (m[1].startsWith('.')) out.push(m[1]);
  return out;
}

const top = (rel: string) => rel.split('/')[0];
const isScript = (rel: string) => SCRIPT_DIRS.includes(top(rel)) && rel.split('/').length === 2;

/** Every broken rule among these files (paths relative to the repository, with their text). */
export function violations(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    for (const spec of importSpecifiers(text)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      if (top(file) !== 'test' && top(target) === 'test') out.push(`${file} imports ${spec}: nothing outside test/ imports from test/ (shared code goes to tools/harness/)`);
      if (top(file) === 'test' && isScript(target)) out.push(`${file} imports ${spec}: a test runs a script as a process, it does not import it`);
    }
  }
  return out;
}

async function repoTsFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(REPO, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const names = entry.isDirectory() ? (await readdir(path.join(REPO, entry.name), { recursive: true })).map((n) => `${entry.name}/${n}`) : [entry.name];
    for (const rel of names) {
      if (/\.[cm]?ts$/.test(rel) && !rel.split('/').some((p) => SKIP.has(p))) files.set(rel, await readFile(path.join(REPO, rel), 'utf8'));
    }
  }
  return files;
}

test('the rule checker finds what it is meant to find', () => {
  const found = violations(new Map([
    ['bench/lib/common.ts', "import type { Daemon } from '../../test/helpers/daemon.ts';"],
    ['lab/lab.ts', "const m = await import('../test/x.ts');"],
    ['test/unit/a.test.ts', "import { outOfDate } from '../../tools/gen-schemas.ts';"],
    ['test/e2e/b.test.ts', "import {\n  startDaemon,\n} from '../../tools/harness/daemon.ts';\nimport { makeDcp } from '../helpers/x.ts';"],
    ['test/lab/c.test.ts', "import { Lab } from '../../lab/lib/lab.ts';"],
    ['src/x.ts', "export { y } from './y.ts';\nimport z from 'zod';"],
  ]));
  assert.deepEqual(found.map((v) => v.split(' ')[0]), ['bench/lib/common.ts', 'lab/lab.ts', 'test/unit/a.test.ts']);
});

test('nothing outside test/ imports from test/, and no test imports a script', async () => {
  const files = await repoTsFiles();
  files.delete('test/unit/layout.test.ts'); // its own examples above are not imports
  assert.ok(files.size > 100 && files.has('src/cli/main.ts') && files.has('tools/harness/daemon.ts'), `the scan saw the repository (${files.size} files)`);
  assert.deepEqual(violations(files), []);
});

test('scripts/ is gone: the launcher is in bin/, benches in bench/, the lab in lab/, tools in tools/, operator scripts in ops/', () => {
  assert.equal(existsSync(path.join(REPO, 'scripts')), false, 'a file landed in scripts/: move it to bin/, bench/, lab/, tools/ or ops/');
});
