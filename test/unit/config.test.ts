import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, loadConfig, redactConfig } from '../../src/config/load-config.ts';
import { Paths } from '../../src/config/paths.ts';

test('defaults fill every bft2 key; numbers and booleans given as strings are accepted', () => {
  const c = parseConfig({ servertype: 'receiver', defaultseedtime: '72', downloadingnum: '3', avoidrepeat: 'false' }, 'c.json');
  assert.equal(c.defaultseedtime, 72);
  assert.equal(c.downloadingnum, 3);
  assert.equal(c.avoidrepeat, false);
  assert.equal(c.apilisten, '127.0.0.1:8191');
  assert.equal(c.btport, 6881);
  assert.equal(c.httporigin, '');
  assert.equal(c.embeddedtracker, '');
  assert.equal(c.autosend, true);
  assert.equal(c.obssignature, 'obs');
  assert.equal(c.obspathstyle, false);
  assert.equal(c.receiverstoreplan, 'A');
  assert.ok(Object.isFrozen(c));
});

test('every problem is reported at once, each naming its field', () => {
  assert.throws(
    () => parseConfig({ servertype: 'seeder', downloadingnum: 'many', bttime: '25:00', apilisten: 'nowhere', 'bt-obs-cdn': '0:0:0' }, '/etc/bft2/config.json'),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID');
      for (const field of ['servertype', 'downloadingnum', 'bttime', 'apilisten', 'bt-obs-cdn']) assert.match(err.message, new RegExp(`${field}:`));
      assert.match(err.message, /^invalid config \/etc\/bft2\/config.json: /);
      return true;
    },
  );
});

test('a trailing / on URLs and paths is dropped; prior is read as priorpolicy', () => {
  const c = parseConfig({ servertype: 'sender', cdnurl: 'http://127.0.0.1:8080/', basedatapath: '/data/dcp/', prior: 'priortime' }, 'c');
  assert.equal(c.cdnurl, 'http://127.0.0.1:8080');
  assert.equal(c.basedatapath, '/data/dcp');
  assert.equal(c.priorpolicy, 'priortime');
});

test('a missing or non-JSON file names the file and the problem; secrets are masked when shown', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-cfg-'));
  await assert.rejects(loadConfig(path.join(dir, 'none.json')), /invalid config .*none.json: cannot read: ENOENT/);
  await writeFile(path.join(dir, 'bad.json'), '{"servertype": ');
  await assert.rejects(loadConfig(path.join(dir, 'bad.json')), /invalid config .*bad.json: not JSON/);
  const shown = redactConfig(parseConfig({ servertype: 'sender', obsak: 'AK123', obssk: 'SK456' }, 'c'));
  assert.equal(shown.obsak, '***');
  assert.equal(shown.obssk, '***');
});

test('paths: seed paths map under the root; the store follows role and plan', () => {
  const p = new Paths('/r');
  assert.equal(p.configFile, '/r/etc/bft2/config.json');
  assert.equal(p.daemonLog, '/r/var/log/bft2/bftv2.log');
  assert.equal(p.spoolDir('receiver', 'queues'), '/r/data/receiver/queues');
  assert.equal(p.staging('cdn', 'cfec-001', 'x'), '/r/data/transfer/cdn/cfec-001/x');
  const a = parseConfig({ servertype: 'receiver', receiverstoreplan: 'A' }, 'c');
  const b = parseConfig({ servertype: 'receiver', receiverstoreplan: 'B' }, 'c');
  const s = parseConfig({ servertype: 'sender' }, 'c');
  assert.equal(p.storeDir(a, 'cfec-001', 'x'), '/r/data/dcp/x');
  assert.equal(p.storeDir(b, 'cfec-001', 'x'), '/r/data/dcp/cfec-001/dcps/x');
  assert.equal(p.storeDir(s, 'cfec-001', 'x'), '/r/data/dcp/cfec-001/dcps/x');
  assert.equal(p.finishedMarker(a, 'cfec-001', 'x'), '/r/data/dcp/x.finished');
});
