// Commands on one task of either role: cancel (through the API: the daemon stops the
// transfers) and retry (on the files: deleting `<task>.err` is what re-arms a task, SPEC
// §5, whether the daemon runs now or starts later; `--rebuild-urls` first writes the URLs
// the current config builds into a sender task, under the task's lock).
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { RECEIVER_STATES, SENDER_STATES, TASK_SUFFIX, type Role } from '../config/paths.ts';
import { CliFailure, printAnswer, taskNameArg, type CliContext } from './cli-context.ts';
import { TaskSpool } from '../spool/task-spool.ts';
import { silentLogger } from '../log/logger.ts';
import { readTaskJson } from '../trust/confined-file.ts';
import { validateTask } from '../task/validate-task.ts';
import { writeJsonDurable } from '../spool/durable-fs.ts';
import { applyUrlChanges } from '../task/task-urls.ts';
import { senderUrlChanges, describeUrlChanges } from '../roles/sender/task-url-refresh.ts';

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
    .option('--rebuild-urls', 'sender: first write into the task the URLs the current config builds for it (bt.url, bt.tmpurl, obs.url, cdn.url), when they differ from the ones gentask wrote')
    .addHelpText(
      'after',
      `
The task is tried again as it is written. A sender task keeps the URLs gentask built from
the config of its day: after fixing cdnurl, senderdomain or obsurl in config.json, use
--rebuild-urls (retry says when the config builds other URLs). To start a publication
over instead: bft2 cancel <task>, bft2 gentask <dcp> --deloldtorrent ..., bft2 send <task>.
Exit status 1 when the task has no .err anywhere (nothing to retry).`,
    )
    .action(async (arg: string, o: { rebuildUrls?: boolean }) => {
      const task = taskNameArg(arg);
      const p = ctx.paths;
      const urls = await senderTaskUrls(ctx, task);
      if (o.rebuildUrls) {
        if (!urls) throw new CliFailure(`--rebuild-urls: no sender task ${task}${TASK_SUFFIX} with a .err in ${p.map('/data/sender')}`);
        if (urls.changes.length) {
          await urls.spool.withLock(task, async () => {
            applyUrlChanges(urls.raw, urls.changes);
            await writeJsonDurable(urls.file, urls.raw);
          });
          console.log(`rebuilt from the config: ${describeUrlChanges(urls.changes)}`);
        } else console.log('the config builds the same URLs as the task has: nothing to rebuild');
      } else if (urls?.changes.length) {
        console.log(`note: the config builds other URLs for this task now (${describeUrlChanges(urls.changes)}); \`bft2 retry --rebuild-urls ${task}\` uses them`);
      }
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

/** A sender task with a `.err`: its file, raw JSON and the URLs the current config would build differently; undefined when none. */
async function senderTaskUrls(ctx: CliContext, task: string) {
  const spool = new TaskSpool(ctx.paths, 'sender', SENDER_STATES, silentLogger());
  for (const state of SENDER_STATES) {
    const file = ctx.paths.taskFile('sender', state, task);
    if (!existsSync(file) || !existsSync(ctx.paths.marker('sender', state, task, '.err'))) continue;
    try {
      const raw = (await readTaskJson(file)).raw as Record<string, unknown>;
      const t = validateTask(raw, file);
      return { spool, file, raw, changes: await senderUrlChanges(ctx.paths, await ctx.config(), t) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
