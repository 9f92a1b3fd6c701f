// The OBS method for receivers (SPEC §8): each file of the share from the object
// `<prefix>/<file>` of the task's `obs://<bucket>/<prefix>` URL, by ranged GETs into the
// staging dir, sha1-verified, renamed into targetDir; a few files at a time, each through
// the shared retry policy — the same shape as the CDN method (cdn-method.ts).
// Owns nothing but its staging companions (via obs-download.ts); must not touch the
// credentials' sources: a resolver function given to the constructor supplies them.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { DownloadMethod, ShareDownload } from '../method.ts';
import type { FileEntry } from '../../task/schema.ts';
import type { DownloadState } from '../cdn/http-download.ts';
import { defaultRetryPolicy, nextRetryDelay, type RetryPolicy } from '../retry-policy.ts';
import { errors, isBft2Error, messageOf } from '../../errors/catalogue.ts';
import { sleep } from '../../util/time.ts';
import { settleAll } from '../../util/settle-all.ts';
import { createObsClient, type ObsClient, type ObsClientOptions } from './obs-client.ts';
import { objectKey, parseObsUrl } from './obs-url.ts';
import { downloadObjectOnce } from './obs-download.ts';

/**
 * Client options (keys, endpoint, signature, path style) for a bucket. A receiver builds
 * one per task, closing over the task's `obs` fields, obsbuckets.txt and the config (see
 * resolveObsCredentials in credentials.ts).
 */
export type ObsClientResolver = (bucket: string) => ObsClientOptions | Promise<ObsClientOptions>;

const PARALLEL_FILES = 2;

export class ObsMethod implements DownloadMethod {
  readonly name = 'obs' as const;
  constructor(
    private readonly resolveClient: ObsClientResolver,
    private readonly policy: RetryPolicy = defaultRetryPolicy(),
  ) {}

  async download(job: ShareDownload): Promise<void> {
    if (job.files.length === 0) return;
    const { bucket, prefix } = parseObsUrl(job.url);
    const client = await createObsClient(await this.resolveClient(bucket));
    try {
      // Large files first, so a small file never waits behind the last big one alone.
      const queue = [...job.files].sort((a, b) => b.size - a.size);
      // One failed file fails the share and stops the other workers (see cdn-method.ts).
      const stop = new AbortController();
      const signal = AbortSignal.any([job.signal, stop.signal]);
      const worker = async () => {
        for (let f = queue.shift(); f && !signal.aborted; f = queue.shift()) {
          await this.downloadWithRetries({ ...job, signal }, client, bucket, objectKey(prefix, f.file), f);
        }
      };
      await settleAll(Array.from({ length: Math.min(PARALLEL_FILES, queue.length) }, worker), stop);
    } finally {
      client.close();
    }
  }

  private async downloadWithRetries(job: ShareDownload, client: ObsClient, bucket: string, key: string, entry: FileEntry): Promise<void> {
    const dest = path.join(job.targetDir, entry.file);
    await mkdir(path.dirname(dest), { recursive: true });
    const partBase = path.join(job.stagingDir, entry.file);
    const state: DownloadState = { hashedTo: 0 };
    let failedTries = 0;
    for (;;) {
      let progressed = false;
      try {
        await downloadObjectOnce(
          {
            client,
            bucket,
            key,
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
          // A drop after progress resumes at once with a range; only tries that move nothing count.
          failedTries = 0;
          job.onTryFailed(entry.file, messageOf(err), 0);
          continue;
        }
        failedTries += 1;
        const delay = nextRetryDelay(this.policy, failedTries, err);
        job.onTryFailed(entry.file, messageOf(err), delay);
        if (delay === undefined) {
          throw isBft2Error(err) ? err : errors.DOWNLOAD_FAILED('obs', entry.file, messageOf(err));
        }
        await sleep(delay, job.signal);
      }
    }
  }
}
