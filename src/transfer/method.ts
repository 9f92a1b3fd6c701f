// The interface every transfer method implements, so the role pipelines never know which
// method they drive. A method downloads its share of a DCP through its staging directory
// and renames into `targetDir` only complete files whose sha1 matched: a file of the right
// size in `targetDir` is verified, on resume too.
import type { FileEntry } from '../task/schema.ts';
import type { Logger } from '../log/logger.ts';

export interface ShareDownload {
  /** The task's name, for log lines. */
  task: string;
  /** The method's files (lists2) with their sizes and hashes. */
  files: FileEntry[];
  /** The method's staging directory: partial files and resume state, nothing verified. */
  stagingDir: string;
  /** Where each verified file goes, at its relative path (the task's assembly directory). */
  targetDir: string;
  /** The method's URL from the task (cdn.url, the torrent URL, obs.url). */
  url: string;
  signal: AbortSignal;
  onBytes: (n: number) => void;
  /** One line per failed try, for the task's error history. */
  onTryFailed: (file: string, reason: string, nextDelayMs: number | undefined) => void;
  log: Logger;
}

export interface DownloadMethod {
  readonly name: 'bt' | 'obs' | 'cdn';
  download(job: ShareDownload): Promise<void>;
}
