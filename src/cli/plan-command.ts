// `bft2 plan SCENARIO.json [--json] [--deadline "YYYY-MM-DD HH:MM"] [--start ...] [--plot FILE] [--all]`
// (SPEC §12): the planner (src/plan) on a fleet described in the delivery lab's scenario
// format. No daemon needed; config.json (under --root) gives the prices and windows the
// scenario leaves out, when there is one.
// Exit status: 0; 1 when a deadline is given and no split meets it, or on bad input.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadScenario, parseLocalMinute, ScenarioError } from '../plan/scenario.ts';
import { plan } from '../plan/planner.ts';
import { planInputs } from '../plan/plan-inputs.ts';
import { formatPlan, planJson } from '../plan/plan-report.ts';
import { planSvg } from '../plan/plan-plot.ts';
import { CliFailure, EXIT, userPath, missingPathMessage, type CliContext } from './cli-context.ts';

interface PlanOpts {
  json?: boolean;
  deadline?: string;
  start?: string;
  plot?: string;
  all?: boolean;
}

function localMinuteOption(name: string, value: string): Date {
  const d = parseLocalMinute(value);
  if (!d) throw new CliFailure(`${name} ${JSON.stringify(value)}: must be a local time "YYYY-MM-DD HH:MM", e.g. "2026-03-06 18:00"`);
  return d;
}

export function registerPlanCommand(program: Command, ctx: CliContext): void {
  program
    .command('plan <scenario>')
    .description('predict, for each bt:obs:cdn split and policy, when each tier of cinemas has the DCP and what the delivery costs; choose the cheapest that meets the deadline')
    .summary('plan a delivery: which split, when, what it costs')
    .option('--deadline <time>', 'every cinema must have the DCP by then, "YYYY-MM-DD HH:MM" local time (default: the scenario\'s deadline; none: show the cheapest and the fastest)')
    .option('--start <time>', 'when the task is handed out, "YYYY-MM-DD HH:MM" (default: the scenario\'s start, else now)')
    .option('--json', 'print the plan as JSON (for scripts)')
    .option('--plot <file>', 'also write an SVG plot of finish time against cost')
    .option('--all', 'list every candidate, not only the first 20 by cost')
    .addHelpText(
      'after',
      '\nThe scenario is the delivery lab\'s format (hosts, links, cachers, cinemas in tiers, DCP, events)\nplus optional "prices" and "deadline"; see docs/plan.md and docs/fleet.example.json.\nPrices the scenario does not give come from config.json under --root, else 0.\n\nExample:\n  bft2 plan docs/fleet.example.json --deadline "2026-03-06 18:00" --plot plan.svg',
    )
    .action(async (file: string, o: PlanOpts) => {
      const scenarioFile = userPath(file);
      if (!existsSync(scenarioFile)) throw new CliFailure(missingPathMessage(file, ctx.root));
      let scenario;
      try {
        scenario = await loadScenario(scenarioFile);
      } catch (err) {
        if (err instanceof ScenarioError) throw new CliFailure(err.message);
        throw err;
      }
      const configFile = ctx.paths.configFile;
      const config = existsSync(configFile) ? await ctx.config() : undefined;
      const inputs = planInputs(scenario, config, configFile);
      const start = o.start ? localMinuteOption('--start', o.start) : scenario.start ? parseLocalMinute(scenario.start)! : new Date();
      const deadline = o.deadline ? localMinuteOption('--deadline', o.deadline) : scenario.deadline ? parseLocalMinute(scenario.deadline)! : undefined;
      if (deadline && deadline.getTime() <= start.getTime()) throw new CliFailure(`the deadline ${o.deadline ?? scenario.deadline} is not after the hand-out (${o.start ?? scenario.start ?? 'now'})`);
      let p;
      try {
        p = plan({ scenario, prices: inputs.prices, start, deadline, sources: inputs.sources });
      } catch (err) {
        if (err instanceof ScenarioError) throw new CliFailure(`scenario ${scenarioFile}: ${err.message}`);
        throw err;
      }
      if (o.plot) await writeFile(userPath(o.plot), planSvg(p));
      if (o.json) console.log(JSON.stringify(planJson(p), null, 2));
      else console.log(formatPlan(p, { file, prices: inputs.priceSources, windowsFrom: inputs.windowsFrom, all: o.all }));
      if (o.plot && !o.json) console.error(`plot written to ${userPath(o.plot)}`);
      if (deadline && !p.recommended) process.exitCode = EXIT.failed;
    });
}
