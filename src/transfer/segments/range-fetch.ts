// Fetching one byte range of one file over HTTP (the CDN, or the sender's origin) or from
// an OBS object, into the task's part store (part-store.ts). The same rules for both:
// never more than the range, whatever the server sends (SPEC §4); a partial answer that
// does not start where asked is rejected, not appended (undici's rule); a source whose
// validator (ETag / Last-Modified) changed under a resumed file is SourceChanged, and the
// file starts over; the method's rate cap paces the bytes; a range that receives nothing
// for BFT2_STALL_MS is cut. One write is in flight while the response goes on; the chunks
// that arrive meanwhile go together in the next (not copied into one buffer), and reading
// pauses when 1 MiB waits, so the network and the disk work at once.
// Owns nothing on disk: `write` is the part store's.
import type { IncomingHttpHeaders } from 'node:http';
import { errors } from '../../errors/catalogue.ts';
import { requestFollowing, statusError, fileUrl } from '../cdn/http-request.ts';
import { stallGuard } from '../stall-guard.ts';
import { ObsRequestError, type ObsClient } from '../obs/obs-client.ts';
import type { FileEntry } from '../../task/schema.ts';

const BLOCK = 1024 * 1024;

export interface RangeJob {
  file: FileEntry;
  start: number;
  end: number;
  signal: AbortSignal;
  /** Writes the buffers one after the other from an offset of the file; they count as done once it resolves. */
  write(offset: number, bufs: Uint8Array[]): Promise<void>;
  /** The method's rate cap (resolves when n more bytes may pass). */
  take?(n: number): Promise<void>;
  /** The validator the file's bytes so far were fetched under, if any. */
  validator?: string;
  setValidator(v: string): void;
}

/** The file changed at the source since part of it was fetched: its bytes start over. */
export class SourceChanged extends Error {
  constructor(readonly file: string, what: string) {
    super(`${file} changed at the source (${what}); starting it over`);
  }
}

/**
 * Streams a body into the job from `offset`, stopping at job.end; returns the bytes written.
 * `whole`: the body is the whole file (a 200 to a ranged request): it is read to its end so
 * that a body longer than the file — or endless — is a clear failure, not a silent cut.
 */
