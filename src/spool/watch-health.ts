// Which of the process's directory watchers have fallen back to polling, and why. inotify
// has a per-user limit on watches (`fs.inotify.max_user_watches`); when it runs out, a
// watcher gets ENOSPC (not a full disk) and would go blind. Every watcher (spool
// directories, the store's hash watcher) reports that here instead: the fix is logged
// once in each log file, where an operator reads it, and `bft2 status`, the status page
// and /metrics (`bft2_watch_polling`) say the node polls.
// Owns only this in-memory record.
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../log/logger.ts';

/** The value the installer sets (packaging/sysctl.conf) and the log line recommends. */
export const RECOMMENDED_MAX_USER_WATCHES = 1048576;

const polled = new Map<string, string>();
/** The logs that carry the advice already: once in each (the daemon's, the hash table's). */
const advised = new WeakSet<Logger>();

/** True for a watcher error that means the inotify limits, not the directory, are the problem. */
export function isWatchLimit(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EMFILE';
}

/** A watcher of `dir` polls from now on, because `why`; the sysctl fix is logged once per process. */
export function reportPolling(dir: string, why: string, log: Logger): void {
  if (polled.has(dir)) return;
  polled.set(dir, why);
  log.error(`${why}: ${dir} is watched by polling from now on`);
  if (advised.has(log)) return;
  advised.add(log);
  log.error(
    `inotify watch limit reached (fs.inotify.max_user_watches). Raise it: sysctl -w fs.inotify.max_user_watches=${RECOMMENDED_MAX_USER_WATCHES} ` +
      `and persist it in /etc/sysctl.d/ (install.sh does). Directories are polled meanwhile; nothing is missed, pickup is slower.`,
  );
}

/** `polling (inotify limit)` when any watcher polls, else `inotify`: for status and the page. */
export function watchMode(): string {
  return polled.size > 0 ? `polling (${[...new Set(polled.values())].join(', ')})` : 'inotify';
}

/** The directories being polled, with why. */
export function polledDirs(): { dir: string; why: string }[] {
  return [...polled].map(([dir, why]) => ({ dir, why }));
}

/**
 * Resolves when a chokidar watcher is ready — or has failed: out of inotify watches,
 * chokidar reports the error and may never be ready, and the start must go on (the
 * watcher's error handler switches to polling). At most 10 s.
 */
export function whenStarted(w: FSWatcher): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 10_000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    w.once('ready', done);
    w.once('error', done);
  });
}
