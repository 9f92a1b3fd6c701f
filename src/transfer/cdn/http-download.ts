// Downloads one file over HTTP into a staging directory: resumable with Range/If-Range
// across drops and restarts (never restarted from zero while the origin's copy is the
// same), hashed while it streams, checked against its sha1, then renamed into place
// (the partial-file convention of src/transfer/part-file.ts).
import { rm } from 'node:fs/promises';
import { errors } from '../../errors/catalogue.ts';
import { requestFollowing, statusError } from './http-request.ts';
import { writeJsonDurable } from '../../spool/durable-fs.ts';
import { resumePoint, hashUpTo, streamToPart, finishPart, stallGuard, type DownloadState, type PartMeta } from '../part-file.ts';


export interface FileDownload {
  url: string;
  /** The verified file's final place (the task's assembly directory). */
  dest: string;
  /** Where the partial file and its resume metadata live until verified (staging). */
  partBase: string;
  /** The file's path inside the DCP, for messages. */
  file: string;
  size: number;
  sha1: string;
  signal: AbortSignal;
  /** Called with every block of new bytes written (for rates and progress). */
  onBytes?: (n: number) => void;
  /** The method's rate cap: resolves when n more bytes may pass. */
  take?: (n: number) => Promise<void>;
}

/**
 * One try: continues from the bytes on disk. Resolves when the file is complete and
 * verified; rejects on any failure (the caller's retry policy decides what follows).
 * Returns the number of bytes this try added.
 */
export async function downloadOnce(job: FileDownload, state: DownloadState): Promise<number> {
  const r = await resumePoint({ ...job, source: job.url }, state);
  if (r.done) return 0;
  const { part, meta } = r;
  let offset = r.offset;
  const guard = stallGuard(job.signal);
  let added = 0;
  try {
    guard.arm();
    const headers: Record<string, string> = {};
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (r.validator) headers['if-range'] = r.validator;
    }
    const { res } = await requestFollowing(job.url, { headers, signal: guard.controller.signal, bodyTimeout: 0, headersTimeout: guard.stallMs });
    const status = res.statusCode;
    if (status === 416 && offset === job.size) {
      await res.body.dump();
    } else if (status === 206 || status === 200) {
      if (status === 206) {
        const range = String(res.headers['content-range'] ?? '');
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
        // undici's rule: a partial answer that does not start where we asked is rejected, never appended.
        if (!m || Number(m[1]) !== offset || (m[3] !== '*' && Number(m[3]) !== job.size)) {
          await res.body.dump();
          await rm(part, { force: true });
          throw new Error(`origin answered range ${range || '(none)'} for bytes=${offset}-`);
        }
      } else if (offset > 0) {
        offset = 0; // 200 to a range request: the origin's file changed, or it ignores Range
        state.hash = undefined;
        state.hashedTo = 0;
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      if (Number.isFinite(length) && offset + length !== job.size) {
        await res.body.dump();
        throw errors.DOWNLOAD_FAILED('cdn', job.file, `origin size ${offset + length} differs from task size ${job.size}`);
      }
      const validator = String(res.headers.etag ?? res.headers['last-modified'] ?? '');
      if (offset === 0) await writeJsonDurable(meta, { url: job.url, validator } satisfies PartMeta);
      await hashUpTo(part, offset, state);
      added = await streamToPart(res.body, part, offset, { size: job.size, onBytes: job.onBytes, take: job.take, source: 'origin', method: 'cdn', file: job.file }, state, guard.arm);
    } else {
      await res.body.dump();
      throw statusError(job.url, status);
    }
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
  await finishPart(part, meta, job, state);
  return added;
}
