// A thin promise layer over esdk-obs-nodejs (SPEC §8: OBS), holding the SDK's quirks in
// one place: its constructor initialises asynchronously (a call in the same tick fails),
// a bad `server` becomes an unhandled rejection, callbacks report HTTP errors as results,
// requests cannot be cancelled except through their `RequestHook`, and `uploadFile` puts
// its checkpoint beside the source unless `CheckpointFile` is set. Downloads use only its
// signing: each ranged GET is a URL the SDK signs, fetched with undici. Owns nothing on disk
// except the checkpoint file it is told to use; must not touch the transfer policy (what
// to upload, retries, progress) which lives in obs-upload.ts, segments/range-fetch.ts and download/.
import { createRequire } from 'node:module';
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { requestFollowing } from '../cdn/http-request.ts';
import { errors } from '../../errors/catalogue.ts';
import { redactText, type ObsKeys } from './credentials.ts';

export type ObsSignature = 'obs' | 'v2' | 'v4';

export interface ObsClientOptions extends ObsKeys {
  /** config `obssignature`: `obs` for Huawei OBS, `v2` (or `v4`) for S3-compatible stores. */
  signature?: ObsSignature;
  /** config `obspathstyle`; an IP address as endpoint forces path style in the SDK anyway. */
  pathStyle?: boolean;
  /** The SDK's socket idle timeout in seconds (default 60). */
  timeoutSec?: number;
}

export interface ObsObjectInfo {
  size: number;
  etag: string;
  lastModified: string;
  /** User metadata (`x-obs-meta-*` / `x-amz-meta-*`), names lower-case. */
  metadata: Record<string, string>;
}

export interface ObsListEntry {
  key: string;
  size: number;
  etag: string;
}

export interface RangedObject {
  /** 200 (whole object) or 206 (the asked range). */
  status: number;
  headers: IncomingHttpHeaders;
  etag: string;
  /** The response body; the caller must consume or destroy it. */
  body: Readable;
}

export interface UploadFileParams {
  bucket: string;
  key: string;
  /** The source file (only read). */
  file: string;
  /** Where the SDK keeps its resume record: never beside the source (a watched store). */
  checkpointFile: string;
  partSize: number;
  /** Parts in flight at once. */
  parallelParts: number;
  metadata?: Record<string, string>;
  signal: AbortSignal;
  /** Bytes of part bodies handed to the network, as they go. */
  onBytes?: (n: number) => void;
}

export interface PutFileParams {
  bucket: string;
  key: string;
  file: string;
  metadata?: Record<string, string>;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
}

/** An OBS request that failed: `status` is the HTTP status when the server answered. */
export class ObsRequestError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ObsRequestError';
  }
}

export interface ObsClient {
  /** The endpoint as configured (no secret in it), for messages. */
  readonly endpoint: string;
  /** undefined when the object does not exist. */
  headObject(bucket: string, key: string): Promise<ObsObjectInfo | undefined>;
  /** Every object whose key starts with `prefix` (all pages). */
  listObjects(bucket: string, prefix: string): Promise<ObsListEntry[]>;
  /** The object from byte `start` (to `end`, exclusive, when given); `ifMatch` makes the
   * server refuse (412) a changed object. */
  getObjectFrom(bucket: string, key: string, opts: { start: number; end?: number; ifMatch?: string; signal: AbortSignal }): Promise<RangedObject>;
  /** Multipart upload through the SDK's `uploadFile`, resumable from `checkpointFile`. */
  uploadFile(p: UploadFileParams): Promise<void>;
  /** One PUT of a whole (small) file, streamed from disk. */
  putFile(p: PutFileParams): Promise<void>;
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
  close(): void;
}

// ---- the SDK, typed as far as bft2 uses it -------------------------------------------

interface SdkCommonMsg {
  Status: number;
  Code: string;
  Message: string;
  RequestId?: string;
}
interface SdkResult {
  CommonMsg: SdkCommonMsg;
  InterfaceResult: any;
}
type SdkCallback = (err: unknown, result: SdkResult) => void;
type SdkParams = Record<string, unknown>;
interface SdkClient {
  getObjectMetadata(p: SdkParams, cb: SdkCallback): void;
  listObjects(p: SdkParams, cb: SdkCallback): void;
  createSignedUrlSync(p: SdkParams): { SignedUrl: string; ActualSignedRequestHeaders: Record<string, string> };
  putObject(p: SdkParams, cb: SdkCallback): void;
  uploadPart(p: SdkParams, cb: SdkCallback): void;
  abortMultipartUpload(p: SdkParams, cb: SdkCallback): void;
  uploadFile(p: SdkParams, cb: (err: string | null, result: SdkResult | undefined) => void): void;
  close(): void;
  util?: { signatureContext: unknown | null };
}
type SdkCtor = new (params: SdkParams) => SdkClient;

