import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { catalogue, errors, Bft2Error } from '../../src/errors/catalogue.ts';

test('every error code is in the README table, and the table names no other code', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.slice(readme.indexOf('## Errors'));
  const documented = [...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), Object.keys(catalogue).sort());
});

test('errors carry their code and the seed texts word for word', () => {
  const e = errors.TASK_OPEN('/data/receiver/tmp/x.task.json');
  assert.ok(e instanceof Bft2Error);
  assert.equal(e.code, 'TASK_OPEN');
  assert.equal(e.message, 'open json file error:open /data/receiver/tmp/x.task.json: no such file or directory');
  assert.equal(errors.TASK_JSON('/f').message, 'invalid json format:/f');
  assert.equal(errors.SAME_IN_STATE('queues', '/q/x').message, 'same taskfile in queues:/q/x');
  assert.equal(errors.REACTIVE_INPUT().message, 'reactive parameter input error ');
  assert.equal(errors.UNKNOWN_TASK().message, 'unknown task, not found task.');
  assert.equal(errors.TASK_TOTAL_ZERO('/f').message, 'total files size equal 0 :/f');
  assert.equal(errors.TASK_SIZE_LISTS2('/f').message, 'totalsize != all lists2 sum + localsamesize : /f');
});

test('every code raised in src/ is a catalogue code', async () => {
  const { readdir, readFile: read } = await import('node:fs/promises');
  const src = new URL('../../src/', import.meta.url).pathname;
  const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const used = new Set<string>();
  for (const f of files) for (const m of (await read(src + f, 'utf8')).matchAll(/new Bft2Error\('([A-Z0-9_]+)'/g)) used.add(m[1]);
  for (const code of used) assert.ok(code in catalogue, `${code} is raised but not in the catalogue`);
});
