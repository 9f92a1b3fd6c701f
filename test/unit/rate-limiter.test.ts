// The shared token bucket, on a mocked clock (node:test's mock timers: Date and setTimeout
// move only when the test says, so seconds of transfer take milliseconds): the cap holds,
// a new rate applies to takers already waiting, abort, first come first served. The cap on
// the real clock, timers late on a busy node and all, is held by a real receiver in
// test/e2e/caps-reserve.serial.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, throttle } from '../../src/transfer/rate-limiter.ts';

const KiB = 1024;
const MiB = 1024 * 1024;

/** A limiter on the mocked clock. */
const mockedLimiter = (bytesPerSecond?: number) => new RateLimiter(bytesPerSecond, () => Date.now());

/**
 * A test whose timers and Date are mocked: its body runs while the clock moves forward a
 * millisecond at a time, each step letting the promises it released run, until the body
 * settles (or a minute of mocked time has passed: then the test fails).
 */
function onMockedClock(name: string, body: () => Promise<void>): void {
  test(name, async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    let settled = false;
    const running = body().finally(() => (settled = true));
    running.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    while (!settled) {
      await new Promise((r) => setImmediate(r)); // setImmediate is not mocked
      if (settled) break;
      if (Date.now() >= 60_000) throw new Error('still running after a minute of mocked time');
      t.mock.timers.tick(1);
    }
    await running;
  });
}

async function* chunks(count: number, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) yield Buffer.alloc(size, i % 256);
}

onMockedClock('a 5 MB/s cap over 3 s stays within 10%', async () => {
  const limiter = mockedLimiter(5 * MiB);
  const started = Date.now();
  let bytes = 0;
  // Two concurrent transfers share the one cap.
  await Promise.all(
    [0, 1].map(async () => {
      for await (const chunk of throttle(chunks(120, 64 * KiB), limiter)) bytes += chunk.length;
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  assert.equal(bytes, 15 * MiB);
  const rate = bytes / seconds;
  assert.ok(Math.abs(rate - 5 * MiB) <= 0.1 * 5 * MiB, `${(rate / MiB).toFixed(2)} MiB/s over ${seconds.toFixed(2)} s`);
});

onMockedClock('a rate change applies mid-way', async () => {
  const limiter = mockedLimiter(4 * MiB);
  let bytes = 0;
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      await limiter.take(16 * KiB);
      bytes += 16 * KiB;
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const fastPhase = bytes;
  limiter.setRate(MiB);
  await new Promise((r) => setTimeout(r, 500));
  const slowPhase = bytes - fastPhase;
  stop = true;
  limiter.setRate(undefined);
  await pump;
  // 0.5 s at 4 MiB/s (the bucket starts empty); then 0.5 s at 1 MiB/s.
  assert.ok(fastPhase >= 1.9 * MiB && fastPhase <= 2.7 * MiB, `fast phase ${fastPhase}`);
  assert.ok(slowPhase >= 0.4 * MiB && slowPhase <= 0.65 * MiB, `slow phase ${slowPhase}`);
});

onMockedClock('lifting or raising the cap releases takers already waiting', async () => {
  const limiter = mockedLimiter(64 * KiB);
  const started = Date.now();
  const waiting = limiter.take(MiB); // 16 s at the old cap
  setTimeout(() => limiter.setRate(undefined), 50);
  await waiting;
  assert.ok(Date.now() - started < 300, 'released by setRate(undefined)');

  limiter.setRate(64 * KiB);
  const again = Date.now();
  const second = limiter.take(MiB);
  setTimeout(() => limiter.setRate(100 * MiB), 50);
  await second;
  assert.ok(Date.now() - again < 300, 'released by a higher cap');
});

onMockedClock('abort rejects with the reason and does not block the queue', async () => {
  const limiter = mockedLimiter(64 * KiB);
  await limiter.take(64 * KiB);
  const ac = new AbortController();
  const doomed = limiter.take(4 * MiB, ac.signal);
  const behind = limiter.take(KiB);
  setTimeout(() => ac.abort(new Error('window closed')), 30);
  await assert.rejects(doomed, { message: 'window closed' });
  const started = Date.now();
  await behind;
  assert.ok(Date.now() - started < 200, 'the next taker was served from the refunded tokens');
  await assert.rejects(limiter.take(KiB, AbortSignal.abort(new Error('already'))), { message: 'already' });
});

onMockedClock('takers are served first come, first served', async () => {
  const limiter = mockedLimiter(2 * MiB);
  await limiter.take(200 * KiB); // the whole first burst
  const order: string[] = [];
  await Promise.all([
    limiter.take(300 * KiB).then(() => order.push('large, first')),
    limiter.take(KiB).then(() => order.push('small, second')),
    limiter.take(KiB).then(() => order.push('small, third')),
  ]);
  assert.deepEqual(order, ['large, first', 'small, second', 'small, third']);
});

test('throttle passes the same chunks in the same order; no cap means no wait', async () => {
  const limiter = mockedLimiter();
  const seen: number[] = [];
  for await (const chunk of throttle(chunks(5, 3), limiter)) seen.push(chunk[0]);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.throws(() => limiter.setRate(0), RangeError);
  assert.throws(() => limiter.setRate(Number.NaN), RangeError);
  assert.equal(limiter.bytesPerSecond, undefined);
});
