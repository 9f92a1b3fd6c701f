// The sender's side of OBS: resolves the bucket's credentials (task, obsbuckets.txt,
// config — never logged), opens a client for the configured signature style, and uploads
// a task's OBS share with checkpoints kept under the staging area (never beside the
// source, which is the watched store). A thin layer over src/transfer/obs.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { DaemonContext } from '../../daemon/context.ts';
import { parseObsUrl } from '../../transfer/obs/obs-url.ts';
import { resolveObsCredentials, type TaskObsFields } from '../../transfer/obs/credentials.ts';
import { createObsClient } from '../../transfer/obs/obs-client.ts';
import { uploadShare } from '../../transfer/obs/obs-upload.ts';

export interface ObsUploadRequest {
  task: string;
  taskObs: TaskObsFields & { url: string };
  files: { file: string; size: number }[];
  sourceDir: string;
  signal: AbortSignal;
  onBytes: (n: number) => void;
  setDone: (n: number) => void;
}

export interface ObsPublisher {
  upload(req: ObsUploadRequest): Promise<void>;
}

export function createObsPublisher(ctx: DaemonContext): ObsPublisher {
  return {
    async upload(req) {
      const { bucket, prefix } = parseObsUrl(req.taskObs.url);
      const config = ctx.config();
      const keys = await resolveObsCredentials(bucket, { task: req.taskObs, bucketsFile: ctx.paths.obsBucketsFile, config });
      const client = await createObsClient({ ...keys, signature: config.obssignature, pathStyle: config.obspathstyle });
      const checkpointDir = path.join(ctx.paths.transferDir, 'obs', 'upload', req.task);
      await mkdir(checkpointDir, { recursive: true });
      try {
        await uploadShare({ client, bucket, prefix, files: req.files, sourceDir: req.sourceDir, checkpointDir, signal: req.signal, onBytes: req.onBytes, log: ctx.log });
      } finally {
        client.close();
      }
    },
  };
}
