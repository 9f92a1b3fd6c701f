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

test('rate meter averages over its window; a stopped meter reads 0', () => {
  let now = 0;
  const m = new RateMeter(5000, () => now);
  m.start();
  for (let i = 0; i < 50; i++) {
    now += 100;
    m.add(1000);
  }
  assert.ok(Math.abs(m.rate() - 10_000) < 100, String(m.rate()));
  m.stop();
  assert.equal(m.rate(), 0);
});

test('rate meter: 4 MiB pieces landing every 4 s read 1 MiB/s at every moment, not 1.5-4 MiB/s (issue 22)', () => {
  const MiB = 1024 * 1024;
  let now = 0;
  const m = new RateMeter(10_000, () => now);
  m.start();
  const seen: number[] = [];
  for (let piece = 1; piece <= 10; piece++) {
    // Asked every 250 ms while the next piece arrives.
    for (let k = 0; k < 16; k++) {
      now += 250;
      if (k === 15) m.add(4 * MiB);
      seen.push(m.rate());
    }
  }
  // The first piece too: it arrived over the 4 s since the start.
  for (const r of seen.slice(15)) assert.ok(Math.abs(r - MiB) <= 0.01 * MiB, `${(r / MiB).toFixed(3)} MiB/s`);
});

test('rate meter: a flow that stops without a stop() decays to 0 once the quiet outlasts its usual gaps', () => {
  let now = 0;
  const m = new RateMeter(10_000, () => now);
  m.start();
  for (let i = 0; i < 20; i++) {
    now += 1000;
    m.add(1_000_000);
  }
  assert.ok(Math.abs(m.rate() - 1_000_000) < 1000);
  now += 1400; // within 1.5 gaps: still the rate of the flow
  assert.ok(Math.abs(m.rate() - 1_000_000) < 1000);
  now += 5000;
  assert.ok(m.rate() < 700_000 && m.rate() > 0, String(m.rate()));
  now += 10_000;
  assert.equal(m.rate(), 0);
});

test('rate meter: after a pause the first burst counts from the restart, not from before the pause', () => {
  let now = 0;
  const m = new RateMeter(10_000, () => now);
  m.start();
  now += 1000;
  m.add(1000);
  m.stop();
  now += 60_000;
  m.start();
  now += 2000;
  m.add(2000);
  assert.ok(Math.abs(m.rate() - 1000) < 10, String(m.rate()));
});

test('retry policy: growing delays, capped, stops after maxTries, never retries unrecoverable errors', () => {
  const p = { maxTries: 5, baseDelayMs: 1000, maxDelayMs: 5000 };
  const net = new Error('ECONNRESET');
  assert.deepEqual([1, 2, 3, 4].map((n) => nextRetryDelay(p, n, net)), [1000, 2000, 4000, 5000]);
  assert.equal(nextRetryDelay(p, 5, net), undefined);
  assert.equal(nextRetryDelay(p, 1, errors.TASK_JSON('f')), undefined);
  assert.equal(nextRetryDelay(p, 1, errors.SHA1_MISMATCH('f', 'a', 'b')), 1000);
});
