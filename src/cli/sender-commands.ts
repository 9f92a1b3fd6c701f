// The sender's commands (seed §4.3.1, 4.3.3, 4.3.5, 4.3.6): gentask, taskfilesquery, send,
// uploadprogress. Each is one API call with the seed's method_params; paths named here
// are resolved against the current directory before they are sent (the daemon has its
// own), and a path that is missing is named, with a hint when it exists under --root.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { TASK_SUFFIX } from '../config/paths.ts';
import { CliFailure, deadlineOf, hintMissingPaths, missingPathMessage, printAnswer, taskNameArg, userPath, type CliContext } from './cli-context.ts';
import { waitForAnswer, content, str, type Verdict } from './wait-answer.ts';
import type { ApiResponse } from '../api/envelope.ts';

interface GentaskOpts {
  dcppath?: string;
  taskfile?: string;
  basesubdir?: string;
  btobscdn?: string;
  policy?: string;
  tracker?: string;
  seedtime?: string;
  datasource?: string;
  obsurl?: string;
  ak?: string;
  sk?: string;
  endpoint?: string;
  deloldtorrent?: boolean;
  deadline?: string;
  useTorrent?: string;
  wait?: boolean;
  timeout?: string;
}

/** `<basedata>/<basesubdir>/dcps/<name>` → basesubdir (the layout of a sender's store). */
function basesubdirOf(dcppath: string): string | undefined {
  const parent = path.dirname(dcppath);
  return path.basename(parent) === 'dcps' ? path.basename(path.dirname(parent)) || undefined : undefined;
}

/** dcppath, basesubdir and the task file of a gentask/taskfilesquery call, defaults filled. */
async function dcpAndTaskfile(ctx: CliContext, positional: string | undefined, o: GentaskOpts): Promise<{ dcppath: string; basesubdir: string; taskfile: string }> {
  const given = positional ?? o.dcppath;
  if (!given) throw new CliFailure('missing the DCP directory: bft2 gentask <dcppath> (or --dcppath)');
  if (positional && o.dcppath && userPath(positional) !== userPath(o.dcppath)) throw new CliFailure(`two different DCP paths given: ${positional} and --dcppath ${o.dcppath}`);
  const dcppath = userPath(given).replace(/\/+$/, '');
  const basesubdir = o.basesubdir || basesubdirOf(dcppath) || (await ctx.config()).basesubdir;
  const taskfile = o.taskfile ? userPath(o.taskfile) : basesubdir ? ctx.paths.taskFile('sender', 'tmp', `${basesubdir}-${path.basename(dcppath)}`) : '';
  if (!taskfile) throw new CliFailure('no --taskfile and no basesubdir to name one (--basesubdir, a dcppath like <store>/<basesubdir>/dcps/<name>, or basesubdir in config.json)');
  return { dcppath, basesubdir, taskfile };
}

const taskfilesVerdict = (a: ApiResponse): Verdict => {
  const s = str(content(a).status);
  if (a.return_status !== 'true' || s === 'error') return 'failed';
  return s === 'finished' ? 'done' : undefined;
};
const taskfilesLine = (a: ApiResponse) => `${str(content(a).status)}: ${str(content(a).desc).trim()}${str(content(a).step) ? ` (${str(content(a).step)})` : ''}`;

