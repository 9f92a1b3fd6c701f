// What every part of a running daemon shares: the root's paths, the current config (a
// getter, because `reloadconf` replaces it), the logger, the one scheduler of transfer
// windows, the node's bandwidth caps, the metrics, the trackers' answers and the crash guard.
import type { Paths } from '../config/paths.ts';
import type { WindowScheduler } from '../schedule/window-scheduler.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { TransferCaps } from '../download/transfer-caps.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { TrackerReports } from '../observe/tracker-reports.ts';
import type { CrashGuard } from '../spool/crash-guard.ts';

export interface DaemonContext {
  readonly paths: Paths;
  config(): Config;
  readonly log: Logger;
  readonly version: string;
  /** One timer for every transfer window of the node (SPEC §8). */
  readonly scheduler: WindowScheduler;
  /** btlimit / obslimit / cdnlimit / btuploadlimit, shared by every task of a method. */
  readonly caps: TransferCaps;
  /** Prometheus metrics (src/observe): `transferred()` where bytes move, `registerSeeding()` for seeds. */
  readonly metrics: Metrics;
  /** What the BitTorrent trackers last answered for each torrent of the node. */
  readonly trackers: TrackerReports;
  /** Which tasks were running when the daemon last crashed (src/spool/crash-guard.ts). */
  readonly guard: CrashGuard;
}