// The SDK is CommonJS without types; createRequire keeps the import typed locally instead
// of through a global `declare module`.
// Required on first use: a node without OBS work does not load the SDK.
let ObsSdkCtor: SdkCtor | undefined;
const obsSdk = () => (ObsSdkCtor ??= createRequire(import.meta.url)('esdk-obs-nodejs') as SdkCtor);

function validateEndpoint(endpoint: string): void {
  const e = endpoint.trim();
  // The SDK throws these inside its async constructor, where nobody can catch them
  // (an unhandled rejection ends the daemon): refuse them here instead.
  if (e === '') throw errors.OBS_CREDENTIALS('no OBS endpoint given');
  if (/\s/.test(e) || (/^[a-z]+:\/\//i.test(e) && !/^https?:\/\//i.test(e))) {
    throw errors.OBS_CREDENTIALS(`invalid OBS endpoint ${JSON.stringify(e)}: expected host[:port] or http(s)://host[:port]`);
  }
}

export async function createObsClient(opts: ObsClientOptions): Promise<ObsClient> {
  validateEndpoint(opts.endpoint);
  if (!opts.ak || !opts.sk) throw errors.OBS_CREDENTIALS(`no OBS access key for ${opts.endpoint}`);
  const raw = new (obsSdk())({
    access_key_id: opts.ak,
    secret_access_key: opts.sk,
    server: opts.endpoint.trim(),
    signature: opts.signature ?? 'obs',
    path_style: opts.pathStyle ?? false,
    // The signature is configured, not guessed: negotiation costs a request per bucket and
    // S3-compatible stores answer it differently.
    is_signature_negotiation: false,
    // The SDK's default is not to verify TLS certificates at all.
    ssl_verify: true,
    timeout: opts.timeoutSec ?? 60,
  });
  // The constructor's init is async and not exposed: wait until it has set the signature
  // context (one turn of the event loop in practice; a few more are allowed).
  for (let i = 0; i < 20 && !raw.util?.signatureContext; i++) await new Promise((r) => setImmediate(r));
  if (!raw.util?.signatureContext) throw errors.OBS_CREDENTIALS(`OBS client for ${opts.endpoint} did not initialise`);
  return new Client(raw, opts);
}

interface UploadCtx {
  signal: AbortSignal;
  onBytes?: (n: number) => void;
  requests: Set<ClientRequest>;
}

const uploadKey = (bucket: unknown, key: unknown) => `${String(bucket)}\0${String(key)}`;

function abortRequest(req: ClientRequest): void {
  // abort() (not destroy()) makes the SDK report 'pause', which it never retries; a
  // destroyed request would be re-sent up to max_retry_count times.
  if (!req.destroyed) req.abort();
}

/** How long a signed GET URL is valid: it serves one range's request, at once. */
const SIGNED_URL_SECONDS = 900;

const messageOfError = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Up to `max` bytes of a body as text; the rest is discarded. */
async function readSome(body: Readable, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    parts.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    if (n >= max) break;
  }
  body.destroy();
  return Buffer.concat(parts).subarray(0, max).toString('utf8');
}

class Client implements ObsClient {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly uploads = new Map<string, UploadCtx>();

  constructor(
    private readonly raw: SdkClient,
    private readonly keys: ObsClientOptions,
  ) {
    this.endpoint = keys.endpoint;
    this.timeoutMs = (keys.timeoutSec ?? 60) * 1000;
    // uploadFile sends its parts through `this.uploadPart`, with no way to pass options
    // down. Wrapping it on this instance lets every part carry a RequestHook (so an abort
    // cancels parts in flight instead of leaving them running) and report its bytes.
    const uploadPart = raw.uploadPart.bind(raw);
    raw.uploadPart = (p: SdkParams, cb: SdkCallback) => {
      const ctx = this.uploads.get(uploadKey(p.Bucket, p.Key));
      if (!ctx) return uploadPart(p, cb);
      let last = 0;
      const sdkProgress = p.ProgressCallback as ((loaded: number, total: number, secs: number) => void) | undefined;
      uploadPart(
        {
          ...p,
          RequestHook: (req: ClientRequest) => {
            if (ctx.signal.aborted) return abortRequest(req);
            ctx.requests.add(req);
            req.once('close', () => ctx.requests.delete(req));
            // The SDK reports a socket timeout but leaves the request open: close it.
            req.once('timeout', () => abortRequest(req));
          },
          ProgressCallback: (loaded: number, total: number, secs: number) => {
            if (loaded > last) ctx.onBytes?.(loaded - last);
            last = loaded;
            sdkProgress?.(loaded, total, secs);
          },
        },
        cb,
      );
    };
  }

