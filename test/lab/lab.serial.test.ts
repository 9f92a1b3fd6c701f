// The delivery lab as a test: `lab/lab run lab/scenarios/small.json` — a centre, an OBS host,
// a CDN edge, one cacher and two cinemas behind closed firewalls, each a network namespace
// with shaped links — delivers a 1:1:1 task end to end through the API; every cinema's DCP
// is verified against the sender's sha1s, the report's byte counters are sane, and the run
// leaves nothing behind. Needs root and network namespaces: where they are missing the
// test fails and says so (CI runs as root), it never skips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';
import type { RunReport } from '../../lab/lib/report.ts';

test('lab: small scenario — 1 centre, 1 cacher, 2 cinemas on shaped links; every cinema DCP verified; figures sane; nothing left behind', { timeout: 170_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'the delivery lab needs root (network namespaces, tc, nftables); CI runs as root — run this test as root');
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch (err) {
    assert.fail(`'ip netns' is not usable here (${(err as Error).message}); the lab needs iproute2 and network namespaces (tools/install-test-deps)`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-labtest-'));
  try {
    const jsonFile = path.join(dir, 'report.json');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const p = spawn(path.join(REPO_ROOT, 'lab', 'lab'), ['run', 'lab/scenarios/small.json', '--json', jsonFile], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      // The scenario's own bound is 90 s of delivery; this one bounds the whole run.
      const timer = setTimeout(() => p.kill('SIGTERM'), 150_000);
      p.once('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, output: out });
      });
    });
    assert.equal(code, 0, `lab/lab run failed (exit ${code}):\n${output}`);
    const r = JSON.parse(await readFile(jsonFile, 'utf8')) as RunReport;
    const size = r.dcp.size;
    assert.ok(r.ok, output);
    assert.equal(r.split, '1:1:1');
    assert.ok(size >= 20e6, `a DCP of some size: ${size}`);
    for (const m of ['bt', 'obs', 'cdn'] as const) assert.ok(r.shares[m] > 0, `${m} carries a share`);

    const cinemas = r.rows.filter((h) => h.role === 'cinema');
    assert.equal(cinemas.length, 2);
    for (const c of cinemas) {
      assert.equal(c.result, 'verified', `${c.host}: ${c.result}`);
      assert.ok(c.timeS !== null && c.timeS > 0 && c.timeS < 90, `${c.host} time ${c.timeS}`);
      assert.ok(c.rx >= size, `${c.host}: its downlink carried ${c.rx} bytes, the DCP is ${size}`);
      const sources = c.from.centre + c.from.cachers + c.from.obs + c.from.cdn;
      assert.ok(sources >= size, `${c.host}: bytes by source ${JSON.stringify(c.from)} add up to less than the DCP`);
      assert.ok(c.from.obs > 0 && c.from.cdn > 0 && c.btRx > 0, `${c.host}: every method delivered: ${JSON.stringify(c.from)}, bt ${c.btRx}`);
      // The firewall: no other host opened a connection to a cinema, so no cinema received from another.
      assert.equal(c.from.cinemas, 0, `${c.host} received ${c.from.cinemas} bytes from other cinemas`);
    }
    const cacher = r.rows.find((h) => h.role === 'cacher')!;
    assert.ok(cacher.rx >= r.shares.bt, `the cacher received its BitTorrent share: ${cacher.rx} of ${r.shares.bt}`);
    const s = r.summary;
    assert.equal(s.verifiedCinemas, 2);
    assert.ok(s.centreUplinkBytes >= r.shares.bt, `centre uplink recorded: ${s.centreUplinkBytes}`);
    assert.ok(s.centreBtBytes > 0 && s.centreBtBytes <= s.centreUplinkBytes, `centre BitTorrent upload ${s.centreBtBytes} within its uplink ${s.centreUplinkBytes}`);
    assert.equal(s.centreUplinkPerCinema, s.centreUplinkBytes / 2);
    assert.match(output, /RESULT: ok/);
    assert.match(output, /cinema1 .* verified/);

    // Nothing of the run is left: namespaces, work directory.
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`bft2lab-${r.runId}-`));
    assert.deepEqual(left, [], 'the run removed its namespaces');
    await assert.rejects(stat(path.join(os.tmpdir(), `bft2lab-${r.runId}`)), 'the run removed its work directory');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
