// The hash watcher on a real temp store: after every kind of change the table lists
// exactly the files present and `sha1sum -c` passes; renames re-read nothing (asserted
// from the hasher's own counters).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, appendFile, rm, rename, open, readFile, copyFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { Paths } from '../../src/config/paths.ts';
import { parseConfig } from '../../src/config/load-config.ts';
import { silentLogger, createLogger } from '../../src/log/logger.ts';
import { HashTableStore } from '../../src/hashtable/hash-table.ts';
import { HashWorkers } from '../../src/hashing/hash-workers.ts';
import { HashWatcher } from '../../src/hashtable/hash-watcher.ts';
import { walkStore } from '../../src/hashtable/store-walk.ts';
import { parseLine } from '../../src/hashtable/sha1sum-format.ts';
import { makeDcp } from '../../tools/harness/dcp-fixture.ts';
import { makeTempRoot, waitFor } from '../../tools/harness/daemon.ts';
import { setTuning, tuningSchema } from '../../src/config/tuning.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
let root: string;
let base: string;
let store: HashTableStore;
let pool: HashWorkers;
let watcher: HashWatcher;

before(async () => {
  setTuning(tuningSchema.parse({ hashstable: '700ms', hashdebounce: '100ms' }));
  root = await makeTempRoot();
  const paths = new Paths(root);
  const config = parseConfig({ servertype: 'sender' }, 'test');
  base = paths.basedata(config);
  await mkdir(path.join(base, 'cfec-001', 'dcps'), { recursive: true });
  const log = silentLogger();
  store = new HashTableStore(paths, log);
  pool = new HashWorkers();
  watcher = new HashWatcher(base, () => config, store, pool, log);
  await watcher.start();
});
after(async () => {
  await watcher.close();
  await pool.close();
  await rm(root, { recursive: true, force: true });
});

/**
 * Waits until the table lists exactly the covered files present and `sha1sum -c` passes
 * on it (the watcher needs a moment to see a change: until then the old line stands).
 */
