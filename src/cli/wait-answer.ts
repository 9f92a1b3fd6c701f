// `--wait` of gentask, taskfilesquery, progress, uploadprogress and cprogress: asks the
// same API method again until the answer says the task got where it was going (or failed
// for good), showing each change on stderr, then prints the last answer like a single
// call would. The operator scripts (ops/) are built on it.
import type { ApiResponse } from '../api/envelope.ts';
import { CliFailure, EXIT, printAnswer, sleep, type CliContext } from './cli-context.ts';

/** 'done' ends the wait with success, 'failed' with exit 1; undefined asks again. */
export type Verdict = 'done' | 'failed' | undefined;

export interface WaitOptions {
  method: string;
  params: Record<string, unknown>;
  verdict: (answer: ApiResponse) => Verdict;
  /** One short line describing an answer, shown when it changes. */
  describe: (answer: ApiResponse) => string;
  deadline: number;
  intervalMs?: number;
}

export async function waitForAnswer(ctx: CliContext, o: WaitOptions): Promise<void> {
  let last = '';
  const tty = process.stderr.isTTY;
  for (;;) {
    const answer = await ctx.api(o.method, o.params);
    const v = o.verdict(answer);
    const line = o.describe(answer);
    if (line !== last) {
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else process.stderr.write(`${line}\n`);
      last = line;
    }
    if (v !== undefined || Date.now() >= o.deadline) {
      if (tty) process.stderr.write('\n');
      printAnswer(answer);
      if (v === 'failed') process.exitCode = EXIT.failed;
      if (v === undefined) throw new CliFailure(`timed out waiting: ${line}`);
      return;
    }
    await sleep(o.intervalMs ?? 1000);
  }
}

export const content = (a: ApiResponse): Record<string, unknown> => a.return_content ?? {};
export const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
