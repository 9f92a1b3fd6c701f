// A real HTTP server on 127.0.0.1 that misbehaves on purpose, for the trust-boundary tests
// (SPEC §4): every route is one way a CDN, an origin or a torrent host can be wrong.
// `/endless/<any>`: 200 with no length and a body that never ends; `/toolong/<any>`: a
// Content-Length of `size` but more bytes; `/short/<any>`: fewer bytes, then close;
// `/status/<code>/<any>`: that status; `/redirect-loop/<any>`: redirects to itself;
// `/redirect-file/<any>`: redirects to file:///etc/passwd; `/redirect-chain/<n>/<rest>`:
// n redirects, then to `<target>/<rest>` (a good origin). Counts bytes it sent per route,
// so a test can assert the client stopped reading.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostileServer {
  url: string;
  /** Bytes written to clients per first path segment (endless, toolong, ...). */
  sent: Map<string, number>;
  requests: string[];
  /** Where `/redirect-chain/` ends: a good origin's base URL. */
  setTarget(url: string): void;
  close(): Promise<void>;
}

export async function startHostileServer(): Promise<HostileServer> {
  const sent = new Map<string, number>();
  const requests: string[] = [];
  let target = '';
  const count = (route: string, n: number) => sent.set(route, (sent.get(route) ?? 0) + n);
  const chunk = Buffer.alloc(64 * 1024, 0x5a);

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(`${req.method} ${url}`);
    const parts = url.split('/').filter(Boolean);
    const route = parts[0] ?? '';
    switch (route) {
      case 'endless': {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) count(route, chunk.length);
          if (!res.destroyed) count(route, chunk.length);
        };
        res.on('drain', pump);
        res.on('close', () => res.off('drain', pump));
        pump();
        return;
      }
      case 'toolong': {
        // Claims 1000 bytes, sends 10 MB.
        res.writeHead(200, { 'content-length': '1000' });
        res.flushHeaders();
        const socket = res.socket!;
        for (let i = 0; i < 160 && !socket.destroyed; i++) {
          socket.write(chunk);
          count(route, chunk.length);
        }
        socket.end();
        return;
      }
      case 'short': {
        res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        res.write(chunk);
        count(route, chunk.length);
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      case 'status': {
        const code = Number(parts[1]);
        res.writeHead(Number.isInteger(code) && code >= 200 && code < 600 ? code : 500, { 'content-length': '0' });
        res.end();
        return;
      }
      case 'redirect-loop':
        res.writeHead(302, { location: url, 'content-length': '0' });
        res.end();
        return;
      case 'redirect-file':
        res.writeHead(302, { location: 'file:///etc/passwd', 'content-length': '0' });
        res.end();
        return;
      case 'redirect-chain': {
        const n = Number(parts[1]);
        const rest = parts.slice(2).join('/');
        const location = n > 1 ? `/redirect-chain/${n - 1}/${rest}` : `${target}/${rest}`;
        res.writeHead(307, { location, 'content-length': '0' });
        res.end();
        return;
      }
      default:
        res.writeHead(404, { 'content-length': '0' });
        res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    requests,
    setTarget: (u) => (target = u),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
