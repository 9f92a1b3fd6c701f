// Commands about the node rather than a task, each one GET of the daemon (seed §4.3.13):
// showschedules, reloadconf, heartbeat.
import type { Command } from 'commander';
import { CliFailure, type CliContext } from './cli-context.ts';
import { getApi } from './api-client.ts';

export function registerNodeCommands(program: Command, ctx: CliContext): void {
  const getText = async (urlPath: string, ok: (text: string) => boolean, address?: string) => {
    const { status, text } = address ? await getApi(address, urlPath) : await ctx.get(urlPath);
    if (status === 404) throw new CliFailure(`the daemon at ${address ?? (await ctx.config()).apilisten} does not provide ${urlPath} (HTTP 404: ${text.trim()})`);
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
    .addHelpText('after', '\nThe answer lists the keys applied and those that wait for a restart (docs/config.md marks\nthem); a refused file changes nothing. `bft2 checkconfig` checks a file without a daemon.\nExit status 1 when the daemon refuses the file.')
    .action(async () => getText('/reloadconf', (t) => t.startsWith('reload config.json ok'), await ctx.apiListenDespiteErrors()));

  program
    .command('heartbeat')
    .description('is the daemon alive: "<time> is living."')
    .summary('is the daemon alive')
    .action(() => getText('/heartbeat', (t) => t.endsWith('is living.')));
}
