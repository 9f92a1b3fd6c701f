// The GC governor (src/daemon/gc-governor.ts): when a collection is due, and, in a real
// node with --expose-gc, that promoted ArrayBuffer garbage stays within the bound with it
// and piles up past it without it, and that what a burst left is freed once all is quiet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { collectionDue, gcExposed, lowerFloor, memoryMoved, quietCollectionDue, startGcGovernor } from '../../src/daemon/gc-governor.ts';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';

const MB = 1024 * 1024;
const limits = { arrayBufferSlack: 16 * MB, heapSlack: 24 * MB, rssPressure: 130 * MB, quietSlack: 4 * MB, quietMs: 1000 };
/** A memory sample; the resident set below the pressure line unless given. */
const at = (arrayBuffers: number, heapUsed: number, rss = 100 * MB) => ({ arrayBuffers, heapUsed, rss });
const floor = at(10 * MB, 30 * MB);

test('a collection is due once either kind of garbage has grown past its slack', () => {
  assert.equal(collectionDue(at(26 * MB, 54 * MB), floor, limits), false);
  assert.equal(collectionDue(at(26 * MB + 1, 30 * MB), floor, limits), true);
  assert.equal(collectionDue(at(10 * MB, 54 * MB + 1), floor, limits), true);
});

test('past the pressure line (resident set) both slacks are halved', () => {
  assert.equal(collectionDue(at(18 * MB + 1, 30 * MB, 129 * MB), floor, limits), false);
  assert.equal(collectionDue(at(18 * MB + 1, 30 * MB, 130 * MB), floor, limits), true);
  assert.equal(collectionDue(at(10 * MB, 42 * MB + 1, 140 * MB), floor, limits), true);
  assert.equal(collectionDue(at(18 * MB + 1, 30 * MB, 500 * MB), floor, { ...limits, rssPressure: 0 }), false, '0: no pressure line');
});

test('a slack of 0 turns that limit off', () => {
  assert.equal(collectionDue(at(500 * MB, 30 * MB), floor, { ...limits, arrayBufferSlack: 0 }), false);
  assert.equal(collectionDue(at(10 * MB, 500 * MB), floor, { ...limits, heapSlack: 0 }), false);
  assert.equal(quietCollectionDue(at(50 * MB, 30 * MB), floor, 60_000, { ...limits, quietSlack: 0 }), false);
});

test('a quiet collection is due once memory has been still for quietMs with more than quietSlack of garbage', () => {
  const left = at(14 * MB + 1, 30 * MB);
  assert.equal(quietCollectionDue(left, floor, 999, limits), false, 'not still long enough');
  assert.equal(quietCollectionDue(left, floor, 1000, limits), true);
  assert.equal(quietCollectionDue(at(14 * MB, 34 * MB), floor, 5000, limits), false, 'garbage within the quiet slack');
  assert.equal(quietCollectionDue(at(10 * MB, 34 * MB + 1), floor, 5000, limits), true, 'heap garbage counts too');
  // What a timer allocates between two samples is not activity; a download's chunks are.
  assert.equal(memoryMoved(floor, at(10 * MB + MB / 4, 30 * MB + MB / 4)), false);
  assert.equal(memoryMoved(floor, at(11 * MB, 30 * MB)), true);
  assert.equal(memoryMoved(floor, at(10 * MB, 29 * MB)), true);
});

test('growth is measured from the lowest level seen since the last collection', () => {
  assert.deepEqual(lowerFloor(floor, at(4 * MB, 40 * MB)), at(4 * MB, 30 * MB));
});

test('without --expose-gc (or with both limits off) there is no governor', () => {
  if (!gcExposed()) assert.equal(startGcGovernor(limits), undefined);
  assert.equal(startGcGovernor({ ...limits, arrayBufferSlack: 0, heapSlack: 0 }), undefined);
});

// The fixture keeps ~6 MB alive, each object for ~60 ms (long enough to be promoted), for
// 3 s, with a slack of 8 MB, under bin/bft2's V8 flags; it prints the peak above where
// it started. Allowed: 6 MB live + 8 MB slack + what turns up between two samples.
function runFixture(mode: 'governed' | 'plain', kind: 'buffers' | 'heap' | 'quiet'): { peakMb: number; leftMb: number; asked: number } {
  const args = ['--expose-gc', '--max-semi-space-size=2', '--initial-old-space-size=64', '--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/fixtures/gc-garbage.ts'), mode, kind];
  return JSON.parse(execFileSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8' })) as { peakMb: number; leftMb: number; asked: number };
}

for (const kind of ['buffers', 'heap'] as const) {
  const what = kind === 'buffers' ? 'ArrayBuffer' : 'JS heap';
  test(`promoted ${what} garbage stays within the slack with the governor, and piles up without it`, () => {
    const governed = runFixture('governed', kind);
    const plain = runFixture('plain', kind);
    assert.ok(governed.asked > 0, 'the governor asked for no collection');
    assert.ok(governed.peakMb <= 22, `with the governor, ${what} memory peaked ${governed.peakMb} MB above its start`);
    assert.ok(plain.peakMb >= governed.peakMb + 8, `without it, ${plain.peakMb} MB (with it ${governed.peakMb} MB): the fixture no longer makes the garbage this test is about`);
  });
}

test('what a burst of garbage left is freed once the process has been quiet, and stays without the governor', () => {
  const governed = runFixture('governed', 'quiet');
  const plain = runFixture('plain', 'quiet');
  assert.ok(governed.asked > 0, 'the governor asked for no collection');
  assert.ok(governed.leftMb <= 4, `with the governor, ${governed.leftMb} MB of ArrayBuffers were left 2 s after the burst`);
  assert.ok(plain.leftMb >= governed.leftMb + 8, `without it, ${plain.leftMb} MB were left (with it ${governed.leftMb} MB): the fixture no longer leaves promoted garbage`);
});
