// Test wrapper around the production origin (src/origin/http-origin.ts): runs the real
// origin on 127.0.0.1:0 behind a tiny loopback TCP proxy that adds the faults tests
// need (a connection cut mid-body, a bandwidth cap) and keeps a request log.
// The faults live in the proxy so the production server carries no test-only knobs.
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startOrigin, type OriginRequestInfo } from '../../src/origin/http-origin.ts';

export interface TestOrigin {
  /** Base URL (the proxy) to which `/dcp/...` is appended. */
  url: string;
  /** The origin itself, without the proxy's faults. */
  directUrl: string;
  /** Every request the origin saw, in arrival order. */
  requests: OriginRequestInfo[];
  /** How many GETs had a (decoded) path ending with pathSuffix. */
  getsFor(pathSuffix: string): number;
  /** The next GET whose path ends with pathSuffix has its connection cut after ~afterBytes of body. */
  dropConnectionOnce(pathSuffix: string, afterBytes: number): void;
  /** Cap the total bandwidth origin → clients; null lifts the cap. */
  throttle(bytesPerSecond: number | null): void;
  close(): Promise<void>;
}

interface DropRule {
  suffix: string;
  afterBytes: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export async function startTestOrigin(rootDir: string): Promise<TestOrigin> {
  const requests: OriginRequestInfo[] = [];
  const origin = await startOrigin({
    rootDir,
    host: '127.0.0.1',
    port: 0,
    onRequest: (info) => requests.push(info),
  });
  const originPort = Number(new URL(origin.url).port);

  const drops: DropRule[] = [];
  let rate: number | null = null;
  // One schedule for all connections: the cap models the origin's uplink.
  let nextFree = 0;
  const sockets = new Set<net.Socket>();

  const proxy = net.createServer((client) => {
    const upstream = net.connect(originPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const cleanup = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cleanup);
    upstream.on('error', cleanup);
    client.on('close', cleanup);
    upstream.on('close', cleanup);

    // Client → origin: forwarded as is; request heads are sniffed so a drop rule can
    // arm this connection. Clients here (undici, curl) do not pipeline, so the next
    // response bytes after a request belong to that request.
    let reqBuf = Buffer.alloc(0);
    let bodyToSkip = 0;
    let armed: DropRule | undefined;
    client.on('data', (chunk: Buffer) => {
      let data = chunk;
      while (data.length > 0) {
        if (bodyToSkip > 0) {
          const n = Math.min(bodyToSkip, data.length);
          bodyToSkip -= n;
          data = data.subarray(n);
          continue;
        }
        reqBuf = Buffer.concat([reqBuf, data]);
        data = Buffer.alloc(0);
        const end = reqBuf.indexOf(HEADER_END);
        if (end === -1) break;
        const head = reqBuf.subarray(0, end).toString('latin1');
        const rest = reqBuf.subarray(end + HEADER_END.length);
        reqBuf = Buffer.alloc(0);
        const [method = '', target = ''] = head.split('\r\n', 1)[0].split(' ');
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        bodyToSkip = cl ? Number(cl[1]) : 0;
        if (method === 'GET') onGet(target);
        data = rest;
      }
    });
    const onGet = (target: string): void => {
      let p = target.split('?')[0];
      try {
        p = decodeURIComponent(p);
      } catch {
        // keep the raw form
      }
      const i = drops.findIndex((d) => p.endsWith(d.suffix));
      if (i !== -1) {
        armed = drops[i];
        drops.splice(i, 1);
        resHeadSeen = false;
        resHeadBuf = Buffer.alloc(0);
        bodySent = 0;
      }
    };

    // Origin → client: throttled, and cut when an armed response has sent enough body.
    let resHeadSeen = false;
    let resHeadBuf = Buffer.alloc(0);
    let bodySent = 0;
    let waitingDrain = false;
    let waitingTimer = false;
    let cut = false;
    const maybeResume = (): void => {
      if (!waitingDrain && !waitingTimer && !cut) upstream.resume();
    };
    client.on('drain', () => {
      waitingDrain = false;
      maybeResume();
    });

    const forward = (chunk: Buffer): void => {
      if (client.destroyed || cut) return;
      if (armed) {
        let bodyPart = chunk;
        if (!resHeadSeen) {
          resHeadBuf = Buffer.concat([resHeadBuf, chunk]);
          const end = resHeadBuf.indexOf(HEADER_END);
          if (end === -1) {
            if (!client.write(chunk)) waitingDrain = true;
            return;
          }
          resHeadSeen = true;
          const headLenInChunk = chunk.length - (resHeadBuf.length - (end + HEADER_END.length));
          bodyPart = chunk.subarray(headLenInChunk);
          if (!client.write(chunk.subarray(0, headLenInChunk))) waitingDrain = true;
          resHeadBuf = Buffer.alloc(0);
        }
        const room = armed.afterBytes - bodySent;
        if (bodyPart.length >= room) {
          const last = bodyPart.subarray(0, Math.max(0, room));
          armed = undefined;
          cut = true;
          upstream.pause();
          // Let the last bytes reach the client before the cut, so "after N bytes" holds.
          client.write(last, () => cleanup());
          return;
        }
        bodySent += bodyPart.length;
        if (!client.write(bodyPart)) waitingDrain = true;
        return;
      }
      if (!client.write(chunk)) waitingDrain = true;
    };

    upstream.on('data', (chunk: Buffer) => {
      if (rate === null) {
        forward(chunk);
        if (waitingDrain) upstream.pause();
        return;
      }
      const now = Date.now();
      nextFree = Math.max(nextFree, now) + (chunk.length / rate) * 1000;
      const delay = nextFree - now - (chunk.length / rate) * 1000;
      upstream.pause();
      waitingTimer = true;
      setTimeout(() => {
        waitingTimer = false;
        forward(chunk);
        maybeResume();
      }, Math.max(0, delay)).unref();
    });
    upstream.on('end', () => client.end());
    client.pipe(upstream);
  });

  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', () => {
      proxy.off('error', reject);
      resolve();
    });
  });
  const proxyPort = (proxy.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${proxyPort}`,
    directUrl: origin.url,
    requests,
    getsFor: (suffix) => requests.filter((r) => r.method === 'GET' && r.path.endsWith(suffix)).length,
    dropConnectionOnce: (suffix, afterBytes) => {
      drops.push({ suffix, afterBytes });
    },
    throttle: (bps) => {
      if (bps !== null && !(bps > 0)) throw new RangeError(`throttle: bytesPerSecond must be > 0 or null, got ${bps}`);
      rate = bps;
      nextFree = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await origin.close();
    },
  };
}
