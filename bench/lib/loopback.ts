// The loopback world the receive and memory benches share (bench/receive.ts, memory.ts):
// s3rver in a process of its own (and a DCP put into its store without a copy), a sender
// publishing a DCP of its store with gentask, a fresh receiver daemon that finds its OBS
// keys in obsbuckets.txt, a task's torrent, and aria2c as a BitTorrent peer of the
// sender's seed.
// Owns the processes and temp roots it registers with the bench's Cleanup; touches
// nothing else.
import { spawn, type ChildProcess } from 'node:child_process';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { FileEntry } from '../../tools/harness/dcp-fixture.ts';
import { objectKey, parseObsUrl } from '../../src/transfer/obs/obs-url.ts';
import { freePort, startDaemon, waitFor, type Daemon } from '../../tools/harness/daemon.ts';
import { REPO, runCommand, type Cleanup } from './common.ts';

export const BASESUBDIR = 'cfec-001';

/** A task as gentask wrote it (SPEC §4), with the fields the benches read. */
export type Task = Record<string, unknown> & { name: string; basesubdir: string; filelist: FileEntry[]; obs: { url: string }; bt: { url: string }; cdn: { url: string } };

export interface S3 {
  endpoint: string;
  ak: string;
  sk: string;
  /** s3rver's storage directory (its filesystem store: `<dir>/<bucket>/<key>._S3rver_object`). */
  dir: string;
  proc: ChildProcess;
}

/** s3rver in a process of its own (tools/harness/s3rver-child.ts), so its CPU is not the driver's. */
export async function startS3(cleanup: Cleanup): Promise<S3> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'tools/harness/s3rver-child.ts'), BASESUBDIR], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! });
  const ready = await new Promise<string>((resolve, reject) => {
    lines.on('line', (l) => l.startsWith('READY ') && resolve(l.slice(6)));
    proc.once('exit', (c) => reject(new Error(`s3rver exited with ${c}`)));
  });
  const { endpoint, ak, sk, dir } = JSON.parse(ready) as { endpoint: string; ak: string; sk: string; dir: string };
  cleanup.onStop(async () => {
    proc.stdin!.end();
    await new Promise((r) => proc.once('exit', r));
  });
  return { endpoint, ak, sk, dir, proc };
}

const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

/**
 * Puts a task's files (in `dcpDir`) into s3rver's store as hard links, not copies, at their
 * object keys: s3rver 3.7's filesystem layout, `<dir>/<bucket>/<key>._S3rver_object` beside
 * its `.md5` (the ETag; here the file's sha1 cut to 32 digits: s3rver only reports it, and
 * the OBS source only compares it between ranges). A HEAD of each object checks that
 * s3rver serves it whole, so a changed layout fails here, not as a download error.
 */
export async function placeObjects(s3: { dir: string; endpoint: string }, task: Task, dcpDir: string): Promise<void> {
  const { bucket, prefix } = parseObsUrl(task.obs.url);
  for (const f of task.filelist) {
    const key = objectKey(prefix, f.file);
    const parts = key.split('/');
    const object = path.join(s3.dir, bucket, ...parts.slice(0, -1), `${parts[parts.length - 1]}._S3rver_object`);
    await mkdir(path.dirname(object), { recursive: true });
    await rm(object, { force: true });
    await link(path.join(dcpDir, ...f.file.split('/')), object);
    await writeFile(`${object}.md5`, f.hash.slice(0, 32));
    const res = await fetch(`${s3.endpoint}/${bucket}/${encodePath(key)}`, { method: 'HEAD' });
    const length = Number(res.headers.get('content-length'));
    if (!res.ok || length !== f.size) throw new Error(`s3rver answers ${res.status} with ${length} bytes for ${key} (placed ${f.size}): its filesystem layout is not the one this bench knows`);
  }
}

/** The directory a sender's DCP `name` lives in: `<root>/data/dcp/<basesubdir>/dcps/<name>`. */
export const senderDcpDir = (sender: Daemon, name: string): string => path.join(sender.root, 'data/dcp', BASESUBDIR, 'dcps', name);

/**
 * Publishes the DCP `name` already in the sender's store with gentask (`split` is its
 * bt:obs:cdn) and waits until the sender says it is ready; returns the uploaded task.
 */
export async function publishDcp(sender: Daemon, name: string, split: string, timeoutMs = 600_000): Promise<Task> {
  const taskName = `${BASESUBDIR}-${name}.task.json`;
  const taskfile = path.join(sender.root, 'data/sender/tmp', taskName);
  const g = await sender.api('gentask', { dcppath: senderDcpDir(sender, name), taskfile, basesubdir: BASESUBDIR, btobscdn: split, policy: 'fulltime' });
  if (g.return_status !== 'true') throw new Error(`gentask ${name}: ${JSON.stringify(g)}`);
  await waitFor(async () => (await sender.api('uploadprogress', { taskfile: taskName })).return_content.status === 'ready' || undefined, {
    timeoutMs,
    intervalMs: 200,
    what: `sender ready with ${name}`,
  });
  return JSON.parse(await readFile(path.join(sender.root, 'data/sender/uploaded', taskName), 'utf8')) as Task;
}

/** A fresh receiver under `root`; its OBS keys in obsbuckets.txt, as in production. */
export async function startReceiver(root: string, s3: S3, config: Record<string, unknown> = {}, env?: Record<string, string>): Promise<Daemon> {
  await mkdir(path.join(root, 'etc/bft2'), { recursive: true });
  await writeFile(path.join(root, 'etc/bft2/obsbuckets.txt'), `# bucket ak sk endpoint\n${BASESUBDIR} ${s3.ak} ${s3.sk} ${s3.endpoint}\n`);
  return startDaemon({ root, config: { obssignature: 'v2', obspathstyle: true, ...config }, env });
}

/** Downloads a task's .torrent (its `bt.url`, served by the sender's origin) to `file`. */
export async function fetchTorrent(task: Task, file: string): Promise<string> {
  if ((await runCommand('curl', ['-s', '--fail', '-o', file, task.bt.url])) !== 0) throw new Error(`cannot fetch ${task.bt.url}`);
  return file;
}

/** aria2c fetching a torrent from the swarm (the sender's seed), then exiting (no seeding); `extra` options before the torrent. */
export async function aria2cArgs(dir: string, torrent: string, extra: string[] = []): Promise<string[]> {
  return [
    '-q',
    `--dir=${dir}`,
    '--seed-time=0',
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--file-allocation=none',
    '--bt-hash-check-seed=false',
    '--allow-overwrite=true',
    `--listen-port=${await freePort()}`,
    ...extra,
    torrent,
  ];
}
