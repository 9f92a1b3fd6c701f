// The delivery lab's mixed-fleet scenario fields (lab/lib/scenario.ts): `tracker`,
// `clients`, `inbound` — validated with every problem named, turned into the host plan,
// the cinemas' firewall rules and the centre's config (opentracker with its whitelist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadScenario, parseScenario, planHosts } from '../../lab/lib/scenario.ts';
import { hostRuleset } from '../../lab/lib/firewall.ts';
import { daemonConfig } from '../../lab/lib/daemons.ts';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';

const base = { cachers: 1, cinemas: 3, dcp: { reels: 1, reelMB: 1 }, split: '1:0:0' };

test('mixed.json: foreign cinemas run no bft2 daemon; they accept BitTorrent connections, the bft2 cinemas none; opentracker is the tracker', async () => {
  const s = await loadScenario(path.join(REPO_ROOT, 'lab/scenarios/mixed.json'));
  assert.equal(s.tracker, 'opentracker');
  const hosts = planHosts(s);
  const plan = Object.fromEntries(hosts.map((h) => [h.name, `${h.client} daemon=${h.daemon} inbound=${h.inbound} ctl=${h.ctl ?? '-'}`]));
  assert.deepEqual(plan, {
    centre: 'bft2 daemon=true inbound=false ctl=198.19.0.1',
    obs: 'bft2 daemon=false inbound=false ctl=-',
    cdn: 'bft2 daemon=false inbound=false ctl=-',
    cacher1: 'bft2 daemon=true inbound=false ctl=198.19.1.1',
    cinema1: 'bft2 daemon=true inbound=false ctl=198.19.2.1',
    cinema2: 'bft2 daemon=true inbound=false ctl=198.19.2.2',
    cinema3: 'ctorrent daemon=false inbound=true ctl=198.19.2.3',
    cinema4: 'ctorrent daemon=false inbound=true ctl=198.19.2.4',
    cinema5: 'transmission daemon=false inbound=true ctl=198.19.2.5',
  });
  const rules = (name: string) => hostRuleset(hosts.find((h) => h.name === name)!, hosts);
  assert.match(rules('cinema3'), /iifname "eth0" ct state new tcp dport != 6881 drop/);
  assert.doesNotMatch(rules('cinema3'), /iifname "eth0" ct state new drop/);
  assert.match(rules('cinema1'), /iifname "eth0" ct state new drop/);
  assert.doesNotMatch(rules('cinema1'), /dport != 6881/);
  const centre = daemonConfig(hosts[0], hosts, { tracker: 'opentracker' });
  assert.equal(centre.embeddedtracker, '');
  assert.equal(centre.tracker, 'http://198.18.0.1:8000/announce');
  assert.equal(centre.trackerwhitelist, '/etc/opentracker/whitelist.txt');
  assert.equal(centre.trackerreload, '/run/opentracker.pid');
  assert.equal(daemonConfig(hosts[0], hosts).embeddedtracker, '198.18.0.1:8000');
});

test('a group default for clients, overridden per cinema; the lab tuning under the scenario\'s own', () => {
  const s = parseScenario({ ...base, clients: { cinemas: 'ctorrent', cinema2: 'bft2' }, config: { cinema2: { tuning: { btstall: '45s' } } } }, 'x.json');
  const hosts = planHosts(s);
  assert.deepEqual(hosts.filter((h) => h.role === 'cinema').map((h) => h.client), ['ctorrent', 'bft2', 'ctorrent']);
  const c2 = daemonConfig(hosts.find((h) => h.name === 'cinema2')!, hosts);
  assert.deepEqual(c2.tuning, { retrydelay: '1s', retrymaxdelay: '8s', stall: '15s', btstall: '45s', hashstable: '300ms', seedcheck: '5s' });
});

test('bad mixed-fleet fields are refused, each named', () => {
  assert.throws(
    () => parseScenario({ ...base, tracker: 'chihaya', clients: { cinema1: 'rtorrent' } }, 'x.json'),
    (err: Error) => {
      for (const field of ['tracker', 'clients.cinema1']) assert.match(err.message, new RegExp(`  ${field.replace('.', '\\.')}: `), field);
      return true;
    },
  );
  assert.throws(
    () => parseScenario({ ...base, clients: { cacher1: 'ctorrent', cinema9: 'ctorrent', cinema2: 'ctorrent' }, inbound: ['centre'], config: { cinema2: { rebalance: 'off' }, cinema3: { trackerwhitelist: '/x' } } }, 'x.json'),
    (err: Error) => {
      assert.match(err.message, /clients\.cacher1: only cinemas choose their client/);
      assert.match(err.message, /clients\.cinema9: only cinemas choose their client/);
      assert.match(err.message, /inbound\.0: no such cinema "centre"/);
      assert.match(err.message, /config\.cinema2: no daemon host or group/, 'a ctorrent cinema has no bft2 config');
      assert.match(err.message, /config\.cinema3\.trackerwhitelist: set by the lab/);
      return true;
    },
  );
});
