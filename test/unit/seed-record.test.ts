import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readRecord, seedStartMs } from '../../src/roles/cacher/seed-record.ts';
import { seedLeftMs, seedLeftMinutes, seedHours } from '../../src/roles/shared/seed-clock.ts';

const hash = 'a'.repeat(40);

test('the record is read only when it is well formed; a torrent name that is not one plain segment is refused', () => {
  assert.equal(readRecord({}), undefined);
  assert.deepEqual(readRecord({ cacher: { torrent: 'x-tmp', infohash: hash } }), { torrent: 'x-tmp', infohash: hash });
  for (const torrent of ['..', '../x', 'a/b', '', '.']) assert.equal(readRecord({ cacher: { torrent, infohash: hash } }), undefined, torrent);
  assert.equal(readRecord({ cacher: { torrent: 'x', infohash: 'nothex' } }), undefined);
  const r = readRecord({ cacher: { torrent: 'x', infohash: hash, seedstart: 'yesterday-ish', files: [{ path: 'a', size: '1' }] } });
  assert.deepEqual(r, { torrent: 'x', infohash: hash }, 'an unparseable seedstart or file list is dropped, not trusted');
});

test('seed time left: whole minutes rounded up, the whole seed time before the clock starts, 0 when over', () => {
  const start = Date.parse('2026-01-05T10:00:00Z');
  const rec = seedStartMs({ torrent: 'x', infohash: hash, seedstart: new Date(start).toISOString() });
  assert.equal(seedStartMs({ torrent: 'x', infohash: hash }), undefined, 'no clock before the share is complete');
  assert.equal(seedLeftMs(undefined, 1), undefined);
  assert.equal(seedLeftMinutes(undefined, 0.02), 2); // 72 s
  assert.equal(seedLeftMinutes(rec, 0.02, start + 1000), 2);
  assert.equal(seedLeftMinutes(rec, 0.02, start + 13_000), 1);
  assert.equal(seedLeftMs(rec, 0.02, start + 72_000), 0);
  assert.equal(seedLeftMinutes(rec, 72, start + 3_600_000), 71 * 60);
  assert.equal(seedLeftMs(rec, 1, start + 10 * 3_600_000), 0);
});

test('seed hours: the task\'s bt.seedtime, else the config\'s defaultseedtime (decimals, strings from the seed)', () => {
  assert.equal(seedHours({ bt: { seedtime: 0.5 } } as never, { defaultseedtime: 72 }), 0.5);
  assert.equal(seedHours({ bt: {} } as never, { defaultseedtime: 72 }), 72);
  assert.equal(seedHours({ bt: { seedtime: '12' } } as never, { defaultseedtime: 72 }), 12);
});
