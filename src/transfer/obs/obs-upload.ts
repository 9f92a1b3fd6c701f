// The sender's OBS upload (SPEC §5 `uploading`, §8): each file of the OBS share to the
// object `<prefix>/<file>`, multipart through the SDK's `uploadFile`, resumable after a
// crash or kill -9 from the SDK's resume records, which are kept in `checkpointDir` and
// never beside the source (the store is watched by the hash table). Objects already
// complete in the bucket are skipped. `uploadedBytes` answers `obsstatus` from what the
// bucket holds. Owns the resume records under `checkpointDir`; must not touch the source
// files (only read) nor the spool (the sender role moves tasks).
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log/logger.ts';
import { Bft2Error, isBft2Error, messageOf, errors } from '../../errors/catalogue.ts';
import { sleep } from '../../util/time.ts';
import { defaultRetryPolicy, nextRetryDelay, type RetryPolicy } from '../retry-policy.ts';
import { ObsRequestError, type ObsClient } from './obs-client.ts';
import { objectKey } from './obs-url.ts';
import { tuning } from '../../config/tuning.ts';

export interface UploadFileEntry {
  /** Relative path inside the DCP. */
  file: string;
  size: number;
  /**
   * The file's sha1, when known: stored as the object's `sha1` metadata, and an object of
   * the right size whose `sha1` metadata differs is uploaded again instead of skipped.
   */
  hash?: string;
}

export interface UploadShareJob {
  client: ObsClient;
  bucket: string;
  /** Key prefix from the task's obs.url (`dcps/<name>`). */
  prefix: string;
  files: UploadFileEntry[];
  /** The DCP directory the files are read from. */
  sourceDir: string;
  /** Resume records (one per file being uploaded), outside every watched directory. */
  checkpointDir: string;
  signal: AbortSignal;
  /** Bytes sent (part bodies handed to the network; a part re-sent after a failure counts again). */
  onBytes: (n: number) => void;
  log: Logger;
  /** One line per failed try, for the task's error history. */
  onTryFailed?: (file: string, reason: string, nextDelayMs: number | undefined) => void;
  policy?: RetryPolicy;
  /** Default `tuning.obspartsize` (16 MB), raised for huge files to stay under 10000 parts. */
  partSize?: number;
  /** Parts in flight at once; default `tuning.obsparallelparts` (4). */
  parallelParts?: number;
}

const MiB = 1024 * 1024;
/** OBS and S3 allow 10000 parts; a little headroom. */
const MAX_PARTS = 9000;

/** The SDK's resume record (the fields bft2 reads). */
interface UploadRecord {
  bucketName?: string;
  objectKey?: string;
  uploadId?: string;
  partCount?: number;
  uploadFileStat?: { fileSize?: number };
  partsMeta?: Record<string, { partSize?: number; isCompleted?: boolean }>;
}

/** Errors after which the SDK's record is still good: the next try continues from it. */
const RECORD_STILL_VALID = new Set(['IncompletedUpload', 'Upload suspened']);
/** Errors that mean "the record was stale or broken": start over at once, once. */
const START_OVER = new Set(['CheckpointFileInvalid', 'ParseCheckpointFileError', 'ReadCheckpointFileError', 'NoSuchUpload']);

/** Where the resume record of `file` lives: the DCP's layout mirrored under checkpointDir. */
export function checkpointPath(checkpointDir: string, file: string): string {
  return path.join(checkpointDir, ...file.split('/')) + '.upload_record';
}

async function readRecord(file: string): Promise<UploadRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as UploadRecord;
  } catch {
    return undefined;
  }
}

function completedPartBytes(rec: UploadRecord, size: number): { bytes: number; parts: number } {
  let bytes = 0;
  let parts = 0;
  for (const p of Object.values(rec.partsMeta ?? {})) {
    if (p?.isCompleted) {
      bytes += Number(p.partSize ?? 0);
      parts += 1;
    }
  }
  return { bytes: Math.min(bytes, size), parts };
}

