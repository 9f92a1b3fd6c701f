// Shared bits of the OBS tests: a client for the test store, the sha1 of an object read
// back through the real GET path, a recursive file listing, a logger that keeps its lines
// for assertions, and a TCP proxy that drops one download mid-body. Owns nothing on disk;
// touches no production code.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import * as net from 'node:net';
import winston from 'winston';
import Transport from 'winston-transport';
import { createObsClient, type ObsClient } from '../../src/transfer/obs/obs-client.ts';
import type { TestS3 } from '../../tools/harness/s3-server.ts';
import type { Logger } from '../../src/log/logger.ts';

export const MB = 1024 * 1024;

export function clientFor(s3: TestS3): Promise<ObsClient> {
  return createObsClient({ ak: s3.ak, sk: s3.sk, endpoint: s3.endpoint, signature: 'v2', pathStyle: true });
}

export async function objectSha1(client: ObsClient, bucket: string, key: string): Promise<string> {
  const h = createHash('sha1');
  // s3rver answers a range GET of an empty object with a broken 206 (`bytes 0-0/0`, length 1).
  if ((await client.headObject(bucket, key))?.size === 0) return h.digest('hex');
  const obj = await client.getObjectFrom(bucket, key, { start: 0, signal: new AbortController().signal });
  for await (const chunk of obj.body) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every regular file under dir, as `/`-separated relative paths, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'))
    .sort();
}

class Collect extends Transport {
  constructor(private readonly lines: string[]) {
    super();
  }
  override log(info: { level: string; message: unknown }, next: () => void): void {
    this.lines.push(`${info.level}: ${String(info.message)}`);
    next();
  }
}

export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: winston.createLogger({ level: 'debug', transports: [new Collect(lines)] }), lines };
}

/**
 * A loopback TCP proxy in front of the store that can cut one GET's connection after a
 * number of response bytes (a dropped download). The SDK opens one connection per request,
 * so the first request line of a connection says which object it carries.
 */
export interface CutProxy {
  endpoint: string;
  /** The next GET whose path ends with pathSuffix loses its connection after ~afterBytes of response. */
  cutOnce(pathSuffix: string, afterBytes: number): void;
  close(): Promise<void>;
}

export async function startCutProxy(targetEndpoint: string): Promise<CutProxy> {
  const target = new URL(targetEndpoint);
  const rules: { suffix: string; afterBytes: number }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    let rule: { afterBytes: number } | undefined;
    let first = true;
    client.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        const [method, target = ''] = chunk.toString('latin1').split('\r\n', 1)[0].split(' ');
        const p = decodeURIComponent(target.split('?')[0]);
        const i = rules.findIndex((r) => method === 'GET' && p.endsWith(r.suffix));
        if (i !== -1) rule = rules.splice(i, 1)[0];
      }
      upstream.write(chunk);
    });
    let sent = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (rule && sent + chunk.length >= rule.afterBytes) {
        client.write(chunk.subarray(0, Math.max(0, rule.afterBytes - sent)), () => {
          client.destroy();
          upstream.destroy();
        });
        rule = undefined;
        upstream.pause();
        return;
      }
      sent += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cutOnce: (suffix, afterBytes) => rules.push({ suffix, afterBytes }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
