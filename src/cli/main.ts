// `bft2 [--root DIR] <command>` (SPEC §10). `daemon` runs everything; the other commands
// talk to the running daemon through its API, except `status`, which reads the spool
// directories and asks the API only for progress figures.
import { Command } from 'commander';
import path from 'node:path';
import { resolveRoot, Paths, RECEIVER_STATES, SENDER_STATES } from '../config/paths.ts';
import { loadConfig } from '../config/load-config.ts';
import { messageOf } from '../errors/catalogue.ts';
import { readVersion } from '../util/version.ts';
import { callApi } from './api-client.ts';
import { runHashCommand } from './hashtable-commands.ts';
import { TaskSpool } from '../spool/task-spool.ts';
import { silentLogger } from '../log/logger.ts';

const program = new Command();
program
  .name('bft2')
  .description('bft2: hybrid DCP delivery over BitTorrent, object storage and HTTP')
  .option('--root <dir>', 'root prefix for every bft2 path (default: $BFT2_ROOT or /)')
  .version(await readVersion());

const paths = () => new Paths(resolveRoot(program.opts().root));

async function api(method: string, params: Record<string, unknown>) {
  const p = paths();
  const config = await loadConfig(p.configFile);
  return callApi(config.apilisten, method, params);
}

/** Prints an API answer: the desc alone when that is all, else the whole content. */
function printAnswer(answer: Awaited<ReturnType<typeof api>>): void {
  const c = answer.return_content;
  const keys = Object.keys(c);
  console.log(keys.length === 1 && keys[0] === 'desc' ? String(c.desc) : JSON.stringify(c, null, 2));
  if (answer.return_status !== 'true') process.exitCode = 1;
}

const taskFileName = (t: string) => (t.endsWith('.task.json') ? path.basename(t) : `${path.basename(t)}.task.json`);

program
  .command('daemon')
  .description('run the daemon: spool watchers, API, HTTP origin')
  .option('--console', 'log to the console too')
  .action(async (opts: { console?: boolean }) => {
    // Loaded here: the other commands start faster without the daemon's modules.
    const { startDaemon } = await import('../daemon/daemon.ts');
    const daemon = await startDaemon(resolveRoot(program.opts().root), { console: opts.console });
    const stop = () => void daemon.stop().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

program
  .command('recv <taskfile>')
  .description('validate a task file and queue it for download')
  .option('--reactive', 'restart a same-name task that is running (cachers)')
  .action(async (file: string, opts: { reactive?: boolean }) => printAnswer(await api('recv', { taskfile: path.resolve(file), reactive: opts.reactive ? 'true' : 'false' })));

program
  .command('progress <task>')
  .description('progress of a receiver task (file name, with or without .task.json)')
  .action(async (task: string) => printAnswer(await api('progress', { taskfile: taskFileName(task) })));

program
  .command('cancel <task>')
  .description('stop a task, remove its partial data, file it in history')
  .action(async (task: string) => printAnswer(await api('cancel', { taskfile: taskFileName(task) })));

program
  .command('inithashtable [dir]')
  .description('rebuild the hash table of the store (or of DIR); unchanged files are not re-read unless --force')
  .option('--force', 'hash every file again')
  .action(async (dir: string | undefined, opts: { force?: boolean }) => void (await runHashCommand(paths(), 'inithashtable', dir, opts)));

program
  .command('addhashtable <dir>')
  .description('add one DCP directory to the hash table (the way to feed it on hwecs)')
  .action(async (dir: string) => void (await runHashCommand(paths(), 'addhashtable', dir, {})));

program
  .command('status')
  .description('every task of this node: state, percent, rate (one line each)')
  .action(async () => {
    const p = paths();
    const log = silentLogger();
    const rows: string[][] = [];
    const receiver = new TaskSpool(p, 'receiver', RECEIVER_STATES, log);
    for (const state of RECEIVER_STATES) {
      for (const task of await receiver.list(state)) {
        let percent = '';
        let rate = '';
        let shown: string = state;
        if (state !== 'tmp') {
          const answer = await api('progress', { taskfile: `${task}.task.json` }).catch(() => undefined);
          const c = answer?.return_content ?? {};
          if (typeof c.status === 'string') shown = c.status;
          percent = String(c.totalpercent ?? '');
          rate = String(c.rate ?? '');
          if (c.downerror) rate = `${rate} ${String(c.downerror)}`.trim();
        }
        rows.push([`receiver/${shown}`, task, percent, rate]);
      }
    }
    const sender = new TaskSpool(p, 'sender', SENDER_STATES, log);
    for (const state of SENDER_STATES) for (const task of await sender.list(state)) rows.push([`sender/${state}`, task, '', '']);
    if (rows.length === 0) return console.log('no tasks');
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
    for (const r of rows) console.log(`${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padStart(widths[2])}  ${r[3]}`.trimEnd());
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`bft2: ${messageOf(err)}`);
  process.exit(2);
}
