import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPercent, formatRate, etaMinutes, RateMeter } from '../../src/roles/receiver/progress-math.ts';
import { nextRetryDelay } from '../../src/transfer/retry-policy.ts';
import { errors } from '../../src/errors/catalogue.ts';

test('percent: three decimals and %', () => {
  assert.equal(formatPercent(1, 3), '33.333%');
  assert.equal(formatPercent(5, 5), '100.000%');
  assert.equal(formatPercent(0, 0), '0.000%');
});

test('rate: the seed rule B/s up to 9999 B, KB/s up to 9999 KB, then MB/s', () => {
  assert.equal(formatRate(0), '0 B/s');
  assert.equal(formatRate(9999), '9999 B/s');
  assert.equal(formatRate(10000), '10 KB/s');
  assert.equal(formatRate(9999 * 1024), '9999 KB/s');
  assert.equal(formatRate(9999 * 1024 + 1), '10 MB/s');
  assert.equal(formatRate(110 * 1024 * 1024), '110 MB/s');
});

test('eta in minutes, rounded up; -1 without a rate; 0 when done', () => {
  assert.equal(etaMinutes(60 * 1000, 1000), 1);
  assert.equal(etaMinutes(60 * 1000 + 1, 1000), 2);
  assert.equal(etaMinutes(100, 0), -1);
  assert.equal(etaMinutes(0, 0), 0);
});

test('rate meter averages over its window', () => {
  let now = 0;
  const m = new RateMeter(5000, () => now);
  for (let i = 0; i < 50; i++) {
    m.add(1000);
    now += 100;
  }
  assert.ok(Math.abs(m.rate() - 10_000) < 500, String(m.rate()));
  now += 10_000;
  assert.equal(m.rate(), 0);
});

test('retry policy: growing delays, capped, stops after maxTries, never retries unrecoverable errors', () => {
  const p = { maxTries: 5, baseDelayMs: 1000, maxDelayMs: 5000 };
  const net = new Error('ECONNRESET');
  assert.deepEqual([1, 2, 3, 4].map((n) => nextRetryDelay(p, n, net)), [1000, 2000, 4000, 5000]);
  assert.equal(nextRetryDelay(p, 5, net), undefined);
  assert.equal(nextRetryDelay(p, 1, errors.TASK_JSON('f')), undefined);
  assert.equal(nextRetryDelay(p, 1, errors.SHA1_MISMATCH('f', 'a', 'b')), 1000);
});
