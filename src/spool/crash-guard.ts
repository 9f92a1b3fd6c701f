// The crash guard (SPEC §12): a task whose work took the daemon down must not take it down
// at every start. The daemon records which tasks are running in
// `<root>/var/lib/bft2/running.json`, and deletes the record when it stops cleanly. A record
// found at start-up means the last run ended in a crash: each task it names earns a strike,
// kept while the task keeps running through crashes. A task with two strikes — running at
// two crashes in a row — is not started on the third start; its role sets it aside with an
// `.err` (quarantine) and every other task runs. Deleting that `.err` re-arms it as usual.
// Owns: running.json. Must not touch spool files (the roles write the `.err`).
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurable } from './durable-fs.ts';
import type { Logger } from '../log/logger.ts';

/** Crashes in a row while running that set a task aside. */
export const QUARANTINE_STRIKES = 2;

export class CrashGuard {
  /** Strikes carried over from crashed runs, by task key (`<role>/<task>`). */
  private readonly carried = new Map<string, number>();
  private readonly running = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly file: string) {}

  /** Reads the record a crashed run left (if any) and starts this run's. */
  static async open(stateDir: string, log: Logger): Promise<CrashGuard> {
    const guard = new CrashGuard(path.join(stateDir, 'running.json'));
    const text = await readFile(guard.file, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      let tasks: Record<string, unknown> = {};
      try {
        tasks = (JSON.parse(text) as { tasks?: Record<string, unknown> }).tasks ?? {};
      } catch {
        // A torn record: nobody gets a strike.
      }
      const named: string[] = [];
      for (const [key, strikes] of Object.entries(tasks)) {
        if (typeof strikes !== 'number') continue;
        guard.carried.set(key, strikes + 1);
        named.push(`${key} (${strikes + 1})`);
      }
      log.warn(`the last run of the daemon did not stop cleanly${named.length ? `; tasks running then, with their crashes in a row: ${named.join(', ')}` : ''}`);
    }
    await guard.save();
    return guard;
  }

  /** Crashes in a row while this task was running. */
  strikes(key: string): number {
    return this.carried.get(key) ?? 0;
  }

  quarantined(key: string): boolean {
    return this.strikes(key) >= QUARANTINE_STRIKES;
  }

  /** A task's work starts: a crash from now on counts for it. */
  started(key: string): void {
    this.running.set(key, this.strikes(key));
    void this.save();
  }

  /** A task's work is over (done, failed, cancelled, set aside): it is cleared. */
  ended(key: string): void {
    this.carried.delete(key);
    if (this.running.delete(key)) void this.save();
  }

  /** Resolves once every change of the record so far is on disk (a test crashes after it). */
  saved(): Promise<void> {
    return this.writing;
  }

  /** A clean stop: no record stays, so the next start gives nobody a strike. */
  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    await rm(this.file, { force: true });
  }

  private save(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (this.closed) return;
      await writeFileDurable(this.file, JSON.stringify({ tasks: Object.fromEntries(this.running) }) + '\n').catch(() => undefined);
    });
    return this.writing;
  }
}
