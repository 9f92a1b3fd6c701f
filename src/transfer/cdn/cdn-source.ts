// The CDN method as a Source (../source.ts): every file of the DCP at `<cdn.url>/<file>`
// (the sender's origin, or a CDN in front of it), fetched a byte range at a time with
// `Range` and `If-Range`, following redirects as http-request.ts allows. A range that
// receives nothing for the stall time is cut (stall-guard.ts); the body goes through the
// shared pump (segments/body-pump.ts).
// Owns nothing on disk: bytes go to the sink. Must not touch other methods' files.
import type { IncomingHttpHeaders } from 'node:http';
import { requestFollowing, statusError, fileUrl } from './http-request.ts';
import { stallGuard } from '../stall-guard.ts';
import { pump, checkRangeAnswer, SourceChanged, type RangeJob } from '../segments/body-pump.ts';
import { tuning } from '../../config/tuning.ts';
import type { Source, RangeSink } from '../source.ts';
import type { FileEntry } from '../../task/schema.ts';

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
    if (job.sink.validator) headers['if-range'] = job.sink.validator;
    const { res } = await requestFollowing(url, { headers, signal: guard.controller.signal, bodyTimeout: 0, headersTimeout: guard.stallMs });
    const status = res.statusCode;
    const validator = validatorOf(res.headers);
    if (status !== 206 && status !== 200) {
      await res.body.dump();
      throw statusError(url, status);
    }
    try {
      checkRangeAnswer(job, status, res.headers, 'cdn', 'origin');
      // 206 under another validator, or a 200 (the whole file) to a request with If-Range: it changed.
      if (job.sink.validator && validator !== job.sink.validator && (status === 200 || validator)) {
        throw new SourceChanged(job.file.file, status === 200 ? `If-Range answered with the whole file (${validator || 'no validator'})` : `validator ${job.sink.validator} is now ${validator}`);
      }
    } catch (err) {
      await res.body.dump();
      throw err;
    }
    if (validator) job.sink.setValidator(validator);
    // A 200 is the whole file (the origin ignores Range): skip to the range.
    return await pump(res.body, job, job.start, status === 206 ? 0 : job.start, 'origin', guard.arm, status === 200);
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
}

export class CdnSource implements Source {
  readonly method = 'cdn' as const;
  readonly parallel = 2;
  get rangeBytes(): number {
    return tuning().chunk;
  }

  /** `baseUrl`: the task's `cdn.url`, the DCP's directory. */
  constructor(private readonly baseUrl: string) {}

  /** The CDN serves the whole DCP: any file of the task. */
  reaches(): boolean {
    return true;
  }

  async fetch(file: FileEntry, start: number, end: number, signal: AbortSignal, sink: RangeSink): Promise<void> {
    await fetchHttpRange(this.baseUrl, { file, start, end, signal, sink });
  }

  async pause(): Promise<void> {}
  stats() {
    return { peers: 0, uploaded: 0, serving: false };
  }
  async close(): Promise<void> {}
}