async function settled(what: string): Promise<void> {
  let last = '';
  await waitFor<true>(
    async () => {
      await watcher.idle();
      const present = (await walkStore(base)).map((f) => f.path).sort();
      const text = await readFile(store.tableFile, 'utf8').catch(() => '');
      const listed = text.split('\n').filter(Boolean).map((l) => parseLine(l)!.path).sort();
      if (JSON.stringify(present) !== JSON.stringify(listed)) return (last = `listed ${listed.length}, present ${present.length}`), undefined;
      if (text.trim() === '') return true;
      const check = await run('sha1sum', ['-c', '--quiet', store.tableFile]).then(() => true, (e) => ((last = String(e.stdout)), false));
      return check || undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: `table matches the store after ${what}` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${last}`);
  });
}

const dcps = () => path.join(base, 'cfec-001', 'dcps');

test('copy, slow write, modify, delete and rename keep the table exact', async () => {
  await mkdir(path.join(dcps(), 'one'), { recursive: true });
  await writeFile(path.join(root, 'src.bin'), Buffer.alloc(3 * MB, 7));
  await copyFile(path.join(root, 'src.bin'), path.join(dcps(), 'one', 'copied.mxf'));
  await settled('copy');

  // Written in place in pieces, pauses shorter than the stable time: hashed once complete.
  const slow = path.join(dcps(), 'one', 'slow.mxf');
  const fh = await open(slow, 'w');
  for (let i = 0; i < 6; i++) {
    await fh.write(Buffer.alloc(256 * 1024, i));
    await new Promise((r) => setTimeout(r, 300));
  }
  await fh.close();
  await settled('slow write');

  await appendFile(path.join(dcps(), 'one', 'copied.mxf'), 'more');
  await settled('modify');

  await writeFile(path.join(dcps(), 'one', 'ASSETMAP.xml'), '<x/>');
  await writeFile(path.join(dcps(), 'one.torrent'), 'not covered');
  await writeFile(path.join(dcps(), 'one', '.hidden'), 'not covered');
  await settled('small files and excluded names');

  await rm(path.join(dcps(), 'one', 'ASSETMAP.xml'));
  await settled('delete');

  const hashedBefore = watcher.totals.hashed;
  await rename(path.join(dcps(), 'one', 'slow.mxf'), path.join(dcps(), 'one', 'renamed.mxf'));
  await settled('rename of a file');
  assert.equal(watcher.totals.hashed, hashedBefore, 'a renamed file is not re-hashed');
});

test('renaming a directory holding 500 MB updates the paths without re-hashing', async () => {
  await makeDcp(dcps(), 'big', [
    { file: 'video.mxf', size: 300 * MB },
    { file: 'audio.mxf', size: 200 * MB },
    { file: 'sub/CPL.xml', size: 4000 },
  ]);
  await settled('a 500 MB DCP arriving');
  const hashed = watcher.totals.hashed;
  const bytes = watcher.totals.hashedBytes;
  const moved = watcher.totals.moved;
  const t0 = Date.now();
  await rename(path.join(dcps(), 'big'), path.join(dcps(), 'big-renamed'));
  await settled('rename of a directory');
  const took = Date.now() - t0;
  assert.equal(watcher.totals.hashed, hashed, 'nothing re-hashed');
  assert.equal(watcher.totals.hashedBytes, bytes, 'no byte re-read');
  assert.equal(watcher.totals.moved - moved, 3, 'three entries moved');
  assert.ok(took < 10_000, `reflected in ${took} ms`);
  const text = await readFile(store.tableFile, 'utf8');
  assert.ok(text.includes('/big-renamed/video.mxf') && !text.includes('/big/video.mxf'));
});

test('a directory being recorded by its writer is not hashed meanwhile; what the writer did not record is hashed once it ends', async () => {
  const dir = path.join(dcps(), 'incoming');
  const file = path.join(dir, 'reel.mxf');
  const listed = async () => (await readFile(store.tableFile, 'utf8').catch(() => '')).includes(file);
  const passesBefore = watcher.totals.passes;
  await store.recording(dir, async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(file, Buffer.alloc(2 * MB, 3));
    // Past the debounce and the stable time: a pass has run and left the file alone.
    await waitFor(() => watcher.totals.passes > passesBefore || undefined, { timeoutMs: 5_000, what: 'a pass during the recording' });
    await new Promise((r) => setTimeout(r, 1_500));
    await watcher.idle();
    assert.equal(await listed(), false, 'hashed while its writer was recording it');
    assert.equal(watcher.totals.passes - passesBefore <= 2, true, `passes while recording: ${watcher.totals.passes - passesBefore} (no rescans every stable time)`);
  });
  // The writer recorded nothing (it failed): the pass after the recording hashes the file.
  await settled('a recording that recorded nothing');
  assert.ok(await listed());
});

test('a change of servertype rebuilds the table by itself, re-reading nothing unchanged', async () => {
  await watcher.close();
  const receiverConfig = parseConfig({ servertype: 'receiver', receiverstoreplan: 'B' }, 'test');
  watcher = new HashWatcher(base, () => receiverConfig, store, pool, silentLogger());
  await watcher.start();
  const index = JSON.parse(await readFile(store.indexFile, 'utf8'));
  assert.deepEqual(index.meta, { servertype: 'receiver', receiverstoreplan: 'B', basedatapath: '/data/dcp' });
  assert.equal(watcher.totals.hashed, 0, 'the rebuild took every unchanged hash from the index');
  await settled('the rebuild');
});

test('inotify out of watches (ENOSPC): the fix is logged and the watcher keeps the table current by polling', async () => {
  await watcher.close();
  const logFile = path.join(root, 'enospc.log');
  const log = createLogger(logFile);
  const config = parseConfig({ servertype: 'receiver', receiverstoreplan: 'B' }, 'test');
  watcher = new HashWatcher(base, () => config, store, pool, log);
  await watcher.start();
  // What chokidar reports when inotify_add_watch fails for lack of watches.
  const chokidarWatcher = (watcher as unknown as { watcher: { emit(e: string, err: Error): void } }).watcher;
  chokidarWatcher.emit('error', Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' }));
  await waitFor(async () => /fs\.inotify\.max_user_watches/.test(await readFile(logFile, 'utf8')) || undefined, { timeoutMs: 5000, what: 'the ENOSPC advice in the log' });
  await writeFile(path.join(dcps(), 'one', 'after-enospc.xml'), '<polled/>');
  await settled('a new file while polling');
});
