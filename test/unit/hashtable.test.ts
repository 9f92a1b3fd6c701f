import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLine, parseLine, formatTable } from '../../src/hashtable/sha1sum-format.ts';
import { reconcile, type IndexEntry } from '../../src/hashtable/reconcile.ts';
import { isCovered } from '../../src/hashtable/store-walk.ts';

const H = 'ab'.repeat(20);

test('sha1sum format, with sha1sum escaping for odd names', () => {
  assert.equal(formatLine({ sha1: H, path: '/d/a b.mxf' }), `${H}  /d/a b.mxf`);
  assert.equal(formatLine({ sha1: H, path: '/d/x\\y\nz' }), `\\${H}  /d/x\\\\y\\nz`);
  for (const p of ['/d/a b.mxf', '/d/x\\y\nz', '/d/r\r']) assert.deepEqual(parseLine(formatLine({ sha1: H, path: p })), { sha1: H, path: p });
  assert.equal(parseLine('garbage'), undefined);
  assert.equal(formatTable([]), '');
});

test('coverage: no torrents, markers, dcps-tmp, dotfiles or temp names', () => {
  const base = '/r/data/dcp';
  assert.ok(isCovered(base, '/r/data/dcp/cfec-001/dcps/x/a.mxf'));
  for (const p of ['/r/data/dcp/cfec-001/dcps/x.torrent', '/r/data/dcp/x.finished', '/r/data/dcp/cfec-001/dcps-tmp/x-tmp/a.mxf', '/r/data/dcp/x/.bft2-a.part', '/r/data/dcp/x/.a.mxf.Xy12', '/r/data/other/a', '/r/data/dcp/x/a.mxf.upload_record']) {
    assert.equal(isCovered(base, p), false, p);
  }
});

const e = (path: string, ino: number, over: Partial<IndexEntry> = {}): IndexEntry => ({ path, sha1: H, size: 10, mtimeMs: 1000, ino, ...over });
const all = () => true;

test('reconcile: unchanged kept, renamed followed by inode, changed and new hashed when stable, gone removed', () => {
  const index = [e('/s/a', 1), e('/s/b', 2), e('/s/c', 3), e('/s/gone', 4)];
  const walked = [
    { path: '/s/a', size: 10, mtimeMs: 1000, ino: 1 }, // unchanged
    { path: '/s/renamed/b', size: 10, mtimeMs: 1000, ino: 2 }, // b moved
    { path: '/s/c', size: 11, mtimeMs: 5000, ino: 3 }, // changed, stable
    { path: '/s/new', size: 3, mtimeMs: 9990, ino: 9 }, // new, still being written
  ];
  const plan = reconcile(index, walked, { now: 10_000, stableMs: 2000, inScope: all });
  assert.deepEqual(plan.keep.map((x) => x.path), ['/s/a']);
  assert.deepEqual(plan.moved.map((x) => [x.from, x.path]), [['/s/b', '/s/renamed/b']]);
  assert.deepEqual(plan.hash.map((x) => x.path), ['/s/c']);
  assert.deepEqual(plan.unstable.map((x) => x.path), ['/s/new']);
  assert.deepEqual(plan.removed.map((x) => x.path).sort(), ['/s/c', '/s/gone']);
});

test('reconcile: a hard link or copy with the same inode at both paths is not a rename', () => {
  const plan = reconcile([e('/s/a', 1)], [{ path: '/s/a', size: 10, mtimeMs: 1000, ino: 1 }, { path: '/s/link', size: 10, mtimeMs: 1000, ino: 1 }], { now: 10_000, stableMs: 0, inScope: all });
  assert.deepEqual(plan.moved, []);
  assert.deepEqual(plan.hash.map((x) => x.path), ['/s/link']);
});

test('reconcile: out-of-scope entries are kept, unless a rename brought them into scope', () => {
  const inScope = (p: string) => p.startsWith('/s/z/');
  const plan = reconcile([e('/s/x/a', 1), e('/s/other', 5)], [{ path: '/s/z/a', size: 10, mtimeMs: 1000, ino: 1 }], { now: 10_000, stableMs: 0, inScope, goneOutside: new Set(['/s/x/a']) });
  assert.deepEqual(plan.moved.map((x) => [x.from, x.path]), [['/s/x/a', '/s/z/a']]);
  assert.deepEqual(plan.keep.map((x) => x.path), ['/s/other']);
  assert.deepEqual(plan.hash, []);
});
