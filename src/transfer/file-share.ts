// Downloading a share file by file, for the methods that fetch one file per request (CDN,
// OBS): a few files at a time, large first, each file through the shared retry policy;
// one file that fails for good fails the share and stops the others.
// Owns nothing on disk: each try is the method's own function.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ShareDownload } from './method.ts';
import type { FileEntry } from '../task/schema.ts';
import type { DownloadState } from './part-file.ts';
import { nextRetryDelay, type RetryPolicy } from './retry-policy.ts';
import { errors, isBft2Error, messageOf } from '../errors/catalogue.ts';
import { sleep } from '../util/time.ts';
import { isDiskFull, diskFullError } from './disk-full.ts';
import { settleAll } from '../util/settle-all.ts';

const PARALLEL_FILES = 2;

/** One try at one file: continue from what is on disk, end with the verified file at `dest`. */
export type FileTry = (entry: FileEntry, at: { dest: string; partBase: string }, state: DownloadState, signal: AbortSignal, onBytes: (n: number) => void) => Promise<unknown>;

export async function downloadShareFiles(job: ShareDownload, method: 'cdn' | 'obs', policy: RetryPolicy, once: FileTry): Promise<void> {
  // Large files first, so a small file never waits behind the last big one alone.
  const queue = [...job.files].sort((a, b) => b.size - a.size);
  // The other workers are stopped, not left running behind a task that already reported
  // its error (a re-armed task would race them).
  const stop = new AbortController();
  const signal = AbortSignal.any([job.signal, stop.signal]);
  const worker = async () => {
    for (let f = queue.shift(); f && !signal.aborted; f = queue.shift()) await withRetries({ ...job, signal }, method, policy, f, once);
  };
  await settleAll(Array.from({ length: Math.min(PARALLEL_FILES, queue.length) }, worker), stop);
}

async function withRetries(job: ShareDownload, method: 'cdn' | 'obs', policy: RetryPolicy, entry: FileEntry, once: FileTry): Promise<void> {
  const dest = path.join(job.targetDir, entry.file);
  await mkdir(path.dirname(dest), { recursive: true });
  const at = { dest, partBase: path.join(job.stagingDir, entry.file) };
  const state: DownloadState = { hashedTo: 0 };
  let failedTries = 0;
  for (;;) {
    let progressed = false;
    const onBytes = (n: number) => {
      progressed = true;
      job.onBytes(n);
    };
    try {
      await once(entry, at, state, job.signal, onBytes);
      return;
    } catch (err) {
      if (job.signal.aborted) throw job.signal.reason;
      // No try frees space: the task stops at once with DISK_FULL (its bytes stay on disk).
      if (isDiskFull(err)) throw isBft2Error(err) ? err : await diskFullError(at.partBase, entry.size);
      if (progressed && !isBft2Error(err)) {
        // A drop after progress resumes at once from where it stopped; only tries that move nothing count.
        failedTries = 0;
        job.onTryFailed(entry.file, messageOf(err), 0);
        continue;
      }
      failedTries += 1;
      const delay = nextRetryDelay(policy, failedTries, err);
      job.onTryFailed(entry.file, messageOf(err), delay);
      if (delay === undefined) throw isBft2Error(err) && err.code !== 'HTTP_FAILED' ? err : errors.DOWNLOAD_FAILED(method, entry.file, messageOf(err));
      await sleep(delay, job.signal);
    }
  }
}
