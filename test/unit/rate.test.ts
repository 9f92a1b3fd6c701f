// Rate caps: units (1 KB = 1024 B), off, rclone-style timetables, the cap in force at an
// instant and the next change, with fixed local instants.
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRateSpec, rateProblem, rateAt, nextRateChange } from '../../src/schedule/rate.ts';
import { parseByteSize } from '../../src/schedule/byte-size.ts';

const KB = 1024;
const MB = 1024 * 1024;
const at = (day: number, h: number, m = 0) => new Date(2021, 4, day, h, m);

test('one rate, in every accepted spelling', () => {
  const cases: [string, number][] = [
    ['20MB/s', 20 * MB],
    ['512KB/s', 512 * KB],
    ['1.5MB/s', 1.5 * MB],
    ['800KB', 800 * KB],
    ['10M', 10 * MB],
    ['1GiB/s', 1024 * MB],
    ['300b/s', 300],
    [' 2mb/S ', 2 * MB],
  ];
  for (const [spec, bytes] of cases) assert.deepEqual(parseRateSpec(spec), { kind: 'fixed', bytesPerSecond: bytes }, spec);
  assert.deepEqual(parseRateSpec(''), { kind: 'none' });
  assert.deepEqual(parseRateSpec('off'), { kind: 'none' });
  assert.deepEqual(parseRateSpec('OFF'), { kind: 'none' });
});

test('a refused rate names the problem', () => {
  assert.equal(rateProblem('20XB/s'), '20XB/s is not a rate (e.g. 20MB/s, 512KB/s, 10M or off; 1 KB = 1024 B)');
  assert.equal(rateProblem('1000'), '1000 has no unit: write 1000KB/s or 1000B/s (1 KB = 1024 B)');
  assert.equal(rateProblem('0'), '0: a cap of 0 would stop the transfer; use a window to stop it, or off for no cap');
  assert.equal(rateProblem('20 MB/s'), '20 MB/s is not a rate (e.g. 20MB/s, 512KB/s, 10M or off; 1 KB = 1024 B)');
  assert.equal(rateProblem('0MB/s'), '0MB/s: a cap of 0 would stop the transfer; use a window to stop it, or off for no cap');
  assert.equal(rateProblem('08:00,5MB/s 24:00,off'), '24:00,off: 24:00 is not a time of day (00:00 to 23:59)');
  assert.equal(rateProblem('08:00,5MB/s 18:00'), '18:00: every timetable entry is HH:MM,rate (e.g. 08:00,5MB/s 18:00,off)');
  assert.equal(rateProblem('08:00,5MB/s 08:00,off'), '08:00,off: 08:00 appears twice');
  assert.equal(
    rateProblem('08:00,5XB 9:00,off 18:00,fast'),
    '08:00,5XB: 5XB is not a rate (e.g. 20MB/s, 512KB/s, 10M or off; 1 KB = 1024 B); 9:00,off: every timetable entry is HH:MM,rate (e.g. 08:00,5MB/s 18:00,off); 18:00,fast: fast is not a rate (e.g. 20MB/s, 512KB/s, 10M or off; 1 KB = 1024 B)',
  );
  assert.equal(rateProblem('08:00,5MB/s 18:00,off'), undefined);
});

test('a timetable: the last entry at or before the instant, wrapping round midnight', () => {
  const spec = parseRateSpec('18:00,off  08:00,5MB/s 12:00,512KB/s');
  assert.deepEqual(spec, {
    kind: 'timetable',
    entries: [
      { minute: 480, bytesPerSecond: 5 * MB },
      { minute: 720, bytesPerSecond: 512 * KB },
      { minute: 1080, bytesPerSecond: undefined },
    ],
  });
  assert.equal(rateAt(spec, at(28, 7, 59)), undefined, "yesterday's 18:00 entry still runs");
  assert.equal(rateAt(spec, at(28, 8)), 5 * MB, 'the boundary belongs to the new entry');
  assert.equal(rateAt(spec, at(28, 11, 59)), 5 * MB);
  assert.equal(rateAt(spec, at(28, 12)), 512 * KB);
  assert.equal(rateAt(spec, at(28, 23, 59)), undefined);
  assert.deepEqual(nextRateChange(spec, at(28, 7)), at(28, 8));
  assert.deepEqual(nextRateChange(spec, at(28, 8)), at(28, 12));
  assert.deepEqual(nextRateChange(spec, at(28, 20)), at(29, 8));
});

test('entries that repeat the rate in force are no change', () => {
  const spec = parseRateSpec('08:00,5MB/s 12:00,5MB/s 18:00,off');
  assert.deepEqual(nextRateChange(spec, at(28, 9)), at(28, 18));
  const flat = parseRateSpec('08:00,5MB/s 20:00,5M');
  assert.equal(rateAt(flat, at(28, 3)), 5 * MB);
  assert.equal(nextRateChange(flat, at(28, 3)), undefined);
  assert.equal(nextRateChange(parseRateSpec('20MB/s'), at(28, 3)), undefined);
  assert.equal(rateAt(parseRateSpec('20MB/s'), at(28, 3)), 20 * MB);
  assert.equal(rateAt(parseRateSpec(''), at(28, 3)), undefined);
});

test('byte sizes: binary units, a unit required except for 0', () => {
  assert.equal(parseByteSize('20GB'), 20 * 1024 * MB);
  assert.equal(parseByteSize('1.5k'), 1536);
  assert.equal(parseByteSize('0'), 0);
  assert.throws(() => parseByteSize('20'), { message: '20 has no unit (B, KB, MB, GB, TB; 1 KB = 1024 B), e.g. 20MB' });
  assert.throws(() => parseByteSize('20PB'), { message: '20PB: PB is not a unit (B, KB, MB, GB, TB; 1 KB = 1024 B)' });
  assert.throws(() => parseByteSize('-1GB'), /is not a size/);
  assert.throws(() => parseByteSize('99999999TB'), /too large/);
});
