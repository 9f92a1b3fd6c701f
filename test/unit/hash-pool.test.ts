// The hash pool (src/hashtable/hash-pool.ts) on real files: its workers hash, and they end
// soon after the last file (a quiet daemon keeps no isolate per core, issue 10), counted
// as the process's threads in /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HashPool } from '../../src/hashtable/hash-pool.ts';
import { waitFor } from '../helpers/daemon.ts';

const threads = () => Number(/^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

test('the workers hash, and end within about a second of the last file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-hashpool-'));
  const pool = new HashPool(2);
  try {
    const data = Buffer.alloc(5 * 1024 * 1024 + 7, 'reel');
    const file = path.join(dir, 'reel.mxf');
    await writeFile(file, data);
    const before = threads();
    const r = await pool.hash(file);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.sha1, createHash('sha1').update(data).digest('hex'));
    assert.ok(threads() >= before + 2, 'two workers were running');
    const t0 = performance.now();
    await waitFor(() => threads() <= before || undefined, { timeoutMs: 5_000, intervalMs: 50, what: 'the hashing workers to end' });
    assert.ok(performance.now() - t0 < 1_500, `the workers ended ${Math.round(performance.now() - t0)} ms after the last file`);
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
});
