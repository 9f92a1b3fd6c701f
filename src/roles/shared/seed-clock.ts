// The seed clock, one rule for every role (SPEC §5): a BitTorrent share is seeded for the
// task's `bt.seedtime` hours, else the config's `defaultseedtime` (decimals allowed),
// counted from when the role's clock started — a sender's `sendtime`, a receiver's
// `finishedtime`, a cacher's completed share (or a reactive recv that restarted it).
// Pure: the roles say when their clock started.
import type { Task } from '../../task/schema.ts';
import type { Config } from '../../config/schema.ts';

const HOUR_MS = 3_600_000;

/** The task's seed time in hours. */
export function seedHours(t: Pick<Task, 'bt'>, config: Pick<Config, 'defaultseedtime'>): number {
  return Number(t.bt.seedtime ?? config.defaultseedtime);
}

/** When seeding ends (ms), or undefined while the clock has not started. */
export function seedEndMs(startMs: number | undefined, hours: number): number | undefined {
  return startMs === undefined ? undefined : startMs + hours * HOUR_MS;
}

/** Milliseconds of seeding left (0 when over); undefined while the clock has not started. */
export function seedLeftMs(startMs: number | undefined, hours: number, now = Date.now()): number | undefined {
  const end = seedEndMs(startMs, hours);
  return end === undefined ? undefined : Math.max(0, end - now);
}

/** Whole minutes left, rounded up (0 only when over); the whole seed time before the clock starts. */
export function seedLeftMinutes(startMs: number | undefined, hours: number, now = Date.now()): number {
  return Math.ceil((seedLeftMs(startMs, hours, now) ?? hours * HOUR_MS) / 60_000);
}
