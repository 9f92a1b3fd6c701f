// `bft2 plan` as a distributor runs it (SPEC §12): on the example fleet of docs/ the table
// marks a choice and says why the others lose, --json is the same plan for scripts, --plot
// writes an SVG; prices the scenario leaves out come from config.json under --root; bad
// input is named and exits 1, as does a deadline nothing meets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempRoot, REPO_ROOT } from '../../tools/harness/daemon.ts';
import { runCommand } from '../helpers/run-command.ts';

const BFT2 = path.join(REPO_ROOT, 'bin/bft2');
const FLEET = path.join(REPO_ROOT, 'docs/fleet.example.json');

const bft2 = (args: string[]) => runCommand(BFT2, args);

test('bft2 plan on the example fleet: a marked choice, reasons, JSON and a plot', async () => {
  const dir = await makeTempRoot();
  try {
    const svg = path.join(dir, 'plan.svg');
    const text = await bft2(['--root', dir, 'plan', FLEET, '--plot', svg]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Plan for .*fleet\.example\.json: 300 cinemas in 3 tiers, 4 cachers; a DCP of 231\.9 GB\.$/m);
    assert.match(text.stdout, /^Hand-out 2026-03-02 20:00; deadline 2026-03-05 08:00/m);
    assert.match(text.stdout, /obs 00:00,0\.25 08:00,0\.5 \(scenario\)/);
    const chosen = /^>> +(\d+:\d+:\d+) +(fulltime|priortime) .* the cheapest that meets the deadline/m.exec(text.stdout);
    assert.ok(chosen, `a row marked as the choice:\n${text.stdout}`);
    assert.match(text.stdout, /late by \d/);
    assert.match(text.stdout, /dearer by \d+\.\d\d CNY/);
    assert.match(text.stdout, new RegExp(`^Choose ${chosen[1]} \\(${chosen[2]}\\): every cinema has the DCP`, 'm'));
    assert.match(await readFile(svg, 'utf8'), /^<svg [\s\S]*recommended[\s\S]*<\/svg>\n$/);

    // docs/plan.md shows this very output: it must stay true.
    const doc = await readFile(path.join(REPO_ROOT, 'docs/plan.md'), 'utf8');
    const shown = /\$ bft2 plan docs\/fleet\.example\.json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    const here = await bft2(['--root', dir, 'plan', 'docs/fleet.example.json']);
    assert.equal(shown, here.stdout.trimEnd(), 'docs/plan.md shows the output of bft2 plan docs/fleet.example.json as it is (paste it again)');

    const json = await bft2(['--root', dir, 'plan', FLEET, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const p = JSON.parse(json.stdout);
    assert.deepEqual(p.recommended, { split: chosen[1], policy: chosen[2] });
    const rec = p.candidates.find((c: { verdict: string }) => c.verdict === 'recommended');
    assert.ok(rec.meetsDeadline && rec.lastCinemaAt <= '2026-03-05 08:00:00', JSON.stringify(rec));
    for (const c of p.candidates.filter((c: { meetsDeadline: boolean }) => c.meetsDeadline)) assert.ok(c.totalCost >= rec.totalCost);
    assert.equal(p.tiers.filter((t: { role: string }) => t.role === 'cinema').reduce((n: number, t: { count: number }) => n + t.count, 0), 300);

    // A deadline nothing meets: exit 1, the fastest named.
    const tight = await bft2(['--root', dir, 'plan', FLEET, '--deadline', '2026-03-03 08:00']);
    assert.equal(tight.code, 1);
    assert.match(tight.stdout, /^No split meets the deadline: the fastest, .* is .* late/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bft2 plan: prices from config.json under --root when the scenario has none; bad input is named', async () => {
  const dir = await makeTempRoot();
  try {
    await mkdir(path.join(dir, 'etc', 'bft2'), { recursive: true });
    await writeFile(path.join(dir, 'etc', 'bft2', 'config.json'), JSON.stringify({ servertype: 'sender', obsprice: '0.4', cdnprice: '00:00,0.1 08:00,0.3', currency: 'EUR' }));
    const fleet = JSON.parse(await readFile(FLEET, 'utf8'));
    delete fleet.prices;
    const file = path.join(dir, 'fleet.json');
    await writeFile(file, JSON.stringify(fleet));
    const r = await bft2(['--root', dir, 'plan', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).currency, 'EUR');
    const t = await bft2(['--root', dir, 'plan', file, '--all']);
    assert.match(t.stdout, new RegExp(`in EUR: bt 0 \\(default\\); obs 0\\.4 \\(${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/etc/bft2/config\\.json\\); cdn 00:00,0\\.1 08:00,0\\.3 \\(`));
    assert.doesNotMatch(t.stdout, /--all lists them/);

    await writeFile(file, JSON.stringify({ ...fleet, cinemas: 0, links: { ...fleet.links, cinema9: { down: 'fast' } } }));
    const bad = await bft2(['--root', dir, 'plan', file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cinemas: Number must be greater than or equal to 1/);
    assert.match(bad.stderr, /links\.cinema9\.down: must be a rate/);
    const badDeadline = await bft2(['--root', dir, 'plan', FLEET, '--deadline', 'Friday']);
    assert.equal(badDeadline.code, 1);
    assert.match(badDeadline.stderr, /--deadline "Friday": must be a local time "YYYY-MM-DD HH:MM"/);
    const missing = await bft2(['--root', dir, 'plan', path.join(dir, 'none.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file: .*none\.json/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
