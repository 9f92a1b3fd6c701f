// The sender's read-only HTTP origin (SPEC §3 `httporigin`, §7): serves the DCP store
// at `/dcp/<relative path>` with GET, HEAD and single byte ranges, so receivers' CDN
// downloads (and `bt.url` torrent fetches) work without an external web server.
// Owns: URL-to-file mapping and its confinement to rootDir, range/validator
// handling, and streaming a file to one response.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface OriginRequestInfo {
  method: string;
  /** Request path without the query, percent-decoded when the encoding is valid. */
  path: string;
  range?: string;
}

export interface OriginOptions {
  rootDir: string;
  /** Default '/dcp/'. */
  urlPrefix?: string;
  onRequest?: (info: OriginRequestInfo) => void;
  /**
   * Bytes of a file sent in one response, once it ended: what the sender counts as uploaded by
   * CDN. A response the client cut off counts what was read for it (up to one read, 1 MiB,
   * more than reached the client).
   */
  onServed?: (urlPath: string, bytes: number) => void;
}

export interface StartedOrigin {
  server: http.Server;
  /** http://HOST:PORT, no trailing slash; `/dcp/...` is appended to it. */
  url: string;
  close(): Promise<void>;
}

// Big reads keep syscalls per GiB low; a DCP file is read end to end.
const READ_CHUNK = 1024 * 1024;

// Errors from resolving or opening a path that mean "there is nothing for you here".
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EACCES', 'EPERM', 'EISDIR']);

class NotFound extends Error {}

export function createOriginServer(opts: OriginOptions): http.Server {
  const prefix = normalisePrefix(opts.urlPrefix ?? '/dcp/');
  // realpath of the root is resolved lazily (and re-resolved on failure) so the
  // origin can be created before the store directory exists.
  let rootReal: string | undefined;
  const getRoot = async (): Promise<string> => {
    if (rootReal === undefined) rootReal = await realpath(path.resolve(opts.rootDir));
    return rootReal;
  };

  const server = http.createServer((req, res) => {
    handle(req, res, prefix, getRoot, opts.onRequest, opts.onServed).catch((err: unknown) => {
      // Only reachable on a bug or an I/O error before headers: never crash the daemon.
      if (!res.headersSent) {
        sendStatus(res, 500);
      } else {
        res.destroy(err instanceof Error ? err : undefined);
      }
    });
  });
  return server;
}

