// Downloads one OBS object into a staging directory with ranged GETs: resumable across
// drops and restarts from the partial file (never restarted from zero while the object is
// the same one), hashed while it streams, checked against its sha1, then renamed into
// place. The same on-disk convention and resume rule as the CDN method
// (src/transfer/cdn/http-download.ts): `.bft2-<name>.part` plus `.bft2-<name>.part.json`
// holding `{ url, validator }`, here `obs://bucket/key` and the object's ETag, so a staging
// directory reads the same whichever method wrote it.
// Owns only the file's `.bft2-*.part` / `.part.json` companions in its staging dir; must
// not touch http-download.ts (whose `streamToPart` this file mirrors in `appendToPart`
// because it is not exported — see the obs report for the refactor that would share it).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm, stat, readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../../errors/catalogue.ts';
import { renameDurable, writeJsonDurable } from '../../spool/durable-fs.ts';
import { envNumber } from '../../util/time.ts';
import { partPaths, sha1OfFile, type DownloadState } from '../cdn/http-download.ts';
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
}

interface PartMeta {
  url: string;
  validator: string;
}

const WRITE_BUFFER = 1024 * 1024;
/** Bytes written between two background fdatasyncs, as in the CDN method. */
const SYNC_EVERY = 64 * 1024 * 1024;

function drainOrError(ws: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ws.off('drain', done);
      ws.off('error', done);
      resolve();
    };
    ws.on('drain', done);
    ws.on('error', done);
  });
}

/**
 * Appends the body to the part file at `offset`, hashing as it goes; keeps what arrived
 * when the body fails (the next try resumes after it). If the disk writes fail, the hash
 * state is dropped, since it may cover bytes the disk lacks.
 */
async function appendToPart(
  body: AsyncIterable<unknown>,
  part: string,
  offset: number,
  job: ObjectDownload,
  state: DownloadState,
  onData: () => void,
): Promise<number> {
  const hash = state.hash!;
  const fh = await open(part, offset === 0 ? 'w' : 'r+');
  const ws = createWriteStream(part, { fd: fh, start: offset, highWaterMark: WRITE_BUFFER, autoClose: false });
  let writeError: Error | undefined;
  ws.on('error', (err) => (writeError = err));
  let position = offset;
  let unsynced = 0;
  let syncing: Promise<void> = Promise.resolve();
  let bodyError: unknown;
  try {
    for await (const chunk of body) {
      onData();
      const buf = chunk as Buffer;
      if (position + buf.length > job.size) throw new Error(`OBS sent more than ${job.size} bytes`);
      hash.update(buf);
      position += buf.length;
      job.onBytes?.(buf.length);
      if (!ws.write(buf)) await drainOrError(ws);
      if (writeError) throw writeError;
      unsynced += buf.length;
      if (unsynced >= SYNC_EVERY) {
        unsynced = 0;
        syncing = syncing.then(() => fh.datasync().catch(() => {}));
      }
    }
  } catch (err) {
    bodyError = err;
  }
  await syncing;
  try {
    if (!writeError) await new Promise<void>((resolve) => ws.end(() => resolve()));
    if (!writeError) await fh.datasync();
  } finally {
    ws.destroy();
    await fh.close();
  }
  if (writeError) {
    state.hash = undefined;
    state.hashedTo = 0;
    throw writeError;
  }
  state.hashedTo = position;
  if (bodyError) throw bodyError;
  return position - offset;
}

/**
 * One try: continues from the bytes on disk. Resolves when the file is complete and
 * verified; rejects on any failure (the caller's retry policy decides what follows).
 * Returns the number of bytes this try added.
 */
export async function downloadObjectOnce(job: ObjectDownload, state: DownloadState): Promise<number> {
  const { part, meta } = partPaths(job.partBase);
  // Only verified files are ever renamed into dest, so one of the right size is done.
  const done = await stat(job.dest).catch(() => undefined);
  if (done?.size === job.size) return 0;
  if (done) await rm(job.dest, { force: true });
  await mkdir(path.dirname(part), { recursive: true });
  const url = formatObsUrl(job.bucket, job.key);

  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  let validator: string | undefined;
  if (offset > 0) {
    const saved = await readFile(meta, 'utf8').then((t) => JSON.parse(t) as PartMeta).catch(() => undefined);
    // Without the ETag of the bytes on disk, appending could splice two versions.
    if (!saved || saved.url !== url || offset > job.size) offset = 0;
    else validator = saved.validator || undefined;
  }
  const restart = async () => {
    await rm(part, { force: true });
    await rm(meta, { force: true });
    offset = 0;
    validator = undefined;
    state.hash = undefined;
    state.hashedTo = 0;
  };
  if (offset === 0) await restart();

  const stallMs = envNumber('BFT2_STALL_MS', 60_000);
  const controller = new AbortController();
  const abortFromJob = () => controller.abort(job.signal.reason);
  job.signal.addEventListener('abort', abortFromJob, { once: true });
  let watchdog: NodeJS.Timeout | undefined;
  const armWatchdog = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller.abort(new Error(`no data for ${stallMs / 1000} s`)), stallMs);
  };

  let added = 0;
  try {
    // A complete part (or an empty object) needs no request: the sha1 below decides.
    // Round two only follows a restart from zero because the object changed.
    for (let round = 0; offset < job.size; round++) {
      armWatchdog();
      let obj: RangedObject;
      try {
        obj = await job.client.getObjectFrom(job.bucket, job.key, { start: offset, ifMatch: validator, signal: controller.signal });
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
      if (!state.hash || state.hashedTo !== offset) {
        state.hash = await sha1OfFile(part, createHash('sha1'), offset);
        state.hashedTo = offset;
      }
      added += await appendToPart(body, part, offset, job, state, armWatchdog);
      break;
    }
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    clearTimeout(watchdog);
    job.signal.removeEventListener('abort', abortFromJob);
  }

  if (job.size === 0) await writeFile(part, '');
  const size = (await stat(part)).size;
  if (size !== job.size) throw new Error(`connection closed at ${size} of ${job.size} bytes`);
  if (!state.hash || state.hashedTo !== size) state.hash = await sha1OfFile(part);
  const digest = state.hash.digest('hex');
  state.hash = undefined;
  state.hashedTo = 0;
  if (digest !== job.sha1) {
    await rm(part, { force: true });
    await rm(meta, { force: true });
    throw errors.SHA1_MISMATCH(job.file, job.sha1, digest);
  }
  await renameDurable(part, job.dest);
  await rm(meta, { force: true });
  return added;
}
