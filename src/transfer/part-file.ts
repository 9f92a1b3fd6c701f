// The partial-file convention every downloading method shares (SPEC §8): a file being
// downloaded lives in its method's staging dir as `.bft2-<name>.part`, with
// `.bft2-<name>.part.json` holding `{ url, validator }` (the source and its ETag or
// Last-Modified), so a resume never splices two versions; it is hashed while written,
// flushed to disk in the background, checked against its sha1 and only then renamed into
// the task's assembly directory. Used by the CDN and OBS methods.
// Owns: a file's `.bft2-*.part` / `.part.json` companions. Nothing else.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, constants } from 'node:fs';
import { open, rm, stat, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { errors } from '../errors/catalogue.ts';
import { TEMP_PREFIX } from '../config/paths.ts';
import { renameDurable } from '../spool/durable-fs.ts';
import { envNumber } from '../util/time.ts';
import { isDiskFull, diskFullError } from './disk-full.ts';

export interface PartMeta {
  url: string;
  validator: string;
}

export const WRITE_BUFFER = 1024 * 1024;

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

export async function streamToPart(
  body: AsyncIterable<unknown>,
  part: string,
  offset: number,
  job: { size: number; onBytes?: (n: number) => void; source: string; method: 'cdn' | 'obs'; file: string; take?: (n: number) => Promise<void> },
  state: DownloadState,
  onData: () => void,
): Promise<number> {
  const hash = state.hash!;
  // O_NOFOLLOW: the part is ours; a symlink planted in staging is never written through.
  const fh = await open(part, (offset === 0 ? constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC : constants.O_WRONLY) | constants.O_NOFOLLOW, 0o644);
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
      // A server that sends more than the file's size (or an endless body) is a failed try
      // for this file, counted like any other: never a resume that starts the loop again.
      if (position + buf.length > job.size) throw errors.DOWNLOAD_FAILED(job.method, job.file, `${job.source} sent more than the file's ${job.size} bytes`);
      if (job.take) await job.take(buf.length);
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
    if (isDiskFull(writeError)) throw await diskFullError(part, job.size - position);
    throw writeError;
  }
  state.hashedTo = position;
  if (bodyError) throw bodyError;
  return position - offset;
}


/**
 * The end of a try: the part must hold `size` bytes and hash to `sha1`, then it is renamed
 * into `dest`. A wrong hash removes the part (the next try starts from zero).
 */
export async function finishPart(part: string, meta: string, job: { dest: string; file: string; size: number; sha1: string }, state: DownloadState): Promise<void> {
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
}

/** A try's abort controller, cut by the job's signal or by `BFT2_STALL_MS` without data. */
export function stallGuard(signal: AbortSignal) {
  const stallMs = envNumber('BFT2_STALL_MS', 60_000);
  const controller = new AbortController();
  const fromJob = () => controller.abort(signal.reason);
  signal.addEventListener('abort', fromJob, { once: true });
  let timer: NodeJS.Timeout | undefined;
  return {
    controller,
    stallMs,
    /** Called on every block of data: the stall clock starts again. */
    arm() {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${stallMs / 1000} s`)), stallMs);
    },
    dispose() {
      clearTimeout(timer);
      signal.removeEventListener('abort', fromJob);
    },
  };
}

export interface ResumePoint {
  part: string;
  meta: string;
  /** Bytes already in the part that can be continued from (0: start over). */
  offset: number;
  /** The validator (ETag / Last-Modified) those bytes were fetched under. */
  validator?: string;
  /** The verified file is already in place: nothing to do. */
  done: boolean;
}

/**
 * Where a try starts: nothing to do if `dest` holds the verified file (only verified files
 * are renamed there, so the right size means done); else the part's bytes, when its
 * metadata says they came from this `source` — without the validator of the bytes on disk,
 * appending could splice two versions, so the part starts over.
 */
export async function resumePoint(job: { dest: string; partBase: string; size: number; source: string }, state: DownloadState): Promise<ResumePoint> {
  const { part, meta } = partPaths(job.partBase);
  const done = await stat(job.dest).catch(() => undefined);
  if (done?.size === job.size) return { part, meta, offset: 0, done: true };
  if (done) await rm(job.dest, { force: true });
  await mkdir(path.dirname(part), { recursive: true });
  let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  let validator: string | undefined;
  if (offset > 0) {
    const saved = await readFile(meta, 'utf8').then((t) => JSON.parse(t) as PartMeta).catch(() => undefined);
    if (!saved || saved.url !== job.source || offset > job.size) offset = 0;
    else validator = saved.validator || undefined;
  }
  if (offset === 0) {
    await rm(part, { force: true });
    state.hash = undefined;
    state.hashedTo = 0;
  }
  return { part, meta, offset, validator, done: false };
}

/** The hash state for continuing at `offset`: reused from the last try, else the prefix is read once. */
export async function hashUpTo(part: string, offset: number, state: DownloadState): Promise<void> {
  if (!state.hash || state.hashedTo !== offset) {
    state.hash = await sha1OfFile(part, createHash('sha1'), offset);
    state.hashedTo = offset;
  }
}
