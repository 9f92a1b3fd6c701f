// Runs the delivery lab as the tests do: `lab/lab run <scenario> --json <file>` as a child
// process, bounded in time, its output kept; then the report it wrote, and whether the run
// left any of its namespaces or its work directory behind. The lab needs root and network
// namespaces: requireLab() fails (never skips) where they are missing, saying why.
// Owns: the temp directory of the report.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './daemon.ts';
import type { RunReport } from '../../lab/lib/report.ts';
import type { Comparison } from '../../lab/lib/predict.ts';

export function requireLab(): void {
  assert.equal(process.getuid?.(), 0, 'the delivery lab needs root (network namespaces, tc, nftables); CI runs as root — run this test as root');
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
  } catch (err) {
    assert.fail(`'ip netns' is not usable here (${(err as Error).message}); the lab needs iproute2 and network namespaces (tools/install-test-deps)`);
  }
}

export interface LabRun {
  code: number | null;
  output: string;
  /** The report, when the run wrote one (with the planner's model beside it after --predict). */
  report?: RunReport & { prediction?: Comparison };
  /** Namespaces of the run still present, and whether its work directory is. */
  leftovers(): Promise<{ namespaces: string[]; workDir: boolean }>;
}

/** `lab/lab run <scenario> [args]` (relative to the repository), SIGTERM after timeoutMs. */
export async function runLab(scenario: string, timeoutMs: number, args: string[] = []): Promise<LabRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-labtest-'));
  try {
    const jsonFile = path.join(dir, 'report.json');
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const p = spawn(path.join(REPO_ROOT, 'lab', 'lab'), ['run', scenario, ...args, '--json', jsonFile], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
      p.once('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, output: out });
      });
    });
    const report = await readFile(jsonFile, 'utf8').then((t) => JSON.parse(t) as RunReport & { prediction?: Comparison }, () => undefined);
    return {
      code,
      output,
      report,
      leftovers: async () => {
        const id = report?.runId ?? 'none';
        const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`bft2lab-${id}-`));
        const workDir = await stat(path.join(os.tmpdir(), `bft2lab-${id}`)).then(() => true, () => false);
        return { namespaces, workDir };
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
