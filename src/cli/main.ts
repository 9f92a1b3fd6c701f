// `bft2 [--root DIR] <command>` (SPEC §10). One file per group of commands:
//   daemon-command.ts      daemon
//   check-config.ts        checkconfig (no daemon needed)
//   hashtable-commands.ts  inithashtable, addhashtable (no daemon needed)
//   sender-commands.ts     gentask, taskfilesquery, send, uploadprogress
//   receiver-commands.ts   recv, progress, cprogress
//   task-commands.ts       cancel, retry (retry works on the files: no daemon needed)
//   status-command.ts      status (spool directories + the API's answers)
//   node-commands.ts       showschedules, reloadconf, heartbeat
//   plan-command.ts        plan (no daemon needed)
// Exit status: see cli-context.ts (0 success, 1 failure or `false`, 2 daemon unreachable).
import { Command } from 'commander';
import { isBft2Error, messageOf } from '../errors/catalogue.ts';
import { readVersion } from '../util/version.ts';
import { CliContext, CliFailure, EXIT } from './cli-context.ts';
import { registerDaemonCommand } from './daemon-command.ts';
import { registerCheckConfig } from './check-config.ts';
import { registerHashtableCommands } from './hashtable-commands.ts';
import { registerSenderCommands } from './sender-commands.ts';
import { registerReceiverCommands } from './receiver-commands.ts';
import { registerTaskCommands } from './task-commands.ts';
import { registerStatusCommand } from './status-command.ts';
import { registerNodeCommands } from './node-commands.ts';
import { registerPlanCommand } from './plan-command.ts';

const program = new Command();
program
  .name('bft2')
  .description('bft2: hybrid DCP delivery over BitTorrent, object storage and HTTP')
  .option('--root <dir>', 'root prefix of every bft2 path: config, spool, store, logs (default: $BFT2_ROOT or /)')
  .version(await readVersion())
  .showHelpAfterError('(bft2 <command> --help for usage)')
  .addHelpText(
    'after',
    '\nPaths named on the command line are used as given (relative to the current directory);\n--root maps only the configuration and the fixed layout.\nExit status: 0 success; 1 failure or a `false` answer; 2 daemon not reachable.',
  );

const ctx = new CliContext(program);
registerDaemonCommand(program, ctx);
registerCheckConfig(program, ctx);
registerHashtableCommands(program, ctx);
registerSenderCommands(program, ctx);
registerReceiverCommands(program, ctx);
registerTaskCommands(program, ctx);
registerStatusCommand(program, ctx);
registerNodeCommands(program, ctx);
registerPlanCommand(program, ctx);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`bft2: ${messageOf(err)}`);
  if (err instanceof CliFailure) process.exit(err.exitCode);
  if (isBft2Error(err) && err.code === 'API_UNREACHABLE') process.exit(EXIT.unreachable);
  process.exit(EXIT.failed);
}