async function pump(body: AsyncIterable<unknown>, job: RangeJob, offset: number, skip: number, source: string, arm: () => void, whole = false): Promise<number> {
  let at = offset;
  let toSkip = skip;
  let seen = 0;
  // Chunks wait here while a write is under way, and go to the disk as soon as it is free
  // (up to BLOCK bytes wait before reading pauses): a chunk is garbage sooner than when
  // every write waited for a whole block (1 GiB: 3.27-3.46 s against 3.44-3.69 s). The
  // part store writes on the event loop, so a write is usually over before the next chunk;
  // this overlap is for when its writes go through the pool (a disk that stalled them).
  let block: Buffer[] = [];
  let blockLen = 0;
  let blockAt = at;
  let inFlight: Promise<void> | undefined;
  let writeFailed: { err: unknown } | undefined;
  const startWrite = () => {
    // The chunks go to the part store as they are: no copy into one buffer.
    const bufs = block;
    const where = blockAt;
    block = [];
    blockAt += blockLen;
    blockLen = 0;
    inFlight = job.write(where, bufs).then(
      () => void (inFlight = undefined),
      (err: unknown) => void ((writeFailed = { err }), (inFlight = undefined)),
    );
  };
  const flush = async () => {
    if (inFlight) await inFlight;
    if (writeFailed) throw writeFailed.err;
    if (blockLen > 0) startWrite();
  };
  // Re-arming the stall timer on every 64 KiB chunk costs a timer per chunk; once a
  // second is as good for a limit of a minute.
  let armedAt = 0;
  try {
    for await (const raw of body) {
      const now = performance.now();
      if (now - armedAt > 1000) {
        armedAt = now;
        arm();
      }
      // Past the range: the server sends more than asked (a correct one has ended the
      // body by now; leaving the loop earlier would destroy every body with an AbortError).
      if (at >= job.end && !whole) break;
      let chunk = raw as Buffer;
      seen += chunk.length;
      if (whole && seen > job.file.size) throw errors.DOWNLOAD_FAILED(source === 'OBS' ? 'obs' : 'cdn', job.file.file, `${source} sent more than the file's ${job.file.size} bytes`);
      if (at >= job.end) continue;
      if (toSkip > 0) {
        if (chunk.length <= toSkip) {
          toSkip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(toSkip);
        toSkip = 0;
      }
      const room = job.end - at;
      if (chunk.length > room) chunk = chunk.subarray(0, room);
      if (chunk.length > 0) {
        if (job.take) await job.take(chunk.length);
        block.push(chunk);
        blockLen += chunk.length;
        at += chunk.length;
        if (writeFailed) throw writeFailed.err;
        // The disk is free: write now. Else read on until BLOCK bytes wait (backpressure).
        if (!inFlight || blockLen >= BLOCK || at >= job.end) await flush();
      }
    }
  } finally {
    // What arrived is kept even when the body failed.
    await flush().catch(() => undefined);
    if (inFlight) await inFlight;
  }
  if (writeFailed) throw writeFailed.err;
  if (at < job.end) throw new Error(`${source} closed the connection at byte ${at} of ${job.file.file} (range ${job.start}-${job.end})`);
  return at - offset;
}

/** The validator a response carries (ETag preferred, else Last-Modified). */
function validatorOf(headers: IncomingHttpHeaders): string {
  return String(headers.etag ?? headers['last-modified'] ?? '');
}

/** `[start, end)` of `<base>/<file>` with `Range` and `If-Range`, following redirects (http-request.ts). */
export async function fetchHttpRange(base: string, job: RangeJob): Promise<number> {
  const url = fileUrl(base, job.file.file);
  const guard = stallGuard(job.signal);
  try {
    guard.arm();
    const headers: Record<string, string> = { range: `bytes=${job.start}-${job.end - 1}` };
    if (job.validator) headers['if-range'] = job.validator;
    const { res } = await requestFollowing(url, { headers, signal: guard.controller.signal, bodyTimeout: 0, headersTimeout: guard.stallMs });
    const status = res.statusCode;
    const validator = validatorOf(res.headers);
    if (status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (m && m[3] !== '*' && Number(m[3]) !== job.file.size) {
        await res.body.dump();
        throw errors.DOWNLOAD_FAILED('cdn', job.file.file, `origin size ${m[3]} differs from task size ${job.file.size}`);
      }
      if (!m || Number(m[1]) !== job.start) {
        await res.body.dump();
        throw new Error(`origin answered range ${String(res.headers['content-range'] ?? '(none)')} for bytes=${job.start}-${job.end - 1}`);
      }
      if (job.validator && validator && validator !== job.validator) {
        await res.body.dump();
        throw new SourceChanged(job.file.file, `validator ${job.validator} is now ${validator}`);
      }
      if (validator) job.setValidator(validator);
      return await pump(res.body, job, job.start, 0, 'origin', guard.arm);
    }
    if (status === 200) {
      // The whole file: the origin ignores Range, or If-Range says the file changed.
      const length = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(length) && length !== job.file.size) {
        await res.body.dump();
        throw errors.DOWNLOAD_FAILED('cdn', job.file.file, `origin size ${length} differs from task size ${job.file.size}`);
      }
      if (job.validator && validator !== job.validator) {
        await res.body.dump();
        throw new SourceChanged(job.file.file, `If-Range answered with the whole file (${validator || 'no validator'})`);
      }
      if (validator) job.setValidator(validator);
      return await pump(res.body, job, job.start, job.start, 'origin', guard.arm, true);
    }
    await res.body.dump();
    throw statusError(url, status);
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
}

/** `[start, end)` of the object `key` with a ranged GET and If-Match (OBS keeps the ETag). */
export async function fetchObsRange(client: ObsClient, bucket: string, key: string, job: RangeJob): Promise<number> {
  const guard = stallGuard(job.signal);
  try {
    guard.arm();
    let obj;
    try {
      obj = await client.getObjectFrom(bucket, key, { start: job.start, end: job.end, ifMatch: job.validator, signal: guard.controller.signal });
    } catch (err) {
      // 412: If-Match failed, the object was replaced.
      if (err instanceof ObsRequestError && err.status === 412) throw new SourceChanged(job.file.file, 'its ETag changed');
      throw err;
    }
    const { body } = obj;
    if (obj.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(obj.headers['content-range'] ?? ''));
      if (m && m[3] !== '*' && Number(m[3]) !== job.file.size) {
        body.destroy();
        throw errors.DOWNLOAD_FAILED('obs', job.file.file, `object size ${m[3]} differs from task size ${job.file.size}`);
      }
      if (!m || Number(m[1]) !== job.start) {
        body.destroy();
        throw new Error(`OBS answered range ${String(obj.headers['content-range'] ?? '(none)')} for bytes=${job.start}-${job.end - 1}`);
      }
    } else {
      const length = Number(obj.headers['content-length'] ?? NaN);
      if (Number.isFinite(length) && length !== job.file.size) {
        body.destroy();
        throw errors.DOWNLOAD_FAILED('obs', job.file.file, `object size ${length} differs from task size ${job.file.size}`);
      }
    }
    // Stores that ignore If-Match (s3rver) still send the ETag: compare it ourselves.
    if (job.validator && obj.etag && obj.etag !== job.validator) {
      body.destroy();
      throw new SourceChanged(job.file.file, 'its ETag changed');
    }
    if (obj.etag) job.setValidator(obj.etag);
    return await pump(body, job, job.start, obj.status === 206 ? 0 : job.start, 'OBS', guard.arm, obj.status !== 206);
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
}