  close(): void {
    this.raw.close();
  }

  private fail(op: string, what: string, err: unknown, result?: SdkResult): ObsRequestError {
    const status = result?.CommonMsg?.Status;
    const code = result?.CommonMsg?.Code ?? '';
    const detail = err
      ? err instanceof Error
        ? err.message
        : String(err)
      : `HTTP ${status}${code ? ' ' + code : ''}${result?.CommonMsg?.Message ? ` (${result.CommonMsg.Message})` : ''}`;
    return new ObsRequestError(redactText(`OBS ${op} ${what} at ${this.endpoint}: ${detail}`, this.keys), err ? undefined : status, code);
  }

  /** One SDK call as a promise: network errors and HTTP statuses >= 300 reject. */
  private call(op: keyof SdkClient, what: string, params: SdkParams, okStatuses: number[] = []): Promise<SdkResult> {
    return new Promise((resolve, reject) => {
      (this.raw[op] as (p: SdkParams, cb: SdkCallback) => void).call(this.raw, params, (err, result) => {
        if (err) return reject(this.fail(op, what, err));
        if (result.CommonMsg.Status >= 300 && !okStatuses.includes(result.CommonMsg.Status)) return reject(this.fail(op, what, undefined, result));
        resolve(result);
      });
    });
  }

