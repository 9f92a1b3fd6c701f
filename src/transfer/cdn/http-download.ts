// Downloads one file over HTTP into a staging directory: resumable with Range/If-Range
// across drops and restarts (never restarted from zero while the origin's copy is the
// same), hashed while it streams, checked against its sha1, then renamed into place.
// Owns only the file's `.bft2-*.part` / `.part.json` companions in its staging dir.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { errors } from '../../errors/catalogue.ts';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { renameDurable, writeJsonDurable } from '../../spool/durable-fs.ts';
import { envNumber } from '../../util/time.ts';

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
}

interface PartMeta {
  url: string;
  validator: string;
}

const WRITE_BUFFER = 1024 * 1024;

/** `partBase` is the file's path in staging; the companions sit beside it. */
export function partPaths(partBase: string) {
  const dir = path.dirname(partBase);
  const base = path.basename(partBase);
  return { part: path.join(dir, `${TEMP_PREFIX}${base}.part`), meta: path.join(dir, `${TEMP_PREFIX}${base}.part.json`) };
}

/** Bytes of this file already on disk (verified in `dest`, or partial in staging). */
export async function bytesOnDisk(dest: string, partBase: string): Promise<number> {
  for (const p of [dest, partPaths(partBase).part]) {
    try {
      return (await stat(p)).size;
    } catch {}
  }
  return 0;
}

export async function sha1OfFile(file: string, hash = createHash('sha1'), end?: number): Promise<Hash> {
  if (end === 0) return hash;
  const stream = createReadStream(file, { highWaterMark: WRITE_BUFFER, end: end === undefined ? undefined : end - 1 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}

/** State kept between tries in one process, so a retry does not re-read what it hashed. */
export interface DownloadState {
  hash?: Hash;
  hashedTo: number;
}

/** Bytes written between two background fdatasyncs: the final fsync then has little left. */
const SYNC_EVERY = 64 * 1024 * 1024;

/**
 * Appends the body to the part file at `offset`, hashing as it goes. Writes go through a
 * write stream (awaiting each write would serialise network and disk), and dirty pages
 * are flushed in the background as they accumulate. If the writes fail, the hash state is
 * dropped, since it may cover bytes the disk lacks; the next try re-reads the prefix.
 */
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

async function streamToPart(
  body: AsyncIterable<unknown>,
  part: string,
  offset: number,
  job: FileDownload,
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
      if (position + buf.length > job.size) throw new Error(`origin sent more than ${job.size} bytes`);
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
  // Keep what arrived: flush the stream even when the body failed.
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
export async function downloadOnce(job: FileDownload, state: DownloadState): Promise<number> {
  const { part, meta } = partPaths(job.partBase);
  // Only verified files are ever renamed into dest, so one of the right size is done.
  const done = await stat(job.dest).catch(() => undefined);
  if (done?.size === job.size) return 0;
  if (done) await rm(job.dest, { force: true });
  await mkdir(path.dirname(part), { recursive: true });

  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  let validator: string | undefined;
  if (offset > 0) {
    const saved = await readFile(meta, 'utf8').then((t) => JSON.parse(t) as PartMeta).catch(() => undefined);
    // Without the validator of the bytes on disk, appending could splice two versions.
    if (!saved || saved.url !== job.url || offset > job.size) offset = 0;
    else validator = saved.validator;
  }
  if (offset === 0) {
    await rm(part, { force: true });
    state.hash = undefined;
    state.hashedTo = 0;
  }

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
    armWatchdog();
    const headers: Record<string, string> = {};
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (validator) headers['if-range'] = validator;
    }
    const res = await request(job.url, { method: 'GET', headers, signal: controller.signal, bodyTimeout: 0, headersTimeout: stallMs });
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
      const newValidator = String(res.headers.etag ?? res.headers['last-modified'] ?? '');
      if (offset === 0) await writeJsonDurable(meta, { url: job.url, validator: newValidator } satisfies PartMeta);

      if (!state.hash || state.hashedTo !== offset) {
        state.hash = await sha1OfFile(part, createHash('sha1'), offset);
        state.hashedTo = offset;
      }
      added = await streamToPart(res.body, part, offset, job, state, armWatchdog);
    } else {
      await res.body.dump();
      throw new Error(`HTTP ${status} from ${job.url}`);
    }
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    clearTimeout(watchdog);
    job.signal.removeEventListener('abort', abortFromJob);
  }

  const size = (await stat(part)).size;
  if (size !== job.size) {
    throw new Error(`connection closed at ${size} of ${job.size} bytes`);
  }
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

export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted && (err === signal.reason || (err instanceof Error && err.name === 'AbortError'));
}
