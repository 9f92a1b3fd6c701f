// The sender's side of OBS: resolves the bucket's credentials (task, obsbuckets.txt,
// config — never logged), opens a client for the configured signature style, and uploads
// a task's OBS share with checkpoints kept under the staging area (never beside the
// source, which is the watched store). A thin layer over src/transfer/obs.
import { mkdir } from 'node:fs/promises';
import type { DaemonContext } from '../../daemon/context.ts';
import { parseObsUrl } from '../../transfer/obs/obs-url.ts';
import { resolveObsCredentials, type TaskObsFields } from '../../transfer/obs/credentials.ts';
import { createObsClient } from '../../transfer/obs/obs-client.ts';
import { uploadShare, uploadedBytes, type UploadProgress } from '../../transfer/obs/obs-upload.ts';

export interface ObsUploadRequest {
  task: string;
  taskObs: TaskObsFields & { url: string };
  /** The share's files; the sha1 goes into each object's metadata, so a same-size replacement is caught. */
  files: { file: string; size: number; hash: string }[];
  sourceDir: string;
  signal: AbortSignal;
  onBytes: (n: number) => void;
  setDone: (n: number) => void;
  /** One line per failed try, for `uploadprogress` while retrying and the task's `.err` history. */
  onTryFailed?: (file: string, reason: string, nextDelayMs: number | undefined) => void;
}

export interface ObsPublisher {
  upload(req: ObsUploadRequest): Promise<void>;
  /** What the bucket holds of a share now (objects of the task's size), for `obsstatus`. */
  held(req: Pick<ObsUploadRequest, 'task' | 'taskObs' | 'files'>): Promise<UploadProgress>;
}

export function createObsPublisher(ctx: DaemonContext): ObsPublisher {
  return {
    async upload(req) {
      const { bucket, prefix } = parseObsUrl(req.taskObs.url);
      const config = ctx.config();
      const keys = await resolveObsCredentials(bucket, { task: req.taskObs, bucketsFile: ctx.paths.obsBucketsFile, config });
      const client = await createObsClient({ ...keys, signature: config.obssignature, pathStyle: config.obspathstyle });
      const checkpointDir = ctx.paths.obsUploadState(req.task);
      await mkdir(checkpointDir, { recursive: true });
      try {
        // After a restart, progress starts from what the bucket already holds.
        const held = await uploadedBytes({ client, bucket, prefix, files: req.files, checkpointDir }).catch(() => undefined);
        if (held) req.setDone(held.bytes);
        await uploadShare({ client, bucket, prefix, files: req.files, sourceDir: req.sourceDir, checkpointDir, signal: req.signal, onBytes: req.onBytes, onTryFailed: req.onTryFailed, log: ctx.log });
      } finally {
        client.close();
      }
    },
    async held(req) {
      const { bucket, prefix } = parseObsUrl(req.taskObs.url);
      const config = ctx.config();
      const keys = await resolveObsCredentials(bucket, { task: req.taskObs, bucketsFile: ctx.paths.obsBucketsFile, config });
      const client = await createObsClient({ ...keys, signature: config.obssignature, pathStyle: config.obspathstyle });
      try {
        return await uploadedBytes({ client, bucket, prefix, files: req.files, checkpointDir: ctx.paths.obsUploadState(req.task) });
      } finally {
        client.close();
      }
    },
  };
}
