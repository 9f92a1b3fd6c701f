// The CDN / plain HTTP method: each file of the share from `<cdn.url>/<file>` with undici
// (http-download.ts), a few files at a time, every file through the shared retry policy.
import type { DownloadMethod, ShareDownload } from '../method.ts';
import { downloadOnce } from './http-download.ts';
import { downloadShareFiles } from '../file-share.ts';
import { defaultRetryPolicy, type RetryPolicy } from '../retry-policy.ts';

/** `<cdn.url>/<file>` with every path segment percent-encoded. */
export function fileUrl(base: string, file: string): string {
  return base.replace(/\/+$/, '') + '/' + file.split('/').map(encodeURIComponent).join('/');
}

export class CdnMethod implements DownloadMethod {
  readonly name = 'cdn' as const;
  constructor(private readonly policy: RetryPolicy = defaultRetryPolicy()) {}

  download(job: ShareDownload): Promise<void> {
    return downloadShareFiles(job, 'cdn', this.policy, (entry, at, state, signal, onBytes) =>
      downloadOnce({ url: fileUrl(job.url, entry.file), ...at, file: entry.file, size: entry.size, sha1: entry.hash, signal, onBytes }, state),
    );
  }
}
