import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { outOfDate, configJsonSchema } from '../../scripts/gen-schemas.ts';
import { knownConfigKeys } from '../../src/config/config-keys.ts';

test('docs/schemas/*.schema.json and the key table of docs/config.md are what scripts/gen-schemas makes', async () => {
  assert.deepEqual(await outOfDate(), [], 'run scripts/gen-schemas and commit the result');
});

test('the config schema: every key, described, numbers also as strings, // keys allowed', async () => {
  const s = configJsonSchema() as { properties: Record<string, { description?: string; anyOf?: unknown[] }>; patternProperties: object };
  assert.deepEqual(Object.keys(s.properties).sort(), knownConfigKeys().sort());
  for (const [k, p] of Object.entries(s.properties)) assert.ok(p.description, `${k} has a description`);
  assert.equal(s.properties.downloadingnum.anyOf?.length, 2);
  assert.ok('^//' in s.patternProperties);
  const md = await readFile(new URL('../../docs/config.md', import.meta.url), 'utf8');
  for (const k of knownConfigKeys()) assert.match(md, new RegExp(`^\\| \`${k}\` \\|`, 'm'));
});
