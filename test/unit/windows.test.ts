// Transfer windows: syntax, open/closed at fixed instants, next edges, open-time ETA.
// Pinned to Asia/Shanghai (the seed's zone, +08:00, no DST) so that an accidental use of
// UTC getters fails here; DST days are in windows-dst.test.ts.
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseWindows,
  windowProblem,
  isOpen,
  nextOpening,
  nextClosing,
  currentOrNextWindow,
  openMsBetween,
  openTimeFinish,
  coversWholeDay,
} from '../../src/schedule/windows.ts';

const at = (day: number, h: number, m = 0, s = 0, ms = 0) => new Date(2021, 4, day, h, m, s, ms); // May 2021
const HOUR = 3600_000;

test('the zone is pinned', () => {
  assert.equal(at(28, 0).getTimezoneOffset(), -480);
});

test('parse: crossing midnight, 24:00, 23:59 as the end of the day, several windows', () => {
  assert.deepEqual(parseWindows('18:00-05:00'), [{ startMinute: 1080, endMinute: 300, text: '18:00-05:00' }]);
  assert.deepEqual(parseWindows('10:00-24:00'), [{ startMinute: 600, endMinute: 1440, text: '10:00-24:00' }]);
  assert.deepEqual(parseWindows('00:00-23:59'), [{ startMinute: 0, endMinute: 1440, text: '00:00-23:59' }]);
  assert.deepEqual(
    parseWindows(' 00:00-06:00 , 22:00-23:59 ').map((w) => w.text),
    ['00:00-06:00', '22:00-23:59'],
  );
  assert.deepEqual(parseWindows(''), []);
  assert.deepEqual(parseWindows('  '), []);
});

test('parse: each problem named', () => {
  assert.throws(() => parseWindows('25:99-xx'), {
    message: '25:99-xx: hour 25 is out of range, minute 99 is out of range, xx is not HH:MM (must be HH:MM-HH:MM[,HH:MM-HH:MM...])',
  });
  assert.throws(() => parseWindows('24:00-05:00'), { message: '24:00-05:00: 24:00 is only allowed as an end' });
  assert.throws(() => parseWindows('10:00-24:30'), { message: '10:00-24:30: 24:30 is out of range (24:00 is the latest)' });
  assert.throws(() => parseWindows('10:00-10:00'), { message: '10:00-10:00: start and end are the same' });
  assert.throws(() => parseWindows('08:00'), { message: '08:00: must be HH:MM-HH:MM[,HH:MM-HH:MM...]' });
  assert.throws(() => parseWindows('8:00-9:00'), /8:00 is not HH:MM/);
  assert.throws(() => parseWindows('00:00-06:00,'), { message: 'an empty window (a stray comma): must be HH:MM-HH:MM[,HH:MM-HH:MM...]' });
  assert.throws(() => parseWindows('01:00-01:00,02:00-03:00,04:00-29:00'), {
    message: '01:00-01:00: start and end are the same; 04:00-29:00: hour 29 is out of range',
  });
  assert.equal(windowProblem('18:00-05:00'), undefined);
  assert.equal(windowProblem('18:00-18:00'), '18:00-18:00: start and end are the same');
});

test('a window crossing midnight: the start is open, the end is closed', () => {
  const w = parseWindows('18:00-05:00');
  assert.equal(isOpen(w, at(28, 17, 59, 59, 999)), false);
  assert.equal(isOpen(w, at(28, 18)), true);
  assert.equal(isOpen(w, at(28, 23, 30)), true);
  assert.equal(isOpen(w, at(29, 4, 59, 59, 999)), true);
  assert.equal(isOpen(w, at(29, 5)), false);
  assert.deepEqual(nextClosing(w, at(28, 23)), at(29, 5));
  assert.deepEqual(nextOpening(w, at(29, 5)), at(29, 18));
  assert.deepEqual(currentOrNextWindow(w, at(29, 3)), { start: at(28, 18), stop: at(29, 5) });
});

test('24:00 and 23:59 both end at midnight, without a one-minute gap', () => {
  for (const spec of ['22:00-24:00', '22:00-23:59']) {
    const w = parseWindows(spec);
    assert.equal(isOpen(w, at(28, 23, 59, 30)), true, spec);
    assert.equal(isOpen(w, at(29, 0)), false, spec);
    assert.deepEqual(nextClosing(w, at(28, 23)), at(29, 0), spec);
  }
  const joined = parseWindows('23:00-23:59,00:00-01:00');
  assert.equal(isOpen(joined, at(28, 23, 59, 30)), true);
  assert.deepEqual(nextClosing(joined, at(28, 23, 30)), at(29, 1));
});

