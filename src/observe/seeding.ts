// What a role tells the metrics about the torrents it seeds: one entry per seeding task,
// asked at scrape time. The sender and a receiver that keeps seeding its share register
// their seeds (the cacher could the same way, with the figures of its `cprogress`), so
// /metrics needs no knowledge of any role.
// Owns: this interface only. Must not touch: the seeds themselves (read-only figures).
export interface SeedingTask {
  /** The role seeding it (a cacher's tasks live in the receiver spool). */
  role: 'sender' | 'receiver' | 'cacher';
  /** The task's name (its file name without `.task.json`). */
  task: string;
  /** Peers connected to this task's torrent now. */
  peers: number;
  /** Seconds of seed time left; omitted when there is no clock yet (e.g. a cacher still downloading). */
  seedLeftSeconds?: number;
  /** Bytes served to peers since this seed started (cprogress `uploaded`). */
  uploadedBytes?: number;
  /** Share of the torrent's data present and served, 0..1 (cprogress `percent` / 100). */
  present?: number;
}

export interface SeedingProvider {
  /** The tasks seeding now; called on every scrape, so it must be cheap and must not throw for one bad task. */
  seedingTasks(): SeedingTask[] | Promise<SeedingTask[]>;
}

/** Where providers register: `ctx.metrics` (src/observe/metrics.ts). Returns the unregister. */
export interface SeedingRegistry {
  registerSeeding(provider: SeedingProvider): () => void;
}
