// The daemon-wide window scheduler, driven by a fake clock and fake timers: one timer for
// all subscribers, callbacks at the exact boundary, clock jumps and late timers noticed.
process.env.TZ = 'Asia/Shanghai';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindowScheduler } from '../../src/schedule/window-scheduler.ts';
import { parseWindows } from '../../src/schedule/windows.ts';

const at = (h: number, m = 0, day = 28) => new Date(2021, 4, day, h, m).getTime();
const HOUR = 3600_000;

/** A clock that only moves when told, and timers that fire when it passes them. */
class FakeClock {
  nowMs: number;
  private timers = new Map<number, { due: number; fire: () => void }>();
  private nextId = 1;
  constructor(start: number) {
    this.nowMs = start;
  }
  now = () => this.nowMs;
  setTimer = (fire: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.set(id, { due: this.nowMs + ms, fire });
    return id;
  };
  clearTimer = (id: unknown) => {
    this.timers.delete(id as number);
  };
  /** The wall clock steps (NTP, suspend); timers measure elapsed time, so they move along. */
  jump(toMs: number): void {
    const delta = toMs - this.nowMs;
    this.nowMs = toMs;
    for (const t of this.timers.values()) t.due += delta;
  }
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.due - this.nowMs);
  }
  /** Moves to `target`, firing each due timer at its own instant. */
  advanceTo(target: number): void {
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.due <= target).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.nowMs = Math.max(this.nowMs, due[1].due);
      due[1].fire();
    }
    this.nowMs = target;
  }
}

function setup(start: number, recheckMs = 24 * HOUR) {
  const clock = new FakeClock(start);
  const events: string[] = [];
  const scheduler = new WindowScheduler({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer, recheckMs });
  const listen = (key: string) => (open: boolean) => events.push(`${new Date(clock.nowMs).toTimeString().slice(0, 8)} ${key} ${open ? 'open' : 'closed'}`);
  return { clock, events, scheduler, listen };
}

test('one timer for all subscribers, armed for the earliest transition, firing exactly there', () => {
  const { clock, events, scheduler, listen } = setup(at(7));
  assert.equal(scheduler.subscribe('a/obs', parseWindows('08:00-18:00'), listen('a/obs')), false);
  assert.equal(scheduler.subscribe('b/cdn', parseWindows('12:00-13:00'), listen('b/cdn')), false);
  assert.equal(scheduler.subscribe('c/bt', parseWindows('06:00-12:30'), listen('c/bt')), true);
  assert.deepEqual(clock.pending(), [HOUR]);
  clock.advanceTo(at(19));
  assert.deepEqual(events, ['08:00:00 a/obs open', '12:00:00 b/cdn open', '12:30:00 c/bt closed', '13:00:00 b/cdn closed', '18:00:00 a/obs closed']);
  assert.deepEqual(clock.pending(), [11 * HOUR], 'c/bt reopens at 06:00 tomorrow');
  assert.equal(scheduler.isOpen('a/obs'), false);
});

test('the timer never sleeps longer than the recheck period', () => {
  const { clock, scheduler, listen } = setup(at(7), 30_000);
  scheduler.subscribe('a', parseWindows('22:00-05:00'), listen('a'));
  assert.deepEqual(clock.pending(), [30_000]);
  clock.advanceTo(at(21, 59) + 45_000);
  assert.deepEqual(clock.pending(), [15_000], 'the last sleep ends at the opening itself');
});

test('a wall-clock jump is noticed at the next recheck, once per real change', () => {
  const { clock, events, scheduler, listen } = setup(at(7), 30_000);
  scheduler.subscribe('a', parseWindows('08:00-18:00'), listen('a'));
  scheduler.subscribe('b', parseWindows('09:00-10:00'), listen('b'));
  clock.jump(at(8, 30)); // NTP step: no timer fired on the way
  clock.advanceTo(at(8, 31));
  assert.deepEqual(events, ['08:30:30 a open']);
  // Suspended across the whole of b's window: b's state is the same, so no callback.
  clock.jump(at(10, 30));
  clock.advanceTo(at(10, 31));
  assert.deepEqual(events, ['08:30:30 a open']);
  clock.jump(at(7)); // and backwards
  clock.advanceTo(at(7, 1));
  assert.deepEqual(events, ['08:30:30 a open', '07:00:30 a closed']);
});

test('unsubscribe, replace, close', () => {
  const { clock, events, scheduler, listen } = setup(at(7));
  scheduler.subscribe('a', parseWindows('08:00-18:00'), listen('a'));
  scheduler.subscribe('b', parseWindows('09:00-10:00'), listen('b'));
  scheduler.unsubscribe('a');
  assert.deepEqual(clock.pending(), [2 * HOUR]);
  // A reload gives b other windows: its timer follows.
  assert.equal(scheduler.subscribe('b', parseWindows('07:30-08:00'), listen('b2')), false);
  assert.deepEqual(clock.pending(), [HOUR / 2]);
  clock.advanceTo(at(7, 45));
  assert.deepEqual(events, ['07:30:00 b2 open']);
  scheduler.unsubscribe('b');
  assert.deepEqual(clock.pending(), [], 'no subscriber, no timer');
  scheduler.subscribe('c', parseWindows('08:00-09:00'), listen('c'));
  scheduler.close();
  assert.deepEqual(clock.pending(), []);
  assert.throws(() => scheduler.subscribe('d', parseWindows('08:00-09:00'), listen('d')), /closed/);
});

test('windows that never change arm no timer', () => {
  const { clock, scheduler, listen } = setup(at(7), 30_000);
  assert.equal(scheduler.subscribe('all-day', parseWindows('00:00-23:59'), listen('x')), true);
  assert.equal(scheduler.subscribe('none', [], listen('y')), false);
  assert.deepEqual(clock.pending(), []);
});

test('a subscriber that throws does not silence the others', () => {
  const clock = new FakeClock(at(7));
  const failures: string[] = [];
  const told: boolean[] = [];
  const scheduler = new WindowScheduler({
    now: clock.now,
    setTimer: clock.setTimer,
    clearTimer: clock.clearTimer,
    onError: (err, key) => failures.push(`${key}: ${(err as Error).message}`),
  });
  scheduler.subscribe('bad', parseWindows('08:00-09:00'), () => {
    throw new Error('boom');
  });
  scheduler.subscribe('good', parseWindows('08:00-09:00'), (open) => told.push(open));
  clock.advanceTo(at(9, 30));
  assert.deepEqual(failures, ['bad: boom', 'bad: boom']);
  assert.deepEqual(told, [true, false]);
});

test('a callback may unsubscribe another subscriber before it is told', () => {
  const { clock, events, scheduler, listen } = setup(at(7));
  scheduler.subscribe('first', parseWindows('08:00-09:00'), () => scheduler.unsubscribe('second'));
  scheduler.subscribe('second', parseWindows('08:00-09:00'), listen('second'));
  clock.advanceTo(at(10));
  assert.deepEqual(events, []);
});

test('a timer that fires late reports the state of the clock, not of the plan', () => {
  const { clock, events, scheduler, listen } = setup(at(7));
  scheduler.subscribe('a', parseWindows('08:00-08:03'), listen('a'));
  scheduler.subscribe('b', parseWindows('08:00-09:00'), listen('b'));
  clock.nowMs = at(8, 5); // the event loop was blocked past 08:00 and past a's whole window
  clock.advanceTo(at(8, 5));
  assert.deepEqual(events, ['08:05:00 b open']);
  assert.deepEqual(clock.pending(), [55 * 60_000]);
});
