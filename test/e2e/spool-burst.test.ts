// Many task files dropped into a receiver's `queues` at once (issue 10): every one is taken
// once, downloaded once and stored — none lost, none doubled. No timing is asserted here;
// bench/run spool measures the pickup time and soaks 1,000 tasks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, makeCdnTask } from '../../tools/harness/dcp-fixture.ts';
import { startTestOrigin } from '../helpers/test-origin.ts';
import { startDaemon, makeTempRoot, waitFor } from '../../tools/harness/daemon.ts';

const COUNT = 200;

test(`${COUNT} task files renamed into queues at once: each taken once, downloaded once, stored; none left behind`, async () => {
  const base = await makeTempRoot();
  const dcp = await makeDcp(path.join(base, 'origin', 'cfec-001', 'dcps'), 'tiny', [{ file: 'tiny.mxf', size: 4096 }]);
  const origin = await startTestOrigin(path.join(base, 'origin'));
  const d = await startDaemon({ root: path.join(base, 'root'), config: { downloadingnum: 5 }, tuning: { retrydelay: '200ms' } });
  try {
    const names = Array.from({ length: COUNT }, (_, i) => `burst-${String(i + 1).padStart(3, '0')}`);
    // Written under names the spool ignores, then renamed in as fast as the disk allows.
    const staging = path.join(d.paths.queues, '.staging');
    await mkdir(staging);
    for (const n of names) {
      const task = makeCdnTask({ name: n, basesubdir: 'cfec-001', cdnUrl: `${origin.url}/dcp/cfec-001/dcps/tiny`, filelist: dcp.filelist });
      await writeFile(path.join(staging, `cfec-001-${n}.task.json`), JSON.stringify(task));
    }
    for (const n of names) await rename(path.join(staging, `cfec-001-${n}.task.json`), path.join(d.paths.queues, `cfec-001-${n}.task.json`));
    await rm(staging, { recursive: true });

    const inDownloaded = async () => (await readdir(d.paths.downloaded)).filter((f) => f.startsWith('cfec-001-burst-') && f.endsWith('.task.json'));
    await waitFor(async () => (await inDownloaded()).length === COUNT || undefined, { timeoutMs: 300_000, intervalMs: 250, what: `${COUNT} tasks downloaded\n${d.output().slice(-3000)}` });

    assert.deepEqual((await inDownloaded()).sort(), names.map((n) => `cfec-001-${n}.task.json`));
    for (const state of [d.paths.queues, d.paths.downloading, d.paths.history]) {
      const left = (await readdir(state)).filter((f) => f.startsWith('cfec-001-burst-'));
      assert.deepEqual(left, [], `nothing of the burst left in ${path.basename(state)}`);
    }
    for (const n of names) await stat(path.join(d.paths.dcp, `${n}.finished`));
    const log = await readFile(d.paths.log, 'utf8');
    for (const n of names) {
      assert.equal(log.match(new RegExp(`task cfec-001-${n} queued`, 'g'))?.length, 1, `${n} queued once`);
      assert.equal(log.match(new RegExp(`downloaded cfec-001-${n}:`, 'g'))?.length, 1, `${n} downloaded once`);
    }
  } finally {
    await d.stop();
    await origin.close();
    await rm(base, { recursive: true, force: true });
  }
});
