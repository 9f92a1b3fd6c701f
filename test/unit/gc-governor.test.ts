// The GC governor (src/daemon/gc-governor.ts): when a collection is due, and, in a real
// node with --expose-gc, that promoted ArrayBuffer garbage stays within the bound with it
// and piles up past it without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { collectionDue, gcExposed, lowerFloor, startGcGovernor } from '../../src/daemon/gc-governor.ts';
import { REPO_ROOT } from '../helpers/daemon.ts';

const MB = 1024 * 1024;
const limits = { arrayBufferSlack: 16 * MB, heapSlack: 24 * MB };
const floor = { arrayBuffers: 10 * MB, heapUsed: 30 * MB };

test('a collection is due once either kind of garbage has grown past its slack', () => {
  assert.equal(collectionDue({ arrayBuffers: 26 * MB, heapUsed: 54 * MB }, floor, limits), false);
  assert.equal(collectionDue({ arrayBuffers: 26 * MB + 1, heapUsed: 30 * MB }, floor, limits), true);
  assert.equal(collectionDue({ arrayBuffers: 10 * MB, heapUsed: 54 * MB + 1 }, floor, limits), true);
});

test('a slack of 0 turns that limit off', () => {
  assert.equal(collectionDue({ arrayBuffers: 500 * MB, heapUsed: 30 * MB }, floor, { arrayBufferSlack: 0, heapSlack: 24 * MB }), false);
  assert.equal(collectionDue({ arrayBuffers: 10 * MB, heapUsed: 500 * MB }, floor, { arrayBufferSlack: 16 * MB, heapSlack: 0 }), false);
});

test('growth is measured from the lowest level seen since the last collection', () => {
  assert.deepEqual(lowerFloor(floor, { arrayBuffers: 4 * MB, heapUsed: 40 * MB }), { arrayBuffers: 4 * MB, heapUsed: 30 * MB });
});

test('without --expose-gc (or with both limits off) there is no governor', () => {
  if (!gcExposed()) assert.equal(startGcGovernor(limits), undefined);
  assert.equal(startGcGovernor({ arrayBufferSlack: 0, heapSlack: 0 }), undefined);
});

// The fixture keeps ~6 MB alive, each object for ~60 ms (long enough to be promoted), for
// 3 s, with a slack of 8 MB, under scripts/bft2's V8 flags; it prints the peak above where
// it started. Allowed: 6 MB live + 8 MB slack + what turns up between two samples.
function runFixture(mode: 'governed' | 'plain', kind: 'buffers' | 'heap'): { peakMb: number; asked: number } {
  const args = ['--expose-gc', '--max-semi-space-size=2', '--initial-old-space-size=64', '--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/fixtures/gc-garbage.ts'), mode, kind];
  return JSON.parse(execFileSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8' })) as { peakMb: number; asked: number };
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
