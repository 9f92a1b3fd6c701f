// showschedules: the seed's example reproduced line for line, then the cases the example
// does not show (an open window, fulltime, several windows, the zone abbreviations).
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatShowSchedules, type ScheduledTask } from '../../src/schedule/showschedules.ts';
import { formatGoTime, parsePosixTzRule } from '../../src/schedule/zone-name.ts';

const none = { windows: '', hasShare: false, percentDone: 0 };

const xiaofang7: ScheduledTask = {
  task: 'cfec-001-xiaofang7',
  ratio: '0:1:1',
  policy: 'priortime',
  methods: { bt: none, obs: { windows: '22:34-22:37', hasShare: true, percentDone: 0 }, cdn: { windows: '22:34-22:37', hasShare: true, percentDone: 0 } },
};
const xiaofang9: ScheduledTask = {
  task: 'cfec-001-xiaofang9',
  ratio: '0:0:1',
  policy: 'priortime',
  methods: { bt: none, obs: { windows: '22:34-22:37', hasShare: false, percentDone: 0 }, cdn: { windows: '22:34-22:37', hasShare: true, percentDone: 0 } },
};

test("the seed's example (seed §4.3.13), line for line", () => {
  const text = formatShowSchedules(new Date(2021, 4, 28, 22, 33, 57), [xiaofang7, xiaofang9]);
  assert.equal(
    text,
    `Now: 2021-05-28 22:33:57
Scheduls by Methods:
bt schedules
bt next runtime: no schedule
cdn schedules
cfec-001-xiaofang7 priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
cfec-001-xiaofang9 priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
cdn next runtime:2021-05-28 22:34:00
obs schedules
cfec-001-xiaofang7 priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
obs next runtime:2021-05-28 22:34:00
Schedules by TaskNames:
cfec-001-xiaofang7
bt priortime: none
cdn priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
obs priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
cfec-001-xiaofang9
bt priortime: none
cdn priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
obs priortime: start: 2021-05-28 22:34:00 +0800 CST stop: 2021-05-28 22:37:00 +0800 CST
All Current Downloading:
cfec-001-xiaofang7 bt:obs:cdn = 0:1:1 priortime obs: 0 22:34-22:37 cdn: 0 22:34-22:37
cfec-001-xiaofang9 bt:obs:cdn = 0:0:1 priortime cdn: 0 22:34-22:37
`,
  );
});

test('an open window, several windows, a fulltime task, nothing under way', () => {
  const night: ScheduledTask = {
    task: 'night',
    ratio: '2:1:0',
    policy: 'priortime',
    methods: {
      bt: { windows: '00:00-06:00, 22:00-23:59', hasShare: true, percentDone: 99.9 },
      obs: { windows: '23:00-23:30', hasShare: true, percentDone: 100 },
      cdn: { windows: '08:00-18:00', hasShare: false, percentDone: 0 },
    },
  };
  const always: ScheduledTask = {
    task: 'always',
    ratio: '1:0:0',
    policy: 'fulltime',
    methods: { bt: { windows: '', hasShare: true, percentDone: 42.5 }, obs: none, cdn: none },
  };
  const text = formatShowSchedules(new Date(2021, 4, 28, 23, 10), [night, always]);
  assert.equal(
    text,
    `Now: 2021-05-28 23:10:00
Scheduls by Methods:
bt schedules
night priortime: start: 2021-05-28 22:00:00 +0800 CST stop: 2021-05-29 06:00:00 +0800 CST
bt next runtime:2021-05-28 23:10:00
cdn schedules
cdn next runtime: no schedule
obs schedules
night priortime: start: 2021-05-28 23:00:00 +0800 CST stop: 2021-05-28 23:30:00 +0800 CST
obs next runtime:2021-05-28 23:10:00
Schedules by TaskNames:
night
bt priortime: start: 2021-05-28 22:00:00 +0800 CST stop: 2021-05-29 06:00:00 +0800 CST
cdn priortime: start: 2021-05-29 08:00:00 +0800 CST stop: 2021-05-29 18:00:00 +0800 CST
obs priortime: start: 2021-05-28 23:00:00 +0800 CST stop: 2021-05-28 23:30:00 +0800 CST
always
bt priortime: none
cdn priortime: none
obs priortime: none
All Current Downloading:
night bt:obs:cdn = 2:1:0 priortime bt: 99 00:00-06:00,22:00-23:59 obs: 100 23:00-23:30
always bt:obs:cdn = 1:0:0 fulltime bt: 42 none
`,
  );
  assert.equal(
    formatShowSchedules(new Date(2021, 4, 28, 9), []),
    'Now: 2021-05-28 09:00:00\nScheduls by Methods:\nbt schedules\nbt next runtime: no schedule\ncdn schedules\ncdn next runtime: no schedule\nobs schedules\nobs next runtime: no schedule\nSchedules by TaskNames:\nAll Current Downloading:\n',
  );
});

test("Go's time layout: the offset and the tz database's abbreviation", () => {
  const summer = Date.UTC(2021, 4, 28, 14, 34);
  const winter = Date.UTC(2021, 0, 28, 14, 34);
  const cases: [string, string, string][] = [
    ['Asia/Shanghai', '2021-05-28 22:34:00 +0800 CST', '2021-01-28 22:34:00 +0800 CST'],
    ['Europe/Berlin', '2021-05-28 16:34:00 +0200 CEST', '2021-01-28 15:34:00 +0100 CET'],
    ['America/Sao_Paulo', '2021-05-28 11:34:00 -0300 -03', '2021-01-28 11:34:00 -0300 -03'],
    ['Asia/Kolkata', '2021-05-28 20:04:00 +0530 IST', '2021-01-28 20:04:00 +0530 IST'],
    ['UTC', '2021-05-28 14:34:00 +0000 UTC', '2021-01-28 14:34:00 +0000 UTC'],
    ['CST-8', '2021-05-28 22:34:00 +0800 CST', '2021-01-28 22:34:00 +0800 CST'],
  ];
  try {
    for (const [tz, s, w] of cases) {
      process.env.TZ = tz;
      assert.equal(formatGoTime(new Date(summer)), s, tz);
      assert.equal(formatGoTime(new Date(winter)), w, tz);
    }
  } finally {
    process.env.TZ = 'Asia/Shanghai';
  }
  assert.deepEqual(parsePosixTzRule('<+1030>-10:30<+11>-11,M10.1.0,M4.1.0'), { std: { name: '+1030', east: 630 }, dst: { name: '+11', east: 660 } });
  assert.deepEqual(parsePosixTzRule('EST5EDT,M3.2.0,M11.1.0'), { std: { name: 'EST', east: -300 }, dst: { name: 'EDT', east: -240 } });
  assert.equal(parsePosixTzRule('not a rule'), undefined);
});