test('all day: never closes, whichever way it is written', () => {
  for (const spec of ['00:00-23:59', '00:00-24:00', '00:00-12:00,12:00-24:00', '06:00-05:00,04:00-07:00']) {
    const w = parseWindows(spec);
    assert.equal(coversWholeDay(w), true, spec);
    assert.equal(isOpen(w, at(28, 23, 59, 59)), true, spec);
    assert.equal(nextClosing(w, at(28, 12)), undefined, spec);
    assert.deepEqual(nextOpening(w, at(28, 12)), at(28, 12), spec);
    assert.equal(openMsBetween(w, at(28, 12), at(29, 12)), 24 * HOUR, spec);
  }
  assert.equal(coversWholeDay(parseWindows('00:00-23:58')), false);
  assert.deepEqual(currentOrNextWindow(parseWindows('00:00-23:59'), at(28, 22, 33)), { start: at(28, 0), stop: at(29, 0) });
});

test('several windows: the next opening, the merged window across midnight', () => {
  const w = parseWindows('00:00-06:00,22:00-23:59');
  assert.deepEqual(nextOpening(w, at(28, 12)), at(28, 22));
  assert.equal(isOpen(w, at(28, 5, 59)), true);
  assert.equal(isOpen(w, at(28, 6)), false);
  assert.deepEqual(nextOpening(w, at(28, 6)), at(28, 22));
  assert.deepEqual(currentOrNextWindow(w, at(28, 23)), { start: at(28, 22), stop: at(29, 6) });
  assert.deepEqual(currentOrNextWindow(w, at(29, 3)), { start: at(28, 22), stop: at(29, 6) });
  assert.deepEqual(currentOrNextWindow(w, at(29, 12)), { start: at(29, 22), stop: at(30, 6) });
  assert.deepEqual(nextClosing(w, at(29, 12)), at(30, 6), 'closed now: the next window closes then');
});

test('nextOpening returns the very instant given when open', () => {
  const w = parseWindows('08:00-18:00');
  const now = at(28, 9, 15, 7, 123);
  assert.equal(nextOpening(w, now), now);
  assert.deepEqual(nextOpening(w, at(28, 18)), at(29, 8));
});

test('overlapping windows merge', () => {
  const w = parseWindows('08:00-12:00,10:00-14:00');
  assert.deepEqual(nextClosing(w, at(28, 9)), at(28, 14));
  assert.equal(openMsBetween(w, at(28, 0), at(29, 0)), 6 * HOUR);
  assert.deepEqual(currentOrNextWindow(w, at(28, 13)), { start: at(28, 8), stop: at(28, 14) });
});

test('open time between two instants counts only open hours', () => {
  const w = parseWindows('22:00-02:00');
  assert.equal(openMsBetween(w, at(28, 21), at(28, 21)), 0);
  assert.equal(openMsBetween(w, at(28, 23), at(28, 21)), 0);
  assert.equal(openMsBetween(w, at(28, 21), at(29, 1)), 3 * HOUR);
  assert.equal(openMsBetween(w, at(28, 0), at(31, 0)), 2 * HOUR + 4 * HOUR + 4 * HOUR + 2 * HOUR);
});

test('the ETA that counts closed hours', () => {
  const w = parseWindows('22:00-02:00');
  assert.deepEqual(openTimeFinish(w, at(28, 21), 5 * HOUR), at(29, 23));
  assert.deepEqual(openTimeFinish(w, at(28, 23), HOUR), at(29, 0));
  assert.deepEqual(openTimeFinish(w, at(28, 23), 3 * HOUR), at(29, 2), 'ends exactly as the window closes');
  assert.deepEqual(openTimeFinish(w, at(28, 23), 3 * HOUR + 1), new Date(at(29, 22).getTime() + 1));
  assert.deepEqual(openTimeFinish(w, at(28, 12), 0), at(28, 12));
  assert.equal(openMsBetween(w, at(28, 21), openTimeFinish(w, at(28, 21), 9 * HOUR)), 9 * HOUR);
  assert.deepEqual(openTimeFinish(parseWindows('00:00-24:00'), at(28, 21), 5 * HOUR), at(29, 2));
});

test('no windows: never open, and asking for edges is a caller error', () => {
  assert.equal(isOpen([], at(28, 12)), false);
  assert.equal(openMsBetween([], at(28, 0), at(29, 0)), 0);
  assert.throws(() => nextOpening([], at(28, 12)), /no transfer window given/);
  assert.throws(() => openTimeFinish([], at(28, 12), 1), /no transfer window given/);
});
