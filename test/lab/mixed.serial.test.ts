// The mixed fleet in the delivery lab (issue 23 points 5 and 6): `lab/lab run
// lab/scenarios/mixed.json` — one swarm through Debian's opentracker (whitelist kept by the
// centre), a bft2 centre and cacher, two bft2 cinemas behind closed firewalls, two cinemas
// of the old system running ctorrent and one running transmission (libtransmission), those
// three with their BitTorrent port open. Every cinema's DCP is verified
// against the sender's sha1s; each kind of client took part in the swarm (bytes by source
// from the nft counters), and the run leaves nothing behind. Needs root (the lab).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireLab, runLab } from '../../tools/harness/lab-run.ts';

test('lab: mixed fleet — bft2, ctorrent and transmission cinemas in one swarm through opentracker; every DCP verified', { timeout: 420_000 }, async () => {
  requireLab();
  const { code, output, report, leftovers } = await runLab('lab/scenarios/mixed.json', 400_000);
  assert.equal(code, 0, `lab/lab run failed (exit ${code}):\n${output}`);
  assert.ok(report, `no report:\n${output}`);
  const r = report;
  assert.ok(r.ok, output);
  assert.equal(r.split, '1:0:0');
  const cinemas = r.rows.filter((h) => h.role === 'cinema');
  assert.deepEqual(cinemas.map((c) => `${c.host} ${c.client} ${c.result}`), ['cinema1 bft2 verified', 'cinema2 bft2 verified', 'cinema3 ctorrent verified', 'cinema4 ctorrent verified', 'cinema5 transmission verified']);
  const size = r.dcp.size;
  for (const c of cinemas) assert.ok(c.btRx >= size, `${c.host} received the DCP over BitTorrent: ${c.btRx} of ${size}`);
  const [, , ct3, ct4, tr5] = cinemas;
  // The old cinemas' ports are open: they served others; the bft2 cinemas (firewalled) took from them.
  assert.ok(ct3.btTx + ct4.btTx > size / 2, `the ctorrent cinemas uploaded ${ct3.btTx + ct4.btTx} bytes`);
  assert.ok(cinemas[0].from.cinemas + cinemas[1].from.cinemas > 0, 'the bft2 cinemas received from the ctorrent cinemas');
  assert.ok(ct3.from.centre + ct3.from.cachers + ct4.from.centre + ct4.from.cachers > 0, 'the ctorrent cinemas received from bft2 (centre, cacher)');
  assert.ok(tr5.from.centre + tr5.from.cachers + tr5.from.cinemas >= size, `transmission took the DCP from the swarm: ${JSON.stringify(tr5.from)}`);
  assert.match(output, /opentracker on centre/);
  assert.match(output, /mixed fleet: cinemas verified by client: bft2 2\/2 .*ctorrent 2\/2 .*transmission 1\/1/);
  assert.deepEqual(await leftovers(), { namespaces: [], workDir: false }, 'the run removed its namespaces and its work directory');
});
