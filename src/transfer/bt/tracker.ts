// A BitTorrent tracker (bittorrent-tracker's Server) for config `embeddedtracker` and for
// tests: HTTP announces only — no UDP, no WebSocket (WebRTC) tracker, no /stats page.
// Owns the tracker's server and nothing else; peers and torrents are the client's.
import type { Logger } from '../../log/logger.ts';
import { installTrackerPatches } from './patches/index.ts';

export interface RunningTracker {
  /** `http://host:port/announce`: what torrents made for this tracker carry. */
  announceUrl: string;
  port: number;
  close(): Promise<void>;
}

export interface TrackerOptions {
  host: string;
  /** 0 lets the OS choose (tests). */
  port: number;
  /** The re-announce interval the tracker asks of clients; default 10 min (the package's). */
  intervalMs?: number;
  log?: Logger;
  /**
   * Which info hashes (40 hex) may be announced; default all. An embedded tracker reachable
   * from outside can be limited to the torrents its sender publishes.
   */
  allow?: (infoHash: string) => boolean;
}

export async function startTracker(opts: TrackerOptions): Promise<RunningTracker> {
  const allow = opts.allow;
  // Loaded only where a tracker runs (config `embeddedtracker`).
  await installTrackerPatches();
  const { Server } = await import('bittorrent-tracker');
  const server = new Server({
    http: true,
    udp: false,
    ws: false,
    stats: false,
    ...(opts.intervalMs ? { interval: opts.intervalMs } : {}),
    ...(allow
      ? { filter: (infoHash: string, _params: object, cb: (err?: Error | null) => void) => cb(allow(infoHash) ? null : new Error('torrent not tracked here')) }
      : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`tracker cannot listen on ${opts.host}:${opts.port}: ${err.message}`));
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // After start-up an 'error' (a bad socket) must not end the daemon; 'warning' is a
  // malformed announce from some client.
  server.on('error', (err: Error) => opts.log?.error(`tracker: ${err.message}`));
  server.on('warning', (err: Error) => opts.log?.debug(`tracker: ${err.message}`));
  const address = server.http!.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  opts.log?.info(`tracker: listening on http://${host}:${port}/announce`);
  return {
    announceUrl: `http://${host}:${port}/announce`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const http = server.http;
        server.close(() => resolve());
        // Clients keep their announce connections alive; without this close() waits for them.
        http?.closeAllConnections();
      }),
  };
}
