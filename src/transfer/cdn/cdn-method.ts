// The CDN / plain HTTP method: each file of the share from `<cdn.url>/<file>` with undici,
// a few files at a time, every file through the shared retry policy.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { DownloadMethod, ShareDownload } from '../method.ts';
import type { FileEntry } from '../../task/schema.ts';
import { downloadOnce, type DownloadState } from './http-download.ts';
import { defaultRetryPolicy, nextRetryDelay, type RetryPolicy } from '../retry-policy.ts';
import { errors, isBft2Error, messageOf } from '../../errors/catalogue.ts';
import { sleep } from '../../util/time.ts';
import { settleAll } from '../../util/settle-all.ts';

/** `<cdn.url>/<file>` with every path segment percent-encoded. */
export function fileUrl(base: string, file: string): string {
  return base.replace(/\/+$/, '') + '/' + file.split('/').map(encodeURIComponent).join('/');
}

const PARALLEL_FILES = 2;


export class CdnMethod implements DownloadMethod {
  readonly name = 'cdn' as const;
  constructor(private readonly policy: RetryPolicy = defaultRetryPolicy()) {}

  async download(job: ShareDownload): Promise<void> {
    // Large files first, so a small file never waits behind the last big one alone.
    const queue = [...job.files].sort((a, b) => b.size - a.size);
    // One failed file fails the share: the other workers are stopped, not left running
    // behind a task that already reported its error (a re-armed task would race them).
    const stop = new AbortController();
    const signal = AbortSignal.any([job.signal, stop.signal]);
    const worker = async () => {
      for (let f = queue.shift(); f && !signal.aborted; f = queue.shift()) await this.downloadWithRetries({ ...job, signal }, f);
    };
    await settleAll(Array.from({ length: Math.min(PARALLEL_FILES, queue.length) }, worker), stop);
  }

  private async downloadWithRetries(job: ShareDownload, entry: FileEntry): Promise<void> {
    const dest = path.join(job.targetDir, entry.file);
    await mkdir(path.dirname(dest), { recursive: true });
    const partBase = path.join(job.stagingDir, entry.file);
    const state: DownloadState = { hashedTo: 0 };
    let failedTries = 0;
    for (;;) {
      let progressed = false;
      try {
        await downloadOnce(
          {
            url: fileUrl(job.url, entry.file),
            dest,
            partBase,
            file: entry.file,
            size: entry.size,
            sha1: entry.hash,
            signal: job.signal,
            onBytes: (n) => {
              progressed = true;
              job.onBytes(n);
            },
          },
          state,
        );
        return;
      } catch (err) {
        if (job.signal.aborted) throw job.signal.reason;
        if (progressed && !isBft2Error(err)) {
          // A drop after progress resumes at once with Range; only tries that move nothing count.
          failedTries = 0;
          job.onTryFailed(entry.file, messageOf(err), 0);
          continue;
        }
        failedTries += 1;
        const delay = nextRetryDelay(this.policy, failedTries, err);
        job.onTryFailed(entry.file, messageOf(err), delay);
        if (delay === undefined) {
          throw isBft2Error(err) ? err : errors.DOWNLOAD_FAILED('cdn', entry.file, messageOf(err));
        }
        await sleep(delay, job.signal);
      }
    }
  }
}
