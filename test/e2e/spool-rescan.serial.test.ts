// A spool directory whose changes inotify cannot see — here a tmpfs mounted over it after
// the watcher started, as a network share mounted late, or written from another host —
// still has its task files taken: the periodic listing finds them (config tuning.spoolrescan).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SpoolWatcher, type ReadyTaskFile } from '../../src/spool/spool-watcher.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { setTuning, tuningSchema } from '../../src/config/tuning.ts';

test('a task file the watcher gets no event for is taken by the periodic listing', async () => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'bft2-rescan-'));
  const dir = path.join(base, 'queues');
  await mkdir(dir);
  setTuning(tuningSchema.parse({ spoolrescan: '300ms' }));
  const ready: ReadyTaskFile[] = [];
  const watcher = new SpoolWatcher(dir, { ready: (t) => void ready.push(t), unparseable: () => {} }, silentLogger());
  setTuning(tuningSchema.parse(undefined));
  await watcher.start();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  try {
    await writeFile(path.join(dir, 'cfec-001-late.task.json'), JSON.stringify({ name: 'late' }));
    const t0 = Date.now();
    while (ready.length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ready.map((t) => [t.task, t.raw]), [['cfec-001-late', { name: 'late' }]]);
    // Taken once: later listings do not report it again.
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(ready.length, 1);
  } finally {
    await watcher.close();
    execFileSync('umount', ['-l', dir]);
    await rm(base, { recursive: true, force: true });
  }
});
