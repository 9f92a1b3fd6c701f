// The OBS method for receivers (SPEC §8): each file of the share from the object
// `<prefix>/<file>` of the task's `obs://<bucket>/<prefix>` URL, by ranged GETs into the
// staging dir, sha1-verified, renamed into targetDir; a few files at a time, each through
// the shared retry policy (file-share.ts), as the CDN method.
// Owns nothing but its staging companions (via obs-download.ts); must not touch the
// credentials' sources: a resolver function given to the constructor supplies them.
import type { DownloadMethod, ShareDownload } from '../method.ts';
import { defaultRetryPolicy, type RetryPolicy } from '../retry-policy.ts';
import { downloadShareFiles } from '../file-share.ts';
import { createObsClient, type ObsClientOptions } from './obs-client.ts';
import { objectKey, parseObsUrl } from './obs-url.ts';
import { downloadObjectOnce } from './obs-download.ts';

/**
 * Client options (keys, endpoint, signature, path style) for a bucket. A receiver builds
 * one per task, closing over the task's `obs` fields, obsbuckets.txt and the config (see
 * resolveObsCredentials in credentials.ts).
 */
export type ObsClientResolver = (bucket: string) => ObsClientOptions | Promise<ObsClientOptions>;

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
      await downloadShareFiles(job, 'obs', this.policy, (entry, at, state, signal, onBytes) =>
        downloadObjectOnce({ client, bucket, key: objectKey(prefix, entry.file), ...at, file: entry.file, size: entry.size, sha1: entry.hash, signal, onBytes }, state),
      );
    } finally {
      client.close();
    }
  }
}
