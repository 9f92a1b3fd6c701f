import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load-config.ts';
import { planReload, reloadAnswer, reloadLogLine, reloadRefusedAnswer } from '../../src/config/reload-plan.ts';
import { KEY_DOCS } from '../../src/config/config-keys.ts';

const running = parseConfig({ servertype: 'receiver', receiverstoreplan: 'A', downloadingnum: 2, btlimit: '' }, 'c');

test('reloadconf applies the live keys; the restart keys keep their running value and are listed', () => {
  const next = parseConfig({ servertype: 'receiver', receiverstoreplan: 'B', downloadingnum: 4, btlimit: '5MB/s', obssk: 'SECRETKEY' }, 'c');
  const p = planReload(running, next);
  assert.equal(p.config.receiverstoreplan, 'A', 'plan B only after a restart');
  assert.equal(p.config.downloadingnum, 4);
  assert.equal(p.config.btlimit, '5MB/s');
  assert.deepEqual(p.applied, ['obssk', 'downloadingnum', 'btlimit']);
  assert.deepEqual(p.waiting, [{ key: 'receiverstoreplan', running: 'A', file: 'B' }]);
  assert.ok(Object.isFrozen(p.config));
  assert.equal(reloadAnswer(p), 'reload config.json ok. applied: obssk, downloadingnum, btlimit. waiting for a restart: receiverstoreplan ("A" until then, "B" after).');
  assert.equal(reloadLogLine(p), 'config reloaded: applied obssk, downloadingnum, btlimit; waiting for a restart: receiverstoreplan ("A" until then, "B" after)');
  assert.doesNotMatch(reloadAnswer(p) + reloadLogLine(p), /SECRET/, 'key names only, never a value of a live key');

  // Reloading the same file again: nothing more to apply, the restart key still waits.
  const again = planReload(p.config, next);
  assert.deepEqual(again.applied, []);
  assert.deepEqual(again.waiting.map((w) => w.key), ['receiverstoreplan']);
  assert.equal(reloadAnswer(again), 'reload config.json ok. no key to apply changed. waiting for a restart: receiverstoreplan ("A" until then, "B" after).');
  // Put back: nothing waits any more.
  assert.equal(reloadAnswer(planReload(p.config, running)), 'reload config.json ok. applied: obssk, downloadingnum, btlimit.');
});

test('every key marked restart in config-keys.ts is held back, every live one applied', () => {
  const restart = Object.keys(KEY_DOCS).filter((k) => KEY_DOCS[k].reload === 'restart');
  assert.deepEqual(restart.sort(), ['apilisten', 'basedatapath', 'btatstart', 'btport', 'embeddedtracker', 'httporigin', 'machinetype', 'metricslisten', 'receiverstoreplan', 'servertype']);
  const next = parseConfig({ servertype: 'sender', machinetype: 'hwecs', basedatapath: '/srv/dcp', receiverstoreplan: 'B', apilisten: '127.0.0.1:9191', btatstart: true, btport: 7000, httporigin: '127.0.0.1:9292', embeddedtracker: '127.0.0.1:9393', metricslisten: '127.0.0.1:9494', downloadingnum: 7 }, 'c');
  const p = planReload(running, next);
  for (const k of restart) assert.deepEqual(p.config[k as keyof typeof p.config], running[k as keyof typeof running], k);
  assert.deepEqual(p.waiting.map((w) => w.key).sort(), restart.sort());
  assert.deepEqual(p.applied, ['downloadingnum']);
});

test('a refused file: the answer says nothing was applied', () => {
  assert.equal(reloadRefusedAnswer('invalid config /etc/bft2/config.json: btport: Expected number'), 'reload config.json failed: invalid config /etc/bft2/config.json: btport: Expected number; the running config stays in force, nothing was applied.');
});
