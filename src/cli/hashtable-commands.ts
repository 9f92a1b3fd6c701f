// `bft2 inithashtable [DIR]` and `bft2 addhashtable DIR`: indexing passes run in this
// process (the table's lock keeps them and a running daemon's watcher from clobbering
// each other). A progress bar on a terminal, a log line every few seconds otherwise.
import path from 'node:path';
import { existsSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { Paths } from '../config/paths.ts';
import { loadConfig } from '../config/load-config.ts';
import { createLogger, closeLogger } from '../log/logger.ts';
import { hashWorkers } from '../hashing/hash-workers.ts';
import { HashTableStore } from '../hashtable/hash-table.ts';
import { indexPass, under, type PassResult } from '../hashtable/indexer.ts';
import { CliFailure, missingPathMessage, type CliContext } from './cli-context.ts';

const MB = 1024 * 1024;

export async function runHashCommand(paths: Paths, command: 'inithashtable' | 'addhashtable', dirArg: string | undefined, opts: { force?: boolean }): Promise<PassResult> {
  const config = await loadConfig(paths.configFile);
  const base = paths.basedata(config);
  const log = createLogger(paths.hashLog);
  const store = new HashTableStore(paths, log);
  // inithashtable without DIR rebuilds the whole table: entries outside the store go too.
  const dir = dirArg ? path.resolve(dirArg) : base;
  const whole = command === 'inithashtable' && !dirArg;
  const bar = process.stdout.isTTY ? new cliProgress.SingleBar({ format: `${command} [{bar}] {percentage}% | {value}/{total} MB | {files}/{totalFiles} files`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  let lastLine = 0;
  let barStarted = false;
  const started = Date.now();
  log.info(`${command} ${dir}${opts.force ? ' (force)' : ''} started`);
  try {
    const result = await indexPass(store, hashWorkers, log, {
      dir,
      inScope: whole ? () => true : under(dir),
      force: opts.force,
      stableMs: 0,
      meta: whole ? { servertype: config.servertype, receiverstoreplan: config.receiverstoreplan, basedatapath: config.basedatapath } : undefined,
      onProgress: (p) => {
        if (bar) {
          if (!barStarted) {
            bar.start(Math.ceil(p.totalBytes / MB), 0, { files: 0, totalFiles: p.totalFiles });
            barStarted = true;
          }
          bar.update(Math.floor(p.bytes / MB), { files: p.files, totalFiles: p.totalFiles });
        } else if (Date.now() - lastLine > 5000 || p.files === p.totalFiles) {
          lastLine = Date.now();
          const line = `${command}: ${p.files}/${p.totalFiles} files, ${Math.floor(p.bytes / MB)}/${Math.ceil(p.totalBytes / MB)} MB`;
          console.log(line);
          log.info(line);
        }
      },
    });
    bar?.stop();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const summary = `${command} ${dir}: ${result.files} files, hashed ${result.hashed} (${Math.round(result.hashedBytes / MB)} MB) in ${secs} s, moved ${result.moved}, removed ${result.removed}`;
    console.log(summary);
    log.info(summary);
    return result;
  } finally {
    await hashWorkers.close();
    await closeLogger(log);
  }
}

export function registerHashtableCommands(program: Command, ctx: CliContext): void {
  const checkDir = (dir: string | undefined) => {
    if (dir !== undefined && !existsSync(dir)) throw new CliFailure(missingPathMessage(dir, ctx.root, 'directory'));
  };
  program
    .command('inithashtable [dir]')
    .description('rebuild the hash table of the store (or of DIR); unchanged files are not re-read unless --force')
    .summary('rebuild the hash table')
    .option('--force', 'hash every file again')
    .addHelpText('after', '\nWorks on the files directly (under the table\'s lock): no daemon needed, a running one is no obstacle.')
    .action(async (dir: string | undefined, opts: { force?: boolean }) => {
      checkDir(dir);
      await runHashCommand(ctx.paths, 'inithashtable', dir, opts);
    });

  program
    .command('addhashtable <dir>')
    .description('add one DCP directory to the hash table (the way to feed it on hwecs)')
    .summary('add one DCP to the hash table')
    .action(async (dir: string) => {
      checkDir(dir);
      await runHashCommand(ctx.paths, 'addhashtable', dir, {});
    });
}
