// Runs a command to its end (killed after `timeoutMs`, default 60 s) and keeps what it
// printed: the CLI tests' way to call bin/bft2 as a user would. Never throws on a
// non-zero exit.
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../tools/harness/daemon.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
