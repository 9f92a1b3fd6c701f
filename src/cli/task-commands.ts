// Commands on one task of either role: cancel (through the API: the daemon stops the
// transfers) and retry (on the files: deleting `<task>.err` is what re-arms a task, SPEC
// §5, whether the daemon runs now or starts later).
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { RECEIVER_STATES, SENDER_STATES, TASK_SUFFIX, type Role } from '../config/paths.ts';
import { CliFailure, printAnswer, taskNameArg, type CliContext } from './cli-context.ts';

export function registerTaskCommands(program: Command, ctx: CliContext): void {
  program
    .command('cancel <task>')
    .description('stop a task (a download first, else an upload), remove its partial data, file it in history')
    .summary('stop a task, file it in history')
    .action(async (task: string) => void printAnswer(await ctx.api('cancel', { taskfile: taskNameArg(task) + TASK_SUFFIX })));

  program
    .command('retry <task>')
    .description('delete the task\'s .err wherever it is (either role\'s spool): the daemon takes the task up again')
    .summary('delete a task\'s .err: try again')
    .addHelpText('after', '\nExit status 1 when the task has no .err anywhere (nothing to retry).')
    .action(async (arg: string) => {
      const task = taskNameArg(arg);
      const p = ctx.paths;
      const spools: [Role, readonly string[]][] = [['receiver', RECEIVER_STATES], ['sender', SENDER_STATES]];
      const removed: string[] = [];
      const holders: string[] = [];
      for (const [role, states] of spools) {
        for (const state of states) {
          if (existsSync(p.taskFile(role, state, task))) holders.push(`${role}/${state}`);
          const err = p.marker(role, state, task, '.err');
          if (!existsSync(err)) continue;
          await rm(err);
          removed.push(err);
          console.log(`removed ${err}`);
        }
      }
      if (removed.length) return;
      const where = holders.length ? `the task is in ${holders.join(', ')}` : `no task ${task}${TASK_SUFFIX} in ${p.map('/data/receiver')} or ${p.map('/data/sender')}`;
      throw new CliFailure(`no ${task}.err to remove: ${where}; nothing to retry`);
    });
}