  async headObject(bucket: string, key: string): Promise<ObsObjectInfo | undefined> {
    const r = await this.call('getObjectMetadata', `${bucket}/${key}`, { Bucket: bucket, Key: key }, [404]);
    if (r.CommonMsg.Status === 404) return undefined;
    const i = r.InterfaceResult ?? {};
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries((i.Metadata ?? {}) as Record<string, unknown>)) metadata[k.toLowerCase()] = String(v);
    return { size: Number(i.ContentLength ?? 0), etag: String(i.ETag ?? ''), lastModified: String(i.LastModified ?? ''), metadata };
  }

  async listObjects(bucket: string, prefix: string): Promise<ObsListEntry[]> {
    const out: ObsListEntry[] = [];
    let marker: string | undefined;
    for (;;) {
      const r = await this.call('listObjects', `${bucket}/${prefix}*`, { Bucket: bucket, Prefix: prefix, MaxKeys: 1000, ...(marker ? { Marker: marker } : {}) });
      const i = r.InterfaceResult ?? {};
      const contents = (i.Contents ?? []) as { Key: string; Size: string; ETag: string }[];
      for (const c of contents) out.push({ key: c.Key, size: Number(c.Size), etag: c.ETag });
      const truncated = String(i.IsTruncated) === 'true';
      const next = i.NextMarker || contents.at(-1)?.Key;
      if (!truncated || !next || next === marker) return out;
      marker = next;
    }
  }

  async getObjectFrom(bucket: string, key: string, opts: { start: number; end?: number; ifMatch?: string; signal: AbortSignal }): Promise<RangedObject> {
    const what = `${bucket}/${key}`;
    // A URL signed by the SDK, fetched by undici like the CDN's ranges: the SDK's own GET
    // (node:http and its wrappers) held more memory in the same time (docs/performance.md,
    // receive). Range and If-Match are not part of the signature; the URL carries the key
    // id and the signature, so it never enters a message.
    const signed = this.raw.createSignedUrlSync({ Method: 'GET', Bucket: bucket, Key: key, Expires: SIGNED_URL_SECONDS });
    const headers: Record<string, string> = { ...signed.ActualSignedRequestHeaders, range: `bytes=${opts.start}-${opts.end === undefined ? '' : opts.end - 1}` };
    if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
    let res: Dispatcher.ResponseData;
    try {
      // Redirects as for every HTTP request of bft2 (SPEC §4): http(s) only, at most 5.
      ({ res } = await requestFollowing(signed.SignedUrl, { headers, signal: opts.signal, bodyTimeout: 0, headersTimeout: this.timeoutMs }));
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      const text = messageOfError(err).split(signed.SignedUrl).join(what);
      throw new ObsRequestError(redactText(`OBS getObject ${what} at ${this.endpoint}: ${text}`, this.keys), undefined, '');
    }
    if (res.statusCode >= 300) {
      // The store's error document names the reason (<Code>NoSuchKey</Code>); at most 64 KiB of it is read.
      const text = await readSome(res.body, 64 * 1024).catch(() => '');
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? '';
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
      throw new ObsRequestError(redactText(`OBS getObject ${what} at ${this.endpoint}: HTTP ${res.statusCode}${code ? ' ' + code : ''}${message ? ` (${message})` : ''}`, this.keys), res.statusCode, code);
    }
    return { status: res.statusCode, headers: res.headers as IncomingHttpHeaders, etag: String(res.headers.etag ?? ''), body: res.body };
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.call('abortMultipartUpload', `${bucket}/${key}`, { Bucket: bucket, Key: key, UploadId: uploadId }, [404]);
  }

  putFile(p: PutFileParams): Promise<void> {
    const what = `${p.bucket}/${p.key}`;
    return new Promise((resolve, reject) => {
      if (p.signal.aborted) return reject(p.signal.reason);
      let req: ClientRequest | undefined;
      const onAbort = () => req && abortRequest(req);
      p.signal.addEventListener('abort', onAbort, { once: true });
      let last = 0;
      this.raw.putObject(
        {
          Bucket: p.bucket,
          Key: p.key,
          // A file, never a Buffer Body: the SDK corrupts Buffer bodies (its issue 21).
          SourceFile: p.file,
          ...(p.metadata ? { Metadata: p.metadata } : {}),
          RequestHook: (r: ClientRequest) => {
            req = r;
            if (p.signal.aborted) abortRequest(r);
          },
          ProgressCallback: (loaded: number) => {
            if (loaded > last) p.onBytes?.(loaded - last);
            last = loaded;
          },
        },
        (err, result) => {
          p.signal.removeEventListener('abort', onAbort);
          if (p.signal.aborted) return reject(p.signal.reason);
          if (err) return reject(this.fail('putObject', what, err));
          if (result.CommonMsg.Status >= 300) return reject(this.fail('putObject', what, undefined, result));
          resolve();
        },
      );
    });
  }

  uploadFile(p: UploadFileParams): Promise<void> {
    const id = uploadKey(p.bucket, p.key);
    const what = `${p.bucket}/${p.key}`;
    if (this.uploads.has(id)) return Promise.reject(new Error(`an upload of ${what} is already running on this client`));
    return new Promise<void>((resolve, reject) => {
      if (p.signal.aborted) return reject(p.signal.reason);
      const ctx: UploadCtx = { signal: p.signal, onBytes: p.onBytes, requests: new Set() };
      this.uploads.set(id, ctx);
      let cancel: (() => void) | undefined;
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        p.signal.removeEventListener('abort', onAbort);
        this.uploads.delete(id);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => {
        // cancel() (not abort()) keeps the checkpoint and the multipart upload, so the
        // next run resumes; the parts in flight are stopped through their requests.
        cancel?.();
        for (const req of ctx.requests) abortRequest(req);
        finish(p.signal.reason);
      };
      p.signal.addEventListener('abort', onAbort, { once: true });
      this.raw.uploadFile(
        {
          Bucket: p.bucket,
          Key: p.key,
          UploadFile: p.file,
          PartSize: p.partSize,
          TaskNum: p.parallelParts,
          EnableCheckpoint: true,
          CheckpointFile: p.checkpointFile,
          ...(p.metadata ? { Metadata: p.metadata } : {}),
          ResumeCallback: (handle: { cancel: () => void }) => {
            cancel = handle.cancel;
            // Aborted while the SDK was still reading its record or initiating the upload:
            // stop it before it schedules a single part.
            if (p.signal.aborted) handle.cancel();
          },
        },
        (err, result) => {
          if (p.signal.aborted) return finish(p.signal.reason);
          // uploadFile reports "Code:message" strings, or null with the completion result.
          if (err) return finish(new ObsRequestError(redactText(`OBS uploadFile ${what} at ${this.endpoint}: ${err}`, this.keys), undefined, String(err).split(':')[0]));
          if (result && result.CommonMsg && result.CommonMsg.Status >= 300) return finish(this.fail('uploadFile', what, undefined, result));
          finish();
        },
      );
    });
  }
}
