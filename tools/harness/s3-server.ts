// Test helper: a real S3-compatible store (s3rver, storing on disk) on 127.0.0.1 standing
// in for Huawei OBS (TESTBED "OBS against a local S3-compatible store"), with one bucket
// and a log of every request it received (method, path, query), so tests can count the
// part PUTs an upload sent. Owns only its temp directory; touches nothing of bft2.
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface S3Request {
  method: string;
  /** Decoded path, `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  /** The `Range` header, when the request had one. */
  range?: string;
}

export interface TestS3 {
  endpoint: string;
  ak: string;
  sk: string;
  bucket: string;
  /** s3rver's storage directory. */
  dir: string;
  /** Every request, in arrival order. */
  requests: S3Request[];
  /** Part PUTs (`?partNumber=&uploadId=`) whose key ends with keySuffix. */
  partPuts(keySuffix?: string): S3Request[];
  /** GETs of objects whose key ends with keySuffix. */
  gets(keySuffix: string): S3Request[];
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer: Server;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;
// CommonJS without types: typed here rather than through a global declaration.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

export async function startS3Server(opts: { bucket?: string } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? 'cfec-001';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bft2-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir,
    silent: true,
    configureBuckets: [{ name: bucket }],
    // s3rver builds its v2 string-to-sign without the Date header the OBS SDK signs, so
    // every SDK request would fail SignatureDoesNotMatch (TESTBED). Unknown access keys
    // are still refused.
    allowMismatchedSignatures: true,
  });
  const address = await server.run();
  const requests: S3Request[] = [];
  server.httpServer.prependListener('request', (req: IncomingMessage) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    let p = u.pathname;
    try {
      p = decodeURIComponent(p);
    } catch {
      // keep the raw form
    }
    requests.push({ method: req.method ?? '', path: p, query: u.searchParams, range: req.headers.range });
  });
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    ak: 'S3RVER',
    sk: 'S3RVER',
    bucket,
    dir,
    requests,
    partPuts: (keySuffix = '') =>
      requests.filter((r) => r.method === 'PUT' && r.query.has('partNumber') && r.query.has('uploadId') && r.path.endsWith(keySuffix)),
    gets: (keySuffix) => requests.filter((r) => r.method === 'GET' && r.path.endsWith(keySuffix)),
    close: async () => {
      server.httpServer.closeAllConnections();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
