// tools/gen-schemas as a user runs it (a test spawns a tool, never imports it): the
// committed docs/schemas/*.schema.json and docs/config.md's key table are what it makes,
// and the config schema it made covers every key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { knownConfigKeys } from '../../src/config/config-keys.ts';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';

const exec = promisify(execFile);

test('docs/schemas/*.schema.json and the key table of docs/config.md are what tools/gen-schemas makes', async () => {
  const r = await exec(path.join(REPO_ROOT, 'tools/gen-schemas'), ['--check']).catch((e: { code: number; stdout: string; stderr: string }) => e);
  assert.equal((r as { code?: number }).code ?? 0, 0, `run tools/gen-schemas and commit the result:\n${r.stderr}`);
  assert.match(r.stdout, /up to date/);
});

test('the config schema: every key, described, numbers also as strings, // keys allowed', async () => {
  // The committed file, which the test above holds to the generator's output.
  const s = JSON.parse(await readFile(path.join(REPO_ROOT, 'docs/schemas/config.schema.json'), 'utf8')) as { properties: Record<string, { description?: string; anyOf?: unknown[] }>; patternProperties: object };
  assert.deepEqual(Object.keys(s.properties).sort(), knownConfigKeys().sort());
  for (const [k, p] of Object.entries(s.properties)) assert.ok(p.description, `${k} has a description`);
  assert.equal(s.properties.downloadingnum.anyOf?.length, 2);
  assert.ok('^//' in s.patternProperties);
  const md = await readFile(path.join(REPO_ROOT, 'docs/config.md'), 'utf8');
  for (const k of knownConfigKeys()) assert.match(md, new RegExp(`^\\| \`${k}\` \\|`, 'm'));
});
