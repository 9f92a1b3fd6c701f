// What every part of a running daemon shares: the root's paths, the current config (a
// getter, because `reloadconf` replaces it), the logger and the one window scheduler.
import type { Paths } from '../config/paths.ts';
import type { WindowScheduler } from '../schedule/window-scheduler.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

export interface DaemonContext {
  readonly paths: Paths;
  config(): Config;
  readonly log: Logger;
  readonly version: string;
  /** The daemon's one transfer-window scheduler (SPEC §8): every role subscribes here, one timer for all. */
  readonly scheduler: WindowScheduler;
}