export function choosePartSize(size: number, wanted?: number): number {
  const base = wanted ?? tuning().obspartsize;
  return Math.max(base, Math.ceil(size / MAX_PARTS / MiB) * MiB);
}

/** Removes a resume record, aborting its multipart upload first (best effort: the bucket's lifecycle rules clean up the rest). */
async function dropRecord(job: UploadShareJob, record: string, key: string): Promise<void> {
  const rec = await readRecord(record);
  if (rec?.uploadId) await job.client.abortMultipartUpload(job.bucket, key, rec.uploadId).catch(() => {});
  await rm(record, { force: true });
}

function sourceError(file: string, why: string): Bft2Error {
  // Not in the catalogue yet (see the obs report); the task names a file the store lacks.
  return errors.OBS_UPLOAD_SOURCE(file, why);
}

/** One try for one file: 'skipped' when the bucket already holds it. */
async function uploadOnce(job: UploadShareJob, entry: UploadFileEntry): Promise<'skipped' | 'uploaded'> {
  const key = objectKey(job.prefix, entry.file);
  const src = path.join(job.sourceDir, ...entry.file.split('/'));
  const st = await stat(src).catch((err: NodeJS.ErrnoException) => {
    throw sourceError(entry.file, `cannot read ${src}: ${err.code ?? err.message}`);
  });
  if (!st.isFile()) throw sourceError(entry.file, `${src} is not a regular file`);
  if (st.size !== entry.size) throw sourceError(entry.file, `${src} has ${st.size} bytes, the task says ${entry.size}`);
  const record = checkpointPath(job.checkpointDir, entry.file);

  const head = await job.client.headObject(job.bucket, key);
  if (head && head.size === entry.size && (!entry.hash || !head.metadata.sha1 || head.metadata.sha1 === entry.hash)) {
    // A kill -9 between completion and the SDK's unlink leaves a record behind: drop it.
    await dropRecord(job, record, key);
    job.log.info(`obs upload ${key}: already in bucket ${job.bucket}, skipped`);
    return 'skipped';
  }

  const started = Date.now();
  let sent = 0;
  const onBytes = (n: number) => {
    sent += n;
    job.onBytes(n);
  };
  const metadata = entry.hash ? { sha1: entry.hash } : undefined;
  const partSize = choosePartSize(entry.size, job.partSize);
  if (entry.size < partSize) {
    // One PUT: a resume record would cost more requests than the file.
    await job.client.putFile({ bucket: job.bucket, key, file: src, metadata, signal: job.signal, onBytes });
    await rm(record, { force: true });
  } else {
    const rec = await readRecord(record);
    if (rec?.uploadId) {
      const done = completedPartBytes(rec, entry.size);
      job.log.info(`obs upload ${key}: resuming, ${done.parts} of ${rec.partCount ?? '?'} parts (${(done.bytes / MiB).toFixed(1)} MB) already in the bucket`);
    }
    try {
      await job.client.uploadFile({
        bucket: job.bucket,
        key,
        file: src,
        checkpointFile: record,
        partSize,
        parallelParts: job.parallelParts ?? tuning().obsparallelparts,
        metadata,
        signal: job.signal,
        onBytes,
      });
    } catch (err) {
      // The SDK keeps its record only for part failures; after any other error a record
      // left behind (its abort of the multipart upload failed) would fail every next try.
      if (err instanceof ObsRequestError && !RECORD_STILL_VALID.has(err.code)) await rm(record, { force: true });
      throw err;
    }
    // The SDK unlinks the record without waiting; make sure it is gone before we say done.
    await rm(record, { force: true });
  }
  const secs = (Date.now() - started) / 1000;
  job.log.info(`obs upload ${key}: ${(sent / MiB).toFixed(1)} MB sent in ${secs.toFixed(1)} s (${(sent / MiB / Math.max(secs, 0.001)).toFixed(1)} MB/s)`);
  return 'uploaded';
}

