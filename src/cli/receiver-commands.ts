// The receiving side's commands (seed §4.3.2, 4.3.4; cacher: cprogress): recv, progress,
// cprogress. One API call each; `--wait` asks again until the task is done or failed.
import type { Command } from 'commander';
import { TASK_SUFFIX } from '../config/paths.ts';
import { hintMissingPaths, deadlineOf, printAnswer, taskNameArg, userPath, type CliContext } from './cli-context.ts';
import { waitForAnswer, content, str } from './wait-answer.ts';

const QUEUED_TEXT = 'task in queues, no progress now.';

export function registerReceiverCommands(program: Command, ctx: CliContext): void {
  program
    .command('recv <taskfile>')
    .description('check a task file (any path) and queue it for download (receiver, sender) or seeding (cacher)')
    .summary('check a task file and queue it')
    .option('--reactive', 'cacher: restart the seed clock of a same-name task that is seeding')
    .option('--no-reactive', 'refuse a same-name task that is running (the default)')
    .addHelpText(
      'after',
      `
What happens to the file: it is checked, written into this node's spool (data/receiver/tmp,
then queues) and the original is removed — recv moves it, as the seed says. A file inside a
bft2 spool (any path under <root>/data/sender/ or <root>/data/receiver/, this node's or
another root's, e.g. a sender's data/sender/uploaded/<task>.task.json on the same machine)
is copied instead and stays where it is; the answer then says "(copied to ...)".`,
    )
    .action(async (file: string, o: { reactive?: boolean }) => {
      const taskfile = userPath(file);
      const answer = await ctx.api('recv', { taskfile, reactive: o.reactive ? 'true' : 'false' });
      if (!printAnswer(answer)) hintMissingPaths(ctx, [taskfile]);
    });

  program
    .command('progress <task>')
    .description('download progress of a task (name, file name or path of its .task.json)')
    .summary('download progress of a task')
    .option('--wait', 'wait until downloaded (exit 1 on downloaderror)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)')
    .action(async (task: string, o: { wait?: boolean; timeout?: string }) => {
      const deadline = deadlineOf(o.timeout);
      const params = { taskfile: taskNameArg(task) + TASK_SUFFIX };
      if (!o.wait) return void printAnswer(await ctx.api('progress', params));
      await waitForAnswer(ctx, {
        method: 'progress',
        params,
        deadline,
        verdict: (a) => {
          const c = content(a);
          const s = str(c.status);
          // Queued: the seed answers false with its text; wait on.
          if (s === 'queues' || str(c.desc) === QUEUED_TEXT) return str(c.downerror) ? 'failed' : undefined;
          if (a.return_status !== 'true' || s === 'downloaderror' || s === 'unknown') return 'failed';
          if (s === 'downloaded') return 'done';
          if (s === 'history') return str(c.totalpercent) === '100.000%' ? 'done' : 'failed';
          return undefined;
        },
        describe: (a) => {
          const c = content(a);
          const s = str(c.status);
          if (s === 'downloading') return `downloading ${str(c.totalpercent)} ${str(c.rate)}${Number(c.ecompletedtime) > 0 ? `, about ${str(c.ecompletedtime)} min left` : ''}`;
          if (s === 'downloaded' || s === 'history') return `${s} ${str(c.totalpercent)} ${str(c.dcppath)}`.trimEnd();
          return `${s || 'false'}: ${str(c.downerror) || str(c.desc)}`;
        },
      });
    });

  program
    .command('cprogress <task>')
    .description('cacher: seeding state of a task (seeding, noseeding, seed time left, peers)')
    .summary('cacher: seeding state of a task')
    .option('--wait', 'wait until the task seeds (exit 1 on an error state)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)')
    .action(async (task: string, o: { wait?: boolean; timeout?: string }) => {
      const deadline = deadlineOf(o.timeout);
      const params = { taskfile: taskNameArg(task) + TASK_SUFFIX };
      if (!o.wait) return void printAnswer(await ctx.api('cprogress', params));
      await waitForAnswer(ctx, {
        method: 'cprogress',
        params,
        deadline,
        verdict: (a) => {
          const s = str(content(a).status ?? content(a).Status);
          if (a.return_status !== 'true' || s.endsWith('error')) return 'failed';
          return s === 'seeding' ? 'done' : undefined;
        },
        describe: (a) => `${str(content(a).status ?? content(a).Status) || 'false'}: ${str(content(a).desc)}`,
      });
    });
}
