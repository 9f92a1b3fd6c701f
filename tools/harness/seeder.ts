// A webtorrent seeder in a child process (seeder-child.ts), for BitTorrent tests and
// benches, and a listing of the files under a directory. Owns nothing it does not make.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SeederConfig } from './seeder-child.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = path.join(REPO_ROOT, 'tools', 'harness', 'seeder-child.ts');

export interface SeederProcess {
  port: number;
  seeds: { infoHash: string; progress: number }[];
  child: ChildProcess;
  /** Stops the seeder; resolves with bytes uploaded per info hash. */
  stop(): Promise<Record<string, number>>;
}

export async function spawnSeeder(config: SeederConfig): Promise<SeederProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(config)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const line = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const m = new RegExp(`^${prefix} (.*)$`, 'm').exec(out);
        if (m) {
          child.stdout!.off('data', check);
          child.off('exit', onExit);
          resolve(m[1]);
        }
      };
      const onExit = (code: number | null) => reject(new Error(`seeder exited (${code}) before ${prefix}: ${err}`));
      child.stdout!.on('data', check);
      child.once('exit', onExit);
      check();
    });
  const ready = JSON.parse(await line('READY')) as { port: number; seeds: { infoHash: string; progress: number }[] };
  let stopped: Promise<Record<string, number>> | undefined;
  return {
    ...ready,
    child,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode !== null) return {};
        const done = line('STOPPED');
        child.stdin!.end();
        const { uploaded } = JSON.parse(await done) as { uploaded: { infoHash: string; uploaded: number }[] };
        return Object.fromEntries(uploaded.map((u) => [u.infoHash, u.uploaded]));
      })();
      return stopped;
    },
  };
}

/** Every regular file under dir, relative, `/`-separated, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'))
    .sort();
}
