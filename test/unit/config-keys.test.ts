import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_DOCS, knownConfigKeys, suggestKey, unknownConfigKeys, describeUnknownKey, editDistance, configDefault } from '../../src/config/config-keys.ts';

test('every schema key has its words in config-keys.ts, and config-keys.ts names no other key', () => {
  assert.deepEqual(Object.keys(KEY_DOCS).sort(), knownConfigKeys().sort());
});

test('defaults come from the schema', () => {
  assert.equal(configDefault('apilisten'), '127.0.0.1:8191');
  assert.equal(configDefault('downloadingnum'), 5);
  assert.equal(configDefault('servertype'), undefined);
});

test('an unknown key gets the key it most likely meant', () => {
  assert.equal(editDistance('obsk', 'obssk'), 1);
  assert.equal(suggestKey('obsk'), 'obssk');
  assert.equal(suggestKey('downloadnum'), 'downloadingnum');
  assert.equal(suggestKey('uploadnum'), 'uploadingnum');
  assert.equal(suggestKey('ServerType'), 'servertype');
  assert.equal(suggestKey('bt_obs_cdn'), 'bt-obs-cdn');
  assert.equal(suggestKey('recieverstoreplan'), 'receiverstoreplan');
  assert.equal(suggestKey('cdntiem'), 'cdntime');
  assert.equal(suggestKey('colour'), undefined);
  assert.equal(suggestKey('x'), undefined);
});

test('comment keys are never unknown; the seed\'s retired keys are named as such', () => {
  const u = unknownConfigKeys({ servertype: 'receiver', '//': 'a comment', '//servertype': 'another', ctcs: 'localhost:2780', obsk: 'x', zzz: 1 });
  assert.deepEqual(u.map((k) => k.key), ['ctcs', 'obsk', 'zzz']);
  assert.match(describeUnknownKey(u[0]), /^ctcs \(a seed key bft2 does not use: /);
  assert.equal(describeUnknownKey(u[1]), 'obsk (did you mean obssk?)');
  assert.equal(describeUnknownKey(u[2]), 'zzz (not a bft2 key)');
});
