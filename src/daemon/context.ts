// What every part of a running daemon shares: the root's paths, the current config (a
// getter, because `reloadconf` replaces it), the logger and the metrics.
import type { Paths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observe/metrics.ts';

export interface DaemonContext {
  readonly paths: Paths;
  config(): Config;
  readonly log: Logger;
  readonly version: string;
  /** Prometheus metrics (src/observe): `transferred()` where bytes move, `registerSeeding()` for seeds. */
  readonly metrics: Metrics;
}
