// The read-only HTTP side of observability (SPEC §10): `GET /metrics` (Prometheus text),
// `GET /` (the status page: status-page.html rendered by status-page.ts) and
// `GET /status.json` (the same snapshot as data). Served by the API server on the API address, or — when config `metricslisten`
// names another address — by a small server of its own here, which answers nothing else.
// Owns: these three routes and that server. Must not touch: any state (GET only; the
// status comes from status-snapshot.ts, the figures from metrics.ts).
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { messageOf } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from './metrics.ts';
import type { StatusSnapshot } from './status-snapshot.ts';
import { renderStatusPage } from './status-page.ts';

export const OBSERVE_PATHS = ['/', '/metrics', '/status.json'] as const;

/** Answers a GET of one of OBSERVE_PATHS and returns true; false for any other request. */
export type ObserveHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export interface ObserveDeps {
  metrics: Metrics;
  snapshot(): Promise<StatusSnapshot>;
  log: Logger;
  /** A snapshot this young is served again (several open pages, and the page and status.json, share one gathering); default 1000 ms. */
  snapshotMaxAgeMs?: number;
}

interface Page {
  html: string;
  csp: string;
}

/** Where the page is: beside this module in src/, or in src/ beside dist/ (the build copies no HTML; releases ship src/). */
const PAGE_CANDIDATES = [new URL('./status-page.html', import.meta.url), new URL('../../src/observe/status-page.html', import.meta.url)];

async function loadPage(): Promise<Page> {
  let html: string | undefined;
  for (const url of PAGE_CANDIDATES) {
    html = await readFile(url, 'utf8').catch(() => undefined);
    if (html !== undefined) break;
  }
  if (html === undefined) throw new Error(`status page not found (looked for ${PAGE_CANDIDATES.map((u) => u.pathname).join(', ')})`);
  // Only the page's own inline script and style may run: an injected <script> or an
  // onerror= attribute would be refused by the browser even if escaping ever failed.
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`).join(' ');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

export function createObserveHandler(deps: ObserveDeps): ObserveHandler {
  let page: Promise<Page> | undefined;
  const maxAge = deps.snapshotMaxAgeMs ?? 1000;
  let last: { at: number; snapshot: Promise<StatusSnapshot> } | undefined;
  const snapshot = (): Promise<StatusSnapshot> => {
    if (last && Date.now() - last.at < maxAge) return last.snapshot;
    const gathered = deps.snapshot();
    last = { at: Date.now(), snapshot: gathered };
    gathered.catch(() => (last = undefined));
    return gathered;
  };

  const routes: Record<(typeof OBSERVE_PATHS)[number], () => Promise<{ type: string; body: string; headers?: Record<string, string> }>> = {
    '/metrics': async () => ({ type: deps.metrics.contentType, body: await deps.metrics.render() }),
    '/status.json': async () => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(await snapshot()) }),
    '/': async () => {
      page ??= loadPage();
      page.catch(() => (page = undefined));
      const [p, s] = await Promise.all([page, snapshot()]);
      return { type: 'text/html; charset=utf-8', body: renderStatusPage(p.html, s), headers: { 'content-security-policy': p.csp, 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' } };
    },
  };

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const pathname = new URL(req.url ?? '/', 'http://observe').pathname;
    const route = routes[pathname as keyof typeof routes];
    if (!route) return false;
    route().then(
      ({ type, body, headers }) => {
        res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
        res.end(body);
      },
      (err) => {
        deps.log.warn(`GET ${pathname}: ${messageOf(err)}`);
        const body = `${pathname}: ${messageOf(err)}\n`;
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
        res.end(body);
      },
    );
    return true;
  };
}

export interface ObserveServer {
  /** `host:port` it listens on. */
  readonly address: string;
  close(): Promise<void>;
}

/** The server of `metricslisten`: the observe routes and nothing else (404), GET only (405). */
export async function startObserveServer(handler: ObserveHandler, host: string, port: number): Promise<ObserveServer> {
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    if (handler(req, res)) return;
    const notGet = req.method !== 'GET';
    const body = notGet ? `${req.method} not allowed: this address serves GET ${OBSERVE_PATHS.join(', ')}\n` : `not found; this address serves ${OBSERVE_PATHS.join(', ')}\n`;
    res.writeHead(notGet ? 405 : 404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(notGet ? { allow: 'GET' } : {}) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as { address: string; port: number };
  return {
    address: `${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
