// What every part of a running daemon shares: the root's paths, the current config (a
// getter, because `reloadconf` replaces it) and the logger.
import type { Paths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

export interface DaemonContext {
  readonly paths: Paths;
  config(): Config;
  readonly log: Logger;
  readonly version: string;
}