export function registerSenderCommands(program: Command, ctx: CliContext): void {
  program
    .command('gentask [dcppath]')
    .description('make a task file (and torrents) for a DCP of the store, or for a single file of it (a task of type "file"); answers at once, the work runs in the daemon')
    .summary('sender: make the task file of a DCP')
    .option('--dcppath <dir>', 'the DCP directory or the single file (instead of the argument)')
    .option('--taskfile <file>', 'where to write the task file (default <root>/data/sender/tmp/<basesubdir>-<name>.task.json)')
    .option('--basesubdir <dir>', 'the <centre>-<organisation> directory (default: the one above dcps/ in dcppath, else config basesubdir)')
    .option('--btobscdn <ratio>', 'shares bt:obs:cdn, e.g. 1:1:1 (default config bt-obs-cdn); auto: the cheapest split that meets --deadline for the fleet in <root>/etc/bft2/fleet.json (docs/plan.md)')
    .option('--deadline <time>', 'with --btobscdn auto: when every cinema must have the DCP, "YYYY-MM-DD HH:MM"')
    .addOption(new Option('--policy <policy>', 'transfer windows (default config priorpolicy)').choices(['fulltime', 'priortime']))
    .option('--tracker <url>', 'announce URL for the torrents (default config tracker)')
    .option('--seedtime <hours>', 'hours to seed (default config defaultseedtime)')
    .addOption(new Option('--datasource <where>', 'local or obs (default config datasource)').choices(['local', 'obs']))
    .option('--obsurl <url>', 'obs://<bucket>[/dcps/<name>] (default config obsurl)')
    .option('--ak <key>', 'OBS access key (better: etc/bft2/obsbuckets.txt, not the process list)')
    .option('--sk <key>', 'OBS secret key (better: etc/bft2/obsbuckets.txt, not the process list)')
    .option('--endpoint <host>', 'OBS endpoint (default config obsendpoint)')
    .option('--deloldtorrent', 'delete the old task file and torrents first')
    .option('--use-torrent <file>', "adopt this existing .torrent of the DCP (e.g. the old system's, made by ctorrent) instead of making one; checked against the DCP first, every piece")
    .option('--wait', 'wait until taskfilesquery says finished (exit 1 on error)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  bft2 gentask /data/dcp/cfec-001/dcps/xiaofang --btobscdn 1:1:1 --policy fulltime --wait',
        '  bft2 gentask /data/dcp/cfec-001/dcps/xiaofang --btobscdn auto --deadline "2026-03-05 08:00" --wait',
        '  bft2 gentask /data/dcp/cfec-001/dcps/xiaofang --btobscdn 1:0:0 --use-torrent /data/old/xiaofang.torrent --wait',
      ].join('\n'),
    )
    .action(async (positional: string | undefined, o: GentaskOpts) => {
      const deadline = deadlineOf(o.timeout);
      const { dcppath, basesubdir, taskfile } = await dcpAndTaskfile(ctx, positional, o);
      if (!existsSync(dcppath)) throw new CliFailure(missingPathMessage(dcppath, ctx.root, 'directory'));
      const params: Record<string, unknown> = { dcppath, taskfile, basesubdir };
      for (const k of ['btobscdn', 'deadline', 'policy', 'tracker', 'seedtime', 'datasource', 'obsurl', 'ak', 'sk', 'endpoint'] as const) if (o[k] !== undefined) params[k] = o[k];
      if (o.deloldtorrent) params.deloldtorrent = 'true';
      if (o.useTorrent !== undefined) {
        const torrent = userPath(o.useTorrent);
        if (!existsSync(torrent)) throw new CliFailure(missingPathMessage(torrent, ctx.root, 'file'));
        params.usetorrent = torrent;
      }
      const answer = await ctx.api('gentask', params);
      if (!o.wait || answer.return_status !== 'true') {
        if (!printAnswer(answer)) hintMissingPaths(ctx, [dcppath, path.dirname(taskfile)]);
        return;
      }
      console.error(str(content(answer).desc));
      await waitForAnswer(ctx, { method: 'taskfilesquery', params: { dcppath, taskfile }, verdict: taskfilesVerdict, describe: taskfilesLine, deadline });
    });

  program
    .command('taskfilesquery [dcppath]')
    .description('is the task file of a DCP made yet: finished, unfinished (and what is being made) or error')
    .summary('sender: is the task file made yet')
    .option('--dcppath <dir>', 'the DCP directory (instead of the argument)')
    .option('--taskfile <file>', 'the task file (default as gentask)')
    .option('--basesubdir <dir>', 'to name the default task file (as gentask)')
    .option('--wait', 'wait until finished (exit 1 on error)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)')
    .action(async (positional: string | undefined, o: GentaskOpts) => {
      const deadline = deadlineOf(o.timeout);
      const { dcppath, taskfile } = await dcpAndTaskfile(ctx, positional, o);
      if (o.wait) return waitForAnswer(ctx, { method: 'taskfilesquery', params: { dcppath, taskfile }, verdict: taskfilesVerdict, describe: taskfilesLine, deadline });
      const answer = await ctx.api('taskfilesquery', { dcppath, taskfile });
      if (!printAnswer(answer)) hintMissingPaths(ctx, [dcppath, taskfile]);
    });

  program
    .command('send <taskfile>')
    .description('publish a task: queue it for BT seeding, OBS upload and the CDN check')
    .summary('sender: publish a task')
    .option('--reactive', 'restart a same-name task that still seeds (the default, as the seed)', true)
    .option('--no-reactive', 'refuse when a same-name task still seeds')
    .addHelpText('after', `\n<taskfile> is a path (relative to the current directory), or a task name, meaning\n<root>/data/sender/tmp/<task>${TASK_SUFFIX}.`)
    .action(async (arg: string, o: { reactive: boolean }) => {
      const taskfile = arg.includes('/') || existsSync(arg) ? userPath(arg) : ctx.paths.taskFile('sender', 'tmp', taskNameArg(arg));
      const answer = await ctx.api('send', { taskfile, reactive: o.reactive ? 'true' : 'false' });
      if (!printAnswer(answer)) hintMissingPaths(ctx, [taskfile]);
    });

  program
    .command('uploadprogress <task>')
    .description('publishing state of a sender task: queues, uploading, uploaded, ready, finished or error')
    .summary('sender: publishing state of a task')
    .option('--wait', 'wait until ready or finished (exit 1 on error)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)')
    .action(async (task: string, o: { wait?: boolean; timeout?: string }) => {
      const deadline = deadlineOf(o.timeout);
      const params = { taskfile: taskNameArg(task) + TASK_SUFFIX };
      if (!o.wait) return void printAnswer(await ctx.api('uploadprogress', params));
      await waitForAnswer(ctx, {
        method: 'uploadprogress',
        params,
        deadline,
        verdict: (a) => {
          const s = str(content(a).status);
          if (a.return_status !== 'true' || s === 'error' || s === 'unknown') return 'failed';
          return s === 'ready' || s === 'finished' ? 'done' : undefined;
        },
        describe: (a) => {
          const c = content(a);
          return a.return_status === 'true' ? `${str(c.status)}: bt ${str(c.btstatus)}, obs ${str(c.obsstatus)}, cdn ${str(c.cdnstatus)}` : str(c.desc);
        },
      });
    });
}
