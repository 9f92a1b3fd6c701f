// Downloads one OBS object into a staging directory with ranged GETs: resumable across
// drops and restarts from the partial file (never restarted from zero while the object is
// the same one), hashed while it streams, checked against its sha1, then renamed into
// place. The same on-disk convention and resume rule as the CDN method
// (src/transfer/cdn/http-download.ts): `.bft2-<name>.part` plus `.bft2-<name>.part.json`
// holding `{ url, validator }`, here `obs://bucket/key` and the object's ETag, so a staging
// directory reads the same whichever method wrote it.
// Owns only the file's `.bft2-*.part` / `.part.json` companions (src/transfer/part-file.ts).
import { rm, writeFile } from 'node:fs/promises';
import { errors } from '../../errors/catalogue.ts';
import { writeJsonDurable } from '../../spool/durable-fs.ts';
import { resumePoint, hashUpTo, streamToPart, finishPart, stallGuard, type DownloadState, type PartMeta } from '../part-file.ts';
import { ObsRequestError, type ObsClient, type RangedObject } from './obs-client.ts';
import { formatObsUrl } from './obs-url.ts';

export interface ObjectDownload {
  client: ObsClient;
  bucket: string;
  key: string;
  /** The verified file's final place (the task's assembly directory). */
  dest: string;
  /** Where the partial file and its resume metadata live until verified (staging). */
  partBase: string;
  /** The file's path inside the DCP, for messages. */
  file: string;
  size: number;
  sha1: string;
  signal: AbortSignal;
  onBytes?: (n: number) => void;
  /** The method's rate cap: resolves when n more bytes may pass. */
  take?: (n: number) => Promise<void>;
}

/**
 * One try: continues from the bytes on disk. Resolves when the file is complete and
 * verified; rejects on any failure (the caller's retry policy decides what follows).
 * Returns the number of bytes this try added.
 */
export async function downloadObjectOnce(job: ObjectDownload, state: DownloadState): Promise<number> {
  const url = formatObsUrl(job.bucket, job.key);
  const r = await resumePoint({ ...job, source: url }, state);
  if (r.done) return 0;
  const { part, meta } = r;
  let offset = r.offset;
  let validator = r.validator;
  const restart = async () => {
    await rm(part, { force: true });
    await rm(meta, { force: true });
    offset = 0;
    validator = undefined;
    state.hash = undefined;
    state.hashedTo = 0;
  };
  const guard = stallGuard(job.signal);
  let added = 0;
  try {
    // A complete part (or an empty object) needs no request: the sha1 decides.
    // Round two only follows a restart from zero because the object changed.
    for (let round = 0; offset < job.size; round++) {
      guard.arm();
      let obj: RangedObject;
      try {
        obj = await job.client.getObjectFrom(job.bucket, job.key, { start: offset, ifMatch: validator, signal: guard.controller.signal });
      } catch (err) {
        // 412: If-Match failed, the object was replaced; 416: it shrank below our offset.
        if (err instanceof ObsRequestError && (err.status === 412 || err.status === 416) && offset > 0 && round === 0) {
          await restart();
          continue;
        }
        throw err;
      }
      const { body } = obj;
      if (obj.status === 206) {
        const range = String(obj.headers['content-range'] ?? '');
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
        if (m && m[3] !== '*' && Number(m[3]) !== job.size) {
          body.destroy();
          throw errors.DOWNLOAD_FAILED('obs', job.file, `object size ${m[3]} differs from task size ${job.size}`);
        }
        if (!m || Number(m[1]) !== offset) {
          body.destroy();
          await rm(part, { force: true });
          throw new Error(`OBS answered range ${range || '(none)'} for bytes=${offset}-`);
        }
        // Stores that ignore If-Match (s3rver) still send the ETag: compare it ourselves.
        if (offset > 0 && validator && obj.etag && obj.etag !== validator) {
          body.destroy();
          if (round > 0) throw new Error(`object ${url} keeps changing`);
          await restart();
          continue;
        }
      } else if (offset > 0) {
        // 200 to a range request: the store ignored Range; start over with this body.
        await rm(part, { force: true });
        offset = 0;
        state.hash = undefined;
        state.hashedTo = 0;
      }
      const length = Number(obj.headers['content-length'] ?? NaN);
      if (Number.isFinite(length) && offset + length !== job.size) {
        body.destroy();
        throw errors.DOWNLOAD_FAILED('obs', job.file, `object size ${offset + length} differs from task size ${job.size}`);
      }
      if (offset === 0) await writeJsonDurable(meta, { url, validator: obj.etag } satisfies PartMeta);
      await hashUpTo(part, offset, state);
      added += await streamToPart(body, part, offset, { size: job.size, onBytes: job.onBytes, take: job.take, source: 'OBS', method: 'obs', file: job.file }, state, guard.arm);
      break;
    }
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
  if (job.size === 0) await writeFile(part, '');
  await finishPart(part, meta, job, state);
  return added;
}
