// What a role tells the metrics about the tasks it downloads now: one entry per running
// download, read at scrape time from the same snapshot its `progress` (or `cprogress`)
// answers with, so /metrics, `progress`, `bft2 status` and the status page show the same
// figures (issue 22: one source).
// Owns: this interface only. Must not touch: the downloads themselves (read-only figures).
export type DownloadMethod = 'bt' | 'obs' | 'cdn';

export interface DownloadFigures {
  role: 'receiver' | 'cacher';
  task: string;
  /** Bytes of the task's files on disk, by the method that fetched them (progress `<m>percent`). */
  bytes: Record<DownloadMethod, number>;
  /** Bytes per second now, per method (progress `<m>rate`). */
  rates: Record<DownloadMethod, number>;
  /** Seconds since the task last landed a byte while a method should be moving; 0 otherwise. */
  quietSeconds: number;
}

export interface DownloadProvider {
  /** Called on every scrape: cheap, never throws for one bad task. */
  downloads(): DownloadFigures[];
}

/** Where providers register: `ctx.metrics` (src/observe/metrics.ts). Returns the unregister. */
export interface DownloadRegistry {
  registerDownloads(provider: DownloadProvider): () => void;
}
