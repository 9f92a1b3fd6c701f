// The OBS method as a Source (../source.ts): the files of the task's `obslist`, objects
// `dcps/<name>/<file>` of the task's bucket, fetched a byte range at a time with a ranged
// GET and If-Match (OBS keeps the ETag). Its ranges are larger than the others' (each is a
// signed request, billed per request). The client is made on first use and closed with the
// source.
// Owns its OBS client. Must not touch other methods' files.
import { stallGuard } from '../stall-guard.ts';
import { pump, checkRangeAnswer, SourceChanged, type RangeJob } from '../segments/body-pump.ts';
import { ObsRequestError, type ObsClient } from './obs-client.ts';
import { objectKey, parseObsUrl } from './obs-url.ts';
import { tuning } from '../../config/tuning.ts';
import type { Source, RangeSink } from '../source.ts';
import type { FileEntry } from '../../task/schema.ts';

/** `[start, end)` of the object `key` with a ranged GET and If-Match. */
export async function fetchObsRange(client: ObsClient, bucket: string, key: string, job: RangeJob): Promise<number> {
  const guard = stallGuard(job.signal);
  try {
    guard.arm();
    let obj;
    try {
      obj = await client.getObjectFrom(bucket, key, { start: job.start, end: job.end, ifMatch: job.sink.validator, signal: guard.controller.signal });
    } catch (err) {
      // 412: If-Match failed, the object was replaced.
      if (err instanceof ObsRequestError && err.status === 412) throw new SourceChanged(job.file.file, 'its ETag changed');
      throw err;
    }
    const { body } = obj;
    try {
      checkRangeAnswer(job, obj.status, obj.headers, 'obs', 'object');
      // Stores that ignore If-Match (s3rver) still send the ETag: compare it ourselves.
      if (job.sink.validator && obj.etag && obj.etag !== job.sink.validator) throw new SourceChanged(job.file.file, 'its ETag changed');
    } catch (err) {
      body.destroy();
      throw err;
    }
    if (obj.etag) job.sink.setValidator(obj.etag);
    return await pump(body, job, job.start, obj.status === 206 ? 0 : job.start, 'OBS', guard.arm, obj.status !== 206);
  } catch (err) {
    if (job.signal.aborted) throw job.signal.reason;
    throw err;
  } finally {
    guard.dispose();
  }
}

export class ObsSource implements Source {
  readonly method = 'obs' as const;
  readonly parallel = 2;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly files: Set<string>;
  private client?: Promise<ObsClient>;

  /**
   * `url`: the task's `obs.url` (`obs://<bucket>/dcps/<name>`); `files`: its obslist;
   * `makeClient`: an OBS client for the bucket (credentials from the task, obsbuckets.txt or the config).
   */
  constructor(url: string, files: readonly string[], private readonly makeClient: (bucket: string) => Promise<ObsClient>) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseObsUrl(url));
    this.files = new Set(files);
  }

  get rangeBytes(): number {
    return tuning().obschunk;
  }

  reaches(file: string): boolean {
    return this.files.has(file);
  }

  async fetch(file: FileEntry, start: number, end: number, signal: AbortSignal, sink: RangeSink): Promise<void> {
    this.client ??= this.makeClient(this.bucket);
    this.client.catch(() => (this.client = undefined));
    await fetchObsRange(await this.client, this.bucket, objectKey(this.prefix, file.file), { file, start, end, signal, sink });
  }

  async pause(): Promise<void> {}
  stats() {
    return { peers: 0, uploaded: 0, serving: false };
  }
  async close(): Promise<void> {
    if (this.client) (await this.client.catch(() => undefined))?.close();
  }
}
