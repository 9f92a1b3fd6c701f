// Runs a real bft2 daemon for integration tests and benches: writes a loopback
// receiver config under a temp root, spawns `src/cli/main.ts daemon` in its own
// process, waits for its heartbeat, and talks to its API (SPEC §9).
// Also owns the small polling helpers (waitFor, makeTempRoot) those tests share.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DaemonPaths {
  queues: string;
  tmp: string;
  downloading: string;
  downloaded: string;
  history: string;
  /** `<root>/data/dcp` */
  dcp: string;
  /** `<root>/var/log/bft2/bftv2.log` */
  log: string;
}

export interface Daemon {
  proc: ChildProcess;
  root: string;
  /** http://127.0.0.1:PORT */
  apiBase: string;
  config: Record<string, unknown>;
  /** POST /<method> with the seed's envelope; resolves to the parsed JSON answer. */
  api(method: string, params: object): Promise<any>;
  post(urlPath: string, rawBody: string): Promise<{ status: number; body: string }>;
  get(urlPath: string): Promise<{ status: number; body: string }>;
  /** Sends signal (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; waits for the exit. */
  stop(): Promise<void>;
  /** Everything the daemon wrote to stdout and stderr so far (interleaved). */
  output(): string;
  exited(): boolean;
  paths: DaemonPaths;
}

export interface StartDaemonOptions {
  root: string;
  config: Record<string, unknown>;
  /** config.json's `tuning` (short retry delays and the like); merged over the config's own. */
  tuning?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Default 20 000. */
  startTimeoutMs?: number;
  /** Script run as `<entry> --root <root> daemon`; default src/cli/main.ts (fixtures may pass a fake). */
  entry?: string;
  /**
   * A command the daemon runs under, e.g. ['faketime', '-f', '@2026-01-05 09:59:30 x5'].
   * faketime forks the daemon and waits for it, so the pair gets a process group of its
   * own and signals go to the whole group.
   */
  wrap?: string[];
}

// Kept so a crashed or interrupted test run does not leave daemons behind.
/** Each live daemon and how to kill it (a wrapped one leads a process group of its own). */
const live = new Map<ChildProcess, (sig: NodeJS.Signals) => void>();
process.once('exit', () => {
  for (const kill of live.values()) {
    try {
      kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const OUTPUT_CAP = 8 * 1024 * 1024;

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function makeTempRoot(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'bft2-test-'));
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  opts: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const interval = opts.intervalMs ?? 100;
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      // undefined/false/null mean "not yet"; 0 and '' are real answers.
      if (v !== undefined && v !== false && v !== null) return v;
    } catch (err) {
      // A probe that throws (file not there yet, daemon still binding) is "not yet"
      // too; the last error goes into the timeout message.
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

let messageCounter = 0;

export async function startDaemon(opts: StartDaemonOptions): Promise<Daemon> {
  const root = path.resolve(opts.root);
  const etc = path.join(root, 'etc', 'bft2');
  await mkdir(etc, { recursive: true });
  const config: Record<string, unknown> = {
    servertype: 'receiver',
    machinetype: 'local',
    receiverid: 'test',
    basedatapath: '/data/dcp',
    basesubdir: 'cfec-001',
    avoidrepeat: false,
    receiverstoreplan: 'A',
    downloadingnum: 2,
    priorpolicy: 'fulltime',
    apilisten: `127.0.0.1:${await freePort()}`,
    btport: await freePort(),
    ...opts.config,
  };
  if (opts.tuning) config.tuning = { ...((opts.config.tuning as object | undefined) ?? {}), ...opts.tuning };
  await writeFile(path.join(etc, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const apiBase = `http://${String(config.apilisten)}`;

  // The real launcher (bin/bft2 execs node, so the child is the daemon itself and a
  // SIGKILL reaches it); a fixture entry runs under node directly.
  const [command, args] = opts.entry
    ? [process.execPath, ['--import', 'tsx', opts.entry]]
    : [path.join(REPO_ROOT, 'bin', 'bft2'), [] as string[]];
  const argv = [...args, '--root', root, 'daemon'];
  const proc = spawn(
    opts.wrap ? opts.wrap[0] : command,
    opts.wrap ? [...opts.wrap.slice(1), command, ...argv] : argv,
    { cwd: REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.wrap !== undefined },
  );
  const signal = (sig: NodeJS.Signals) => (opts.wrap ? process.kill(-proc.pid!, sig) : proc.kill(sig));
  live.set(proc, signal);
  const chunks: string[] = [];
  let outLen = 0;
  const collect = (b: Buffer): void => {
    if (outLen >= OUTPUT_CAP) return;
    const s = b.toString('utf8');
    chunks.push(s);
    outLen += s.length;
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const output = (): string => chunks.join('') + (outLen >= OUTPUT_CAP ? '\n[output truncated]\n' : '');

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(proc);
      resolve();
    });
  });
  proc.once('error', (err) => {
    collect(Buffer.from(`[spawn error] ${err.message}\n`));
  });

  const get = async (urlPath: string): Promise<{ status: number; body: string }> => {
    const res = await request(apiBase + urlPath, { method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const post = async (urlPath: string, rawBody: string): Promise<{ status: number; body: string }> => {
    const res = await request(apiBase + urlPath, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: rawBody,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const api = async (method: string, params: object): Promise<any> => {
    const envelope = {
      message_id: `test-${process.pid}-${++messageCounter}`,
      message_type: 'request',
      message_source: 'test',
      method_name: method,
      method_params: params,
    };
    const { status, body } = await post(`/${method}`, JSON.stringify(envelope));
    try {
      return JSON.parse(body);
    } catch {
      throw new Error(`${method}: HTTP ${status}, answer is not JSON: ${body.slice(0, 500)}`);
    }
  };
  const kill = async (sig: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (exitInfo) return;
    signal(sig);
    await exitPromise;
  };
  const stop = async (): Promise<void> => {
    if (exitInfo) return;
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(timer);
  };

  // Generous: start-up is CPU-bound, and a test machine may be loaded (it measures nothing).
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  let startError: string | undefined;
  try {
    const outcome = await waitFor<'up' | 'exited'>(
      async () => {
        // An early exit ends the wait at once instead of after the whole timeout.
        if (exitInfo) return 'exited';
        const r = await get('/heartbeat');
        return r.status === 200 ? 'up' : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `heartbeat of daemon at ${apiBase}` },
    );
    if (outcome === 'exited') {
      startError = `daemon exited during start-up (code ${exitInfo?.code}, signal ${exitInfo?.signal})`;
    }
  } catch (err) {
    startError = (err as Error).message;
  }
  if (startError !== undefined) {
    await stop();
    throw new Error(`${startError}\n--- daemon output ---\n${output()}`);
  }

  const rcv = (d: string): string => path.join(root, 'data', 'receiver', d);
  return {
    proc,
    root,
    apiBase,
    config,
    api,
    post,
    get,
    kill,
    stop,
    output,
    exited: () => exitInfo !== undefined,
    paths: {
      queues: rcv('queues'),
      tmp: rcv('tmp'),
      downloading: rcv('downloading'),
      downloaded: rcv('downloaded'),
      history: rcv('history'),
      dcp: path.join(root, 'data', 'dcp'),
      log: path.join(root, 'var', 'log', 'bft2', 'bftv2.log'),
    },
  };
}
