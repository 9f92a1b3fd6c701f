// Transfer windows on the DST days of Europe/Berlin (2024-03-31: 02:00 → 03:00, a 23-hour
// day; 2024-10-27: 03:00 → 02:00, a 25-hour day). Node honours TZ set at run time on
// Linux; the first test proves it took effect, so the others cannot pass by accident.
process.env.TZ = 'Europe/Berlin';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWindows, isOpen, nextOpening, nextClosing, openMsBetween, openTimeFinish } from '../../src/schedule/windows.ts';

const HOUR = 3600_000;
const utc = (iso: string) => new Date(iso);

test('the zone is Europe/Berlin', () => {
  assert.equal(new Date(2024, 0, 15).getTimezoneOffset(), -60);
  assert.equal(new Date(2024, 6, 15).getTimezoneOffset(), -120);
});

test('spring: a night window is an hour shorter, and the next day starts at 22:00 on the clock', () => {
  const w = parseWindows('22:00-06:00');
  assert.deepEqual(nextClosing(w, new Date(2024, 2, 30, 23)), utc('2024-03-31T04:00:00Z'));
  assert.equal(openMsBetween(w, new Date(2024, 2, 30, 12), new Date(2024, 2, 31, 12)), 7 * HOUR);
  const evening = parseWindows('22:00-23:00');
  // 24 h after 2024-03-30 22:00 CET would be 23:00 CEST: the window must open at 22:00 CEST.
  assert.deepEqual(nextOpening(evening, new Date(2024, 2, 30, 23, 30)), utc('2024-03-31T20:00:00Z'));
});

test('spring: a local time in the skipped hour moves forward by that hour', () => {
  const w = parseWindows('02:15-02:45');
  assert.deepEqual(nextOpening(w, new Date(2024, 2, 31, 0)), utc('2024-03-31T01:15:00Z'));
  assert.deepEqual(nextClosing(w, new Date(2024, 2, 31, 0)), utc('2024-03-31T01:45:00Z'));
  // A range ending exactly when the clock jumps does not exist that day.
  const gone = parseWindows('02:30-03:00');
  assert.deepEqual(nextOpening(gone, new Date(2024, 2, 31, 0)), utc('2024-04-01T00:30:00Z'));
});

test('autumn: a night window is an hour longer, the ETA counts it', () => {
  const w = parseWindows('22:00-06:00');
  assert.equal(openMsBetween(w, new Date(2024, 9, 26, 12), new Date(2024, 9, 27, 12)), 9 * HOUR);
  assert.deepEqual(nextClosing(w, new Date(2024, 9, 26, 23)), utc('2024-10-27T05:00:00Z'));
  assert.equal(isOpen(w, utc('2024-10-27T04:59:59Z')), true);
  assert.equal(isOpen(w, utc('2024-10-27T05:00:00Z')), false);
  // 9 open hours from 22:00 fill the long night exactly.
  assert.deepEqual(openTimeFinish(w, new Date(2024, 9, 26, 22), 9 * HOUR), utc('2024-10-27T05:00:00Z'));
  assert.deepEqual(openTimeFinish(w, new Date(2024, 9, 26, 22), 9 * HOUR + 1), new Date(new Date(2024, 9, 27, 22).getTime() + 1));
});
