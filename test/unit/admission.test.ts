// Admission of queued tasks (src/spool/admission.ts) on a real spool in a temp directory:
// a task held back by canStart (the disk reserve) is asked again and again and starts once
// the reason is gone; a slot limit of one runs two tasks one after the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Paths, RECEIVER_STATES, type ReceiverState } from '../../src/config/paths.ts';
import { TaskSpool } from '../../src/spool/task-spool.ts';
import { Admission, type Running } from '../../src/spool/admission.ts';
import { silentLogger, type Logger } from '../../src/log/logger.ts';
import { waitFor } from '../../tools/harness/daemon.ts';

async function withSpool(fn: (spool: TaskSpool<ReceiverState>, log: Logger) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bft2-admission-'));
  const log = silentLogger();
  const spool = new TaskSpool(new Paths(root), 'receiver', RECEIVER_STATES, log);
  try {
    await spool.ensureDirs();
    await fn(spool, log);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** What a pickup checked, in these tests: the task's DCP. */
type Checked = { dcp: string };

function admission(spool: TaskSpool<ReceiverState>, log: Logger, o: { limit?: number; holdRetryMs?: number; canStart?: (c: Checked) => Promise<string | undefined>; work?: (r: Running<Checked>) => Promise<void> }) {
  const started: string[] = [];
  const a = new Admission<ReceiverState, Checked, Running<Checked>>({
    spool,
    queue: 'queues',
    active: 'downloading',
    limit: () => o.limit ?? 1,
    log,
    holdRetryMs: o.holdRetryMs ?? 200,
    canStart: o.canStart,
    keyOf: (c) => c.dcp,
    load: async (task) => ({ dcp: task }),
    loadFailed: async () => {},
    create: (task, checked, fromQueue) => ({ task, checked, fromQueue, done: Promise.resolve() }),
    work: async (r) => {
      started.push(r.task);
      await o.work?.(r);
    },
  });
  return { a, started };
}

test('a task held back (no space) is asked again every holdRetryMs, as long as it takes, and starts once the reason is gone', async () => {
  await withSpool(async (spool, log) => {
    await writeFile(spool.file('queues', 'held'), '{}');
    let space = false;
    let asked = 0;
    const { a, started } = admission(spool, log, {
      holdRetryMs: 20,
      canStart: async () => {
        asked++;
        return space ? undefined : 'waiting for disk space';
      },
    });
    try {
      a.enqueue('held', { dcp: 'held' });
      await waitFor(async () => (a.held.get('held') ? true : undefined), { timeoutMs: 2000, what: 'the task held' });
      // Many holds in a row: a timer may wake a ms before Date.now() reaches the hold's
      // end (the loop's clock and the wall clock round apart); each such wake-up must
      // arm the next, or the task is held for good (it was, now and then).
      await waitFor(async () => (asked >= 50 ? true : undefined), { timeoutMs: 10_000, what: 'asked again 50 times while held' });
      assert.equal(started.length, 0, 'not started while held');
      space = true;
      await waitFor(async () => (started.includes('held') ? true : undefined), { timeoutMs: 3000, what: 'started once space returned' });
      assert.equal(await spool.hasTaskFile('downloading', 'held'), true, 'moved to downloading');
      assert.equal(a.held.has('held'), false, 'no longer reported as held');
    } finally {
      a.stop();
    }
  });
});

test('one slot: two queued tasks run one after the other, in arrival order', async () => {
  await withSpool(async (spool, log) => {
    for (const t of ['first', 'second']) await writeFile(spool.file('queues', t), '{}');
    let finishFirst!: () => void;
    const firstDone = new Promise<void>((r) => (finishFirst = r));
    const { a, started } = admission(spool, log, { work: (r) => (r.task === 'first' ? firstDone : Promise.resolve()) });
    try {
      a.enqueue('first', { dcp: 'first' });
      a.enqueue('second', { dcp: 'second' });
      await waitFor(async () => (started.length > 0 ? true : undefined), { timeoutMs: 2000, what: 'the first started' });
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(started, ['first'], 'the second waits for the slot');
      assert.equal(await spool.hasTaskFile('queues', 'second'), true);
      finishFirst();
      await waitFor(async () => (started.length === 2 ? true : undefined), { timeoutMs: 2000, what: 'the second started' });
      assert.deepEqual(started, ['first', 'second']);
    } finally {
      a.stop();
    }
  });
});

test('a task under an exclusive transition (a cancel, a restart) is not started meanwhile; it starts after, if still queued', async () => {
  await withSpool(async (spool, log) => {
    await writeFile(spool.file('queues', 'x'), '{}');
    const { a, started } = admission(spool, log, {});
    try {
      await a.exclusive('x', async () => {
        a.enqueue('x', { dcp: 'x' });
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(started, [], 'not started inside the transition');
      });
      await waitFor(async () => (started.includes('x') ? true : undefined), { timeoutMs: 2000, what: 'started after the transition' });
    } finally {
      a.stop();
    }
  });
});

test('two tasks of one DCP (the same key) never run at once, even with free slots', async () => {
  await withSpool(async (spool, log) => {
    for (const t of ['one', 'two']) await writeFile(spool.file('queues', t), '{}');
    let finishOne!: () => void;
    const oneDone = new Promise<void>((r) => (finishOne = r));
    const { a, started } = admission(spool, log, { limit: 5, work: (r) => (r.task === 'one' ? oneDone : Promise.resolve()) });
    try {
      a.enqueue('one', { dcp: 'film' });
      a.enqueue('two', { dcp: 'film' });
      await waitFor(async () => (started.length > 0 ? true : undefined), { timeoutMs: 2000, what: 'one started' });
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(started, ['one']);
      finishOne();
      await waitFor(async () => (started.length === 2 ? true : undefined), { timeoutMs: 2000, what: 'two started after one' });
    } finally {
      a.stop();
    }
  });
});