export async function startOrigin(opts: OriginOptions & { host: string; port: number }): Promise<StartedOrigin> {
  const server = createOriginServer(opts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        // Keep-alive sockets and running downloads would otherwise hold close() open.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function normalisePrefix(p: string): string {
  let out = p.startsWith('/') ? p : `/${p}`;
  if (!out.endsWith('/')) out += '/';
  return out;
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  prefix: string,
  getRoot: () => Promise<string>,
  onRequest: OriginOptions['onRequest'],
  onServed: OriginOptions['onServed'],
): Promise<void> {
  const method = req.method ?? 'GET';
  const rawTarget = req.url ?? '/';
  const q = rawTarget.search(/[?#]/);
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    decoded = undefined;
  }
  const rangeHeader = typeof req.headers.range === 'string' ? req.headers.range : undefined;
  if (onRequest) {
    try {
      onRequest({ method, path: decoded ?? rawPath, ...(rangeHeader !== undefined ? { range: rangeHeader } : {}) });
    } catch {
      // An observer's bug must not change what the client gets.
    }
  }

  if (method !== 'GET' && method !== 'HEAD') {
    sendStatus(res, 405, { Allow: 'GET, HEAD' });
    return;
  }

  let fh: FileHandle | undefined;
  try {
    // The prefix is matched on the raw path: `/%64cp/` is not `/dcp/`. Parsing with
    // WHATWG URL is avoided on purpose: it folds `..` and `%2e%2e` away before we
    // could refuse them, which would silently serve a different file.
    if (!rawPath.startsWith(prefix) || decoded === undefined) throw new NotFound();
    const rel = decoded.slice(prefix.length);
    const segments = rel.split('/');
    for (const s of segments) {
      if (s === '' || s === '.' || s === '..' || s.includes('\0') || s.includes('\\')) throw new NotFound();
    }
    const root = await getRoot();
    const candidate = path.join(root, ...segments);
    // realpath catches symlinks (anywhere along the path) that lead out of the store.
    const real = await realpath(candidate);
    const rootWithSep = root.endsWith(path.sep) ? root : root + path.sep;
    if (!real.startsWith(rootWithSep)) throw new NotFound();
    // NOFOLLOW: a link swapped in between realpath and open must not be followed.
    // NONBLOCK: a FIFO in the store must not hang the open (it is then refused as not a file).
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new NotFound();

    const owned = fh;
    fh = undefined; // ownership passes to serveFile, which always closes it
    const sent = await serveFile(req, res, method, owned, st, rangeHeader);
    if (sent > 0 && onServed) {
      try {
        onServed(decoded ?? rawPath, sent);
      } catch {
        // An observer's bug must not change what the client gets.
      }
    }
  } catch (err) {
    if (fh) await fh.close().catch(() => {});
    if (err instanceof NotFound || NOT_FOUND_CODES.has((err as NodeJS.ErrnoException)?.code ?? '')) {
      sendStatus(res, 404);
      return;
    }
    throw err;
  }
}

async function serveFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  method: string,
  fh: FileHandle,
  st: Stats,
  rangeHeader: string | undefined,
): Promise<number> {
  let streaming = false;
  try {
    const size = st.size;
    const etag = `"${st.ino.toString(16)}-${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const lastModified = st.mtime.toUTCString();
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': lastModified,
    };

    let range: ByteRange | 'unsatisfiable' | undefined;
    if (rangeHeader !== undefined && ifRangeAllows(req.headers['if-range'], etag, st.mtime)) {
      range = parseRange(rangeHeader, size);
    }

    if (range === 'unsatisfiable') {
      sendStatus(res, 416, { ...headers, 'Content-Range': `bytes */${size}` });
      return 0;
    }

    let start = 0;
    let end = size - 1;
    if (range) {
      ({ start, end } = range);
      res.statusCode = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    } else {
      res.statusCode = 200;
    }
    const length = end - start + 1;
    headers['Content-Length'] = length;
    res.writeHead(res.statusCode, headers);

    if (method === 'HEAD' || length === 0) {
      res.end();
      return 0;
    }

    streaming = true;
    // The stream owns the handle from here (autoClose): it closes it on end, on
    // error and when pipeline destroys it because the client went away.
    const stream = fh.createReadStream({ start, end, highWaterMark: READ_CHUNK });
    try {
      await pipeline(stream, res);
    } catch {
      // Client aborts land here (ERR_STREAM_PREMATURE_CLOSE); pipeline has already
      // destroyed both ends, so the fd is closed and the socket is gone.
    }
    return stream.bytesRead;
  } finally {
    if (!streaming) await fh.close().catch(() => {});
  }
}

interface ByteRange {
  start: number;
  end: number;
}

/**
 * One `bytes=` range, RFC 9110 §14.1.2. Anything we do not serve as a range
 * (syntax errors, other units, several ranges) yields undefined: ignoring Range
 * and sending the whole file is what the RFC allows, and every client copes.
 */
function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (!Number.isSafeInteger(n)) return undefined;
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (!Number.isSafeInteger(start)) return undefined;
  if (b !== '') {
    const last = Number(b);
    // A last-byte-pos beyond 2^53 is absurd but well-formed: it just runs to the end.
    if (Number.isSafeInteger(last) && last < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  const last = b === '' ? size - 1 : Number(b);
  return { start, end: Number.isSafeInteger(last) ? Math.min(last, size - 1) : size - 1 };
}

/**
 * If-Range: the range applies only when the validator still matches; otherwise the
 * client holds stale bytes and must get the whole new file (200). Weak tags never
 * match (RFC 9110 §13.1.5).
 */
function ifRangeAllows(value: string | string[] | undefined, etag: string, mtime: Date): boolean {
  if (value === undefined) return true;
  const v = (Array.isArray(value) ? value[0] : value).trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag;
  const t = Date.parse(v);
  return Number.isFinite(t) && t === Math.floor(mtime.getTime() / 1000) * 1000;
}

function sendStatus(res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders = {}): void {
  const body = `${status} ${http.STATUS_CODES[status] ?? ''}\n`;
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
