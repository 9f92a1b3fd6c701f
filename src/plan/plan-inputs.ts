// What a plan takes besides the scenario, and where each part comes from: the prices (the
// scenario's `prices`, else config.json's btprice/obsprice/cdnprice/currency, else 0) and
// the windows (the scenario's centre config, else config.json's bttime/obstime/cdntime,
// else the defaults). Shared by `bft2 plan` and `gentask --btobscdn auto`.
// Owns: that precedence. Must not touch files (the caller reads the config).
import { METHODS, type Method } from '../task/schema.ts';
import { priceList, type PriceList } from '../cost/cost-math.ts';
import { configDefault } from '../config/config-keys.ts';
import type { Config } from '../config/schema.ts';
import type { Scenario } from './scenario.ts';
import type { ModelSources } from './fleet-model.ts';
import type { PriceSources } from './plan-report.ts';

export interface PlanInputs {
  prices: PriceList;
  priceSources: PriceSources;
  sources: ModelSources;
  windowsFrom: string;
}

/** `config` is this node's config.json (undefined when there is none), `configFile` its path for the words. */
export function planInputs(s: Scenario, config: Config | undefined, configFile: string): PlanInputs {
  const priceSources = {} as PriceSources;
  const spec: Record<string, string> = {};
  for (const m of METHODS as readonly Method[]) {
    const key = `${m}price` as const;
    const given = s.prices?.[m];
    if (given !== undefined) priceSources[m] = { spec: given, from: 'scenario' };
    else if (config && config[key] !== '') priceSources[m] = { spec: config[key], from: configFile };
    else priceSources[m] = { spec: '', from: 'default' };
    spec[key] = priceSources[m].spec;
  }
  const currency = s.prices?.currency ?? config?.currency ?? String(configDefault('currency'));
  const prices = priceList({ btprice: spec.btprice, obsprice: spec.obsprice, cdnprice: spec.cdnprice, currency });
  const centre = { ...s.config.default, ...s.config.centre };
  const fromScenario = METHODS.every((m) => centre[`${m}time`] !== undefined);
  const sources: ModelSources = config ? { windowsFallback: { bttime: config.bttime, obstime: config.obstime, cdntime: config.cdntime } } : {};
  const windowsFrom = fromScenario ? "the scenario's centre config" : config ? `the scenario's centre config, else ${configFile}` : "the scenario's centre config, else the defaults";
  return { prices, priceSources, sources, windowsFrom };
}
