// The daemon's observability in one object, so the daemon wires it in a few lines: the
// metrics (`ctx.metrics`), the trackers' last answers (`ctx.trackers`), the ring of recent
// warnings and errors from its logs, and the
// read-only HTTP routes — on the API address, or on `metricslisten` with a server of
// their own.
// Owns: the Metrics, the RecentLog and the `metricslisten` server. Must not touch: the
// API server (it only hands it a handler) or the parts it reads.
import type { Paths } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { Metrics, type MetricsSources } from './metrics.ts';
import { RecentLog } from './recent-log.ts';
import { TrackerReports } from './tracker-reports.ts';
import { createObserveHandler, startObserveServer, type ObserveHandler, type ObserveServer } from './observe-http.ts';
import { statusSnapshot } from './status-snapshot.ts';
import type { AskApi } from './status-rows.ts';

export interface ObservabilityOptions {
  paths: Paths;
  config(): Config;
  version: string;
  /** The daemon's log (bftv2.log); its warnings and errors are kept for the page. */
  log: Logger;
  /** Further logs whose warnings and errors are kept too, by name (e.g. mhashtable). */
  moreLogs?: Record<string, Logger>;
}

export class Observability {
  readonly metrics: Metrics;
  readonly recentLog = new RecentLog(100);
  /** What the BitTorrent trackers last answered for each torrent (fed by the daemon's client). */
  readonly trackers: TrackerReports;
  private server?: ObserveServer;

  constructor(private readonly opts: ObservabilityOptions) {
    this.metrics = new Metrics({ paths: opts.paths, config: opts.config, version: opts.version, log: opts.log });
    this.trackers = new TrackerReports(opts.log, (ok) => this.metrics.announced(ok));
    this.metrics.watchTrackers(() => this.trackers.failing());
    this.recentLog.onLine((line) => this.metrics.logged(line.level));
    this.recentLog.attach(opts.log, 'bftv2');
    for (const [name, logger] of Object.entries(opts.moreLogs ?? {})) this.recentLog.attach(logger, name);
  }

  /** Once the parts exist: what the metrics read at scrape time, and the routes' handler (`ask`: the API in-process). */
  handler(sources: MetricsSources & { ask: AskApi }): ObserveHandler {
    this.metrics.attach(sources);
    const { paths, config, version } = this.opts;
    return createObserveHandler({
      metrics: this.metrics,
      log: this.opts.log,
      snapshot: () => statusSnapshot({ paths, config, version, ask: sources.ask, recentLog: this.recentLog }),
    });
  }

  /** The `metricslisten` server (`host:port`); the API address then serves none of these routes. */
  async listen(hostPort: string, handler: ObserveHandler): Promise<void> {
    const i = hostPort.lastIndexOf(':');
    this.server = await startObserveServer(handler, hostPort.slice(0, i), Number(hostPort.slice(i + 1)));
    this.opts.log.info(`metrics and status page at http://${hostPort}/`);
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.metrics.close();
  }
}