async function uploadWithRetries(job: UploadShareJob, entry: UploadFileEntry, policy: RetryPolicy): Promise<void> {
  let failedTries = 0;
  let startedOver = false;
  for (;;) {
    let progressed = false;
    try {
      const onBytes = (n: number) => {
        progressed = true;
        job.onBytes(n);
      };
      await uploadOnce({ ...job, onBytes }, entry);
      return;
    } catch (err) {
      if (job.signal.aborted) throw job.signal.reason;
      if (err instanceof ObsRequestError && START_OVER.has(err.code) && !startedOver) {
        startedOver = true;
        job.log.warn(`obs upload ${entry.file}: resume record unusable (${messageOf(err)}), starting the file over`);
        continue;
      }
      if (progressed && !isBft2Error(err)) {
        // Parts that reached the bucket are kept: resume at once, only tries that move nothing count.
        failedTries = 0;
        job.onTryFailed?.(entry.file, messageOf(err), 0);
        continue;
      }
      failedTries += 1;
      const delay = nextRetryDelay(policy, failedTries, err);
      job.onTryFailed?.(entry.file, messageOf(err), delay);
      if (delay === undefined) {
        // Not in the catalogue yet (see the obs report): the upload twin of DOWNLOAD_FAILED.
        throw isBft2Error(err) ? err : errors.OBS_UPLOAD_FAILED(entry.file, messageOf(err));
      }
      await sleep(delay, job.signal);
    }
  }
}

/**
 * Uploads every file of the share to `<prefix>/<file>`, one file after another (the parts
 * of a file already go in parallel). Resolves when the bucket holds all of them.
 */
export async function uploadShare(job: UploadShareJob): Promise<void> {
  const policy = job.policy ?? defaultRetryPolicy();
  for (const entry of job.files) {
    if (job.signal.aborted) throw job.signal.reason;
    await uploadWithRetries(job, entry, policy);
  }
}

export interface UploadProgress {
  /** Bytes the bucket holds: complete objects plus the completed parts of pending uploads. */
  bytes: number;
  total: number;
  /** Every file is a complete object of its size. */
  complete: boolean;
}

/**
 * What the bucket holds of the share, for `uploadprogress` (`obsstatus`): one listing of
 * the prefix; for files not complete yet, the completed parts named in their resume
 * records (each written only after the store acknowledged the part; listing parts is not
 * implemented by every S3-compatible store).
 */
export async function uploadedBytes(opts: {
  client: ObsClient;
  bucket: string;
  prefix: string;
  files: UploadFileEntry[];
  checkpointDir?: string;
}): Promise<UploadProgress> {
  const listed = new Map((await opts.client.listObjects(opts.bucket, opts.prefix === '' ? '' : opts.prefix + '/')).map((o) => [o.key, o.size]));
  let bytes = 0;
  let total = 0;
  let complete = true;
  for (const f of opts.files) {
    total += f.size;
    const key = objectKey(opts.prefix, f.file);
    if (listed.get(key) === f.size) {
      bytes += f.size;
      continue;
    }
    complete = false;
    if (!opts.checkpointDir) continue;
    const rec = await readRecord(checkpointPath(opts.checkpointDir, f.file));
    if (rec && rec.bucketName === opts.bucket && rec.objectKey === key && rec.uploadFileStat?.fileSize === f.size) {
      bytes += completedPartBytes(rec, f.size).bytes;
    }
  }
  return { bytes, total, complete };
}

/** `obsstatus` of `uploadprogress` (SPEC §9): `completed` or `uncompleted N%` (N rounded down, so never 100 before the end). */
export function formatObsStatus(p: UploadProgress): string {
  if (p.complete) return 'completed';
  return `uncompleted ${p.total > 0 ? Math.floor((p.bytes * 100) / p.total) : 0}%`;
}
