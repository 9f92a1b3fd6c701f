// Commands about the node rather than a task, each one GET of the daemon (seed §4.3.13):
// showschedules, reloadconf, heartbeat.
import type { Command } from 'commander';
import { CliFailure, type CliContext } from './cli-context.ts';

export function registerNodeCommands(program: Command, ctx: CliContext): void {
  const getText = async (urlPath: string, ok: (text: string) => boolean) => {
    const { status, text } = await ctx.get(urlPath);
    if (status === 404) throw new CliFailure(`the daemon at ${(await ctx.config()).apilisten} does not provide ${urlPath} (HTTP 404: ${text.trim()})`);
    console.log(text.replace(/\n$/, ''));
    if (status !== 200 || !ok(text)) process.exitCode = 1;
  };

  program
    .command('showschedules')
    .description('the transfer windows: each method\'s tasks with start/stop times, and every download in progress (plain text)')
    .summary('the transfer windows and downloads')
    .action(() => getText('/showschedules', () => true));

  program
    .command('reloadconf')
    .description('make the daemon re-read config.json (refused, naming the field, when it is invalid)')
    .summary('make the daemon re-read config.json')
    .addHelpText('after', '\nSome keys need a restart instead (docs/config.md). `bft2 checkconfig` checks a file without a daemon.')
    .action(() => getText('/reloadconf', (t) => t.startsWith('reload config.json ok')));

  program
    .command('heartbeat')
    .description('is the daemon alive: "<time> is living."')
    .summary('is the daemon alive')
    .action(() => getText('/heartbeat', (t) => t.endsWith('is living.')));
}
