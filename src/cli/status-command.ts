// `bft2 status [--json] [--watch]`: every task of every role on this root
// (src/observe/status-rows.ts gathers them; the daemon's status page uses it too). Plain: one line per task. --json: an array of row objects. --watch: live
// bars, one per task and one per method of its share, redrawn until Ctrl-C (on a terminal;
// elsewhere the table is printed again every interval).
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { formatLocalTime } from '../util/time.ts';
import { CliFailure, EXIT, sleep, type CliContext } from './cli-context.ts';
import { isBft2Error } from '../errors/catalogue.ts';
import { collectStatus, formatEta, formatRows, type StatusResult, type StatusRow } from '../observe/status-rows.ts';

async function gather(ctx: CliContext): Promise<StatusResult> {
  const result = await collectStatus(ctx.paths, await ctx.config(), (m, p) => ctx.api(m, p));
  // Whether the daemon runs is news even when no task asked it anything; and how it watches.
  if (!result.unreachable) {
    try {
      result.watching = (JSON.parse((await ctx.get('/health')).text) as { watching?: string }).watching;
    } catch (err) {
      if (!isBft2Error(err) || err.code !== 'API_UNREACHABLE') throw err;
      result.unreachable = err.message;
      for (const r of result.rows) if (!r.reason) r.reason = 'daemon not reachable';
    }
  }
  return result;
}

/** The line that says the daemon polls its directories (inotify out of watches), or nothing. */
function watchingLine(result: StatusResult): string[] {
  return result.watching && result.watching !== 'inotify' ? [`watching: ${result.watching}: pickup is slower; raise fs.inotify.max_user_watches (the log says how)`] : [];
}

function report(result: StatusResult): void {
  if (result.unreachable) {
    console.error(`bft2: ${result.unreachable}`);
    process.exitCode = EXIT.unreachable;
  }
}

const pctNum = (p: string) => {
  const n = Number.parseFloat(p);
  return Number.isFinite(n) ? n : 0;
};

async function watch(ctx: CliContext, intervalMs: number): Promise<void> {
  let stopped = false;
  const bars = process.stdout.isTTY
    ? new cliProgress.MultiBar(
        { format: '{label} |{bar}| {pct} {info}', hideCursor: true, clearOnComplete: false, barsize: 20, autopadding: true, forceRedraw: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const live = new Map<string, cliProgress.SingleBar>();
  let unreachable = false;
  const stop = () => {
    stopped = true;
    bars?.stop();
    process.exit(unreachable ? EXIT.unreachable : EXIT.ok);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  while (!stopped) {
    const result = await gather(ctx);
    unreachable = result.unreachable !== undefined;
    if (!bars) {
      console.log(`--- ${formatLocalTime()}${result.unreachable ? ` (${result.unreachable})` : ''}`);
      for (const l of [...watchingLine(result), ...(result.rows.length ? formatRows(result.rows) : ['no tasks'])]) console.log(l);
    } else {
      const seen = new Set<string>();
      const put = (key: string, value: number, payload: Record<string, string>) => {
        seen.add(key);
        const bar = live.get(key);
        if (bar) bar.update(value, payload);
        else live.set(key, bars.create(1000, value, payload));
      };
      const labelWidth = Math.max(10, ...result.rows.map((r) => `${r.role}/${r.state} ${r.task}`.length));
      for (const r of result.rows) {
        const key = `${r.role}/${r.task}`;
        const info = [r.rate, formatEta(r.etaMinutes), r.reason].filter(Boolean).join('  ');
        put(key, Math.round(pctNum(r.percent) * 10), { label: `${r.role}/${r.state} ${r.task}`.padEnd(labelWidth), pct: (r.percent || '-').padStart(8), info });
        for (const [m, frac] of Object.entries(r.methods) as [string, number][]) {
          if (r.state !== 'downloading' && r.state !== 'uploading') continue;
          const rate = r.answer ? String(r.answer[`${m}rate`] ?? '') : '';
          put(`${key}/${m}`, Math.round(frac * 1000), { label: `  ${m}`.padEnd(labelWidth), pct: `${(frac * 100).toFixed(1)}%`.padStart(8), info: rate });
        }
      }
      for (const [key, bar] of live) {
        if (seen.has(key)) continue;
        bars.remove(bar);
        live.delete(key);
      }
      if (result.unreachable && !seen.size) bars.log(`${result.unreachable}\n`);
    }
    await sleep(intervalMs);
  }
}

export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('every task of every role: state, percent, rate, ETA, and why it waits or failed (one line each)')
    .summary('every task: state, percent, rate, ETA')
    .option('--json', 'print an array of objects (role, state, task, dir, taskfile, percent, rate, etaMinutes, reason, methods, answer)')
    .option('--watch', 'redraw live bars per task and per method until Ctrl-C')
    .option('--interval <seconds>', 'with --watch: seconds between redraws', '1')
    .addHelpText('after', '\nColumns: role/state, task, percent, rate, ETA, reason. State is the API\'s status\n(downloading, ready, seeding, ...), else the spool directory. Exit status 2 when the\ndaemon is not reachable, also with no task (the rows then show the spool directories\nonly; --watch: when it was not reachable at the last redraw).')
    .action(async (o: { json?: boolean; watch?: boolean; interval: string }) => {
      if (o.watch) {
        if (o.json) throw new CliFailure('--watch and --json do not go together');
        const s = Number(o.interval);
        if (!Number.isFinite(s) || s <= 0) throw new CliFailure(`--interval must be a number of seconds above 0: ${o.interval}`);
        return watch(ctx, s * 1000);
      }
      const result = await gather(ctx);
      if (o.json) console.log(JSON.stringify(result.rows, null, 2));
      else for (const l of [...watchingLine(result), ...(result.rows.length ? formatRows(result.rows) : [result.unreachable ? 'no tasks in the spool' : 'no tasks'])]) console.log(l);
      report(result);
    });
}

export type { StatusRow };
