import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { checkConfigText } from '../../src/cli/check-config.ts';

test('a valid config with typos: valid, each unknown key with the likely intended key', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'receiver', obsk: 'x', downloadnum: 3, '//downloadnum': 'comment' }));
  assert.equal(c.valid, true);
  assert.equal(c.servertype, 'receiver');
  assert.deepEqual(c.warnings, ['unknown key "obsk": did you mean "obssk"?', 'unknown key "downloadnum": did you mean "downloadingnum"?']);
});

test('keys the role does not use are listed when set to something else than their default', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'receiver', httporigin: '127.0.0.1:8080', uploadingnum: 5, autosend: true, receiverstoreplan: 'B' }));
  assert.deepEqual(c.warnings, ['"httporigin" is set, but a receiver does not use it (used by: sender)']);
  const s = checkConfigText(JSON.stringify({ servertype: 'sender', receiverstoreplan: 'B' }));
  assert.deepEqual(s.warnings, ['"receiverstoreplan" is set, but a sender does not use it (used by: receiver)']);
  const copied = checkConfigText(JSON.stringify({ servertype: 'receiver', senderdomain: 'http://127.0.0.1:8080', cdnurl: 'http://127.0.0.1:8080', tracker: 'http://127.0.0.1:6969/announce' }));
  assert.deepEqual(copied.warnings, ['3 keys are set that a receiver does not use: senderdomain, cdnurl, tracker (docs/config.md says which role uses each)']);
});

test('an invalid config: every problem, each naming its field, as the daemon reports them', () => {
  const c = checkConfigText(JSON.stringify({ servertype: 'seeder', downloadingnum: 'many', cdntime: '8-18' }));
  assert.equal(c.valid, false);
  assert.deepEqual(c.problems.map((p) => p.split(':')[0]).sort(), ['cdntime', 'downloadingnum', 'servertype']);
});

test('a file that is not JSON: where, never the text around it (it may hold a key)', () => {
  const c = checkConfigText('{\n  "servertype": "receiver",\n  "obssk": TOPSECRETVALUE\n}');
  assert.equal(c.valid, false);
  assert.equal(c.problems[0], 'not JSON: unexpected character');
  assert.doesNotMatch(c.problems.join(' '), /TOP|SECRET/);
  const cut = checkConfigText('{\n  "servertype": "receiver",\n  "obssk": "TOPSECRETVALUE",\n}');
  assert.match(cut.problems[0], /^not JSON: Expected double-quoted property name at line 4 column 1$/);
});

test('the install template: refused until servertype is chosen; then only its placeholders are left to fill', async () => {
  const text = await readFile(new URL('../../packaging/config.json.template', import.meta.url), 'utf8');
  const c = checkConfigText(text);
  assert.equal(c.valid, false);
  assert.deepEqual(c.problems.map((p) => p.split(':')[0]), ['servertype']);
  const chosen = checkConfigText(text.replace('"<sender|receiver|cacher>"', '"sender"'));
  assert.equal(chosen.valid, true);
  assert.ok(chosen.warnings.length > 0);
  for (const w of chosen.warnings) assert.match(w, /still holds a placeholder|keys are set that a sender does not use: receiverid, vip /);
  assert.ok(!chosen.warnings.some((w) => w.startsWith('unknown key')), 'comment keys are not unknown keys');
});
