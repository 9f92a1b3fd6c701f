// Running the lab's commands (`ip`, `tc`, `nft`, `nginx`, ...) and its long-lived
// processes (daemons, s3rver, nginx) with bounded waits, and stopping every process the
// run started on every exit path.
// Owns: the registry of this run's child processes. Must not signal any process it did
// not start itself (the final sweep of a namespace's leftovers is netns.ts's, by pid).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command}: ${code === null ? 'timed out or killed' : `exit ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  }
}

export interface RunOptions {
  /** Default 20 s: every command the lab runs is short; a hung one is a bug to see. */
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; throws CommandError on a non-zero exit or a timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const shown = [cmd, ...args].join(' ');
  return new Promise<RunResult>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(shown, null, err.message));
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0 || opts.allowFailure) resolve({ code, stdout, stderr });
      else reject(new CommandError(shown, code, stderr || stdout));
    });
    p.stdin.on('error', () => {}); // a command that exits without reading its input
    p.stdin.end(opts.input ?? '');
  });
}

/** `ip netns exec <ns> <cmd...>`. */
export function inNs(ns: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export interface LongProcess {
  name: string;
  proc: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** The signal, then SIGKILL after graceMs; resolves once it is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<LongProcess>();

/**
 * Starts a long-lived process with stdout and stderr appended to logFile. `ip netns exec`
 * execs its command, so the child's pid is the program's own (the daemon, nginx's
 * master) and a signal reaches it directly.
 */
export function startLong(name: string, cmd: string, args: string[], opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): LongProcess {
  const fd = openSync(opts.logFile, 'a');
  let proc: ChildProcess;
  try {
    proc = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
  } finally {
    closeSync(fd);
  }
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(lp);
      resolve(exitInfo);
    });
    proc.once('error', () => {
      exitInfo ??= { code: null, signal: null };
      live.delete(lp);
      resolve(exitInfo);
    });
  });
  const lp: LongProcess = {
    name,
    proc,
    exited,
    hasExited: () => exitInfo !== undefined,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (exitInfo) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(lp);
  return lp;
}

/** Stops every process this run started (SIGTERM, SIGKILL after graceMs), all at once. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop('SIGTERM', graceMs)));
}

// The last resort when the driver exits without its teardown (an uncaught error): no
// child of this run outlives it. The namespaces themselves go in the wrapper's trap.
process.once('exit', () => {
  for (const p of live) {
    try {
      p.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Thrown inside a waitFor probe: ends the wait at once (a probe's other errors mean "not yet"). */
export class Fatal extends Error {}

/** Polls fn until it returns a value other than undefined; throws after timeoutMs naming what. */
export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, opts: { timeoutMs: number; intervalMs?: number; what: string }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${opts.what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}
