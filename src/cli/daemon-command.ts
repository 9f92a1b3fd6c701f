// `bft2 daemon`: runs everything (spool watchers, hash watcher, API, origin, tracker).
// Its first console line says where it logs (under systemd the console is the journal,
// and the log file is where the rest goes). SIGTERM/SIGINT stop it cleanly; SIGHUP
// reopens the log files (logrotate's postrotate, `systemctl reload bft2`).
import type { Command } from 'commander';
import { isBft2Error } from '../errors/catalogue.ts';
import { readVersion } from '../util/version.ts';
import { CliFailure, EXIT, type CliContext } from './cli-context.ts';

export function registerDaemonCommand(program: Command, ctx: CliContext): void {
  program
    .command('daemon')
    .description('run the daemon: spool watchers, hash watcher, API, HTTP origin, tracker')
    .summary('run the daemon')
    .option('--console', 'log to the console too')
    .addHelpText(
      'after',
      [
        '',
        'Signals: SIGTERM/SIGINT stop it; SIGHUP reopens its log files.',
        'Exit status 78 when config.json is invalid or a value of it cannot be used (an address',
        'in use, a store path that cannot be created: the message names the key), or when the',
        'BitTorrent libraries are not the pinned versions; systemd does not restart it then.',
        'Exit status 70 after an error no task caught (logged with its stack); systemd restarts it.',
      ].join('\n'),
    )
    .action(async (opts: { console?: boolean }) => {
      const paths = ctx.paths;
      console.log(`bft2 ${await readVersion()}: logging to ${paths.daemonLog} (hash table: ${paths.hashLog})${opts.console ? ' and to the console' : ''}`);
      // Loaded here: the other commands start faster without the daemon's modules.
      const { startDaemon } = await import('../daemon/daemon.ts');
      let daemon;
      try {
        daemon = await startDaemon(paths.root, { console: opts.console });
      } catch (err) {
        // Neither a bad config nor a wrong install gets better by restarting.
        if (isBft2Error(err) && (err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_UNUSABLE' || err.code === 'BT_LIBRARY_VERSION')) throw new CliFailure(err.message, EXIT.config);
        throw err;
      }
      const running = daemon;
      process.once('uncaughtException', (err) => running.fatal('uncaught exception', err));
      process.once('unhandledRejection', (err) => running.fatal('unhandled rejection', err));
      const stop = () => void running.stop().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGHUP', () => running.reopenLogs());
    });
}
