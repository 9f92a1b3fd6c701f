// When seeds end (SPEC §5): one timer per seeding task of a role, firing when its seed time
// is over (../shared/seed-clock.ts says when). The end is asked again at every wake-up —
// a reactive recv may have restarted the clock — and a timer never sleeps longer than
// `tuning.seedcheck`, since timers measure elapsed time and the wall clock may jump. The
// cacher arms one per share; the sender and the receiver, whose seeds end by the same rule,
// look over all of theirs every `tuning.seedcheck` instead (a pass over a spool directory).
// Owns its timers. Must not touch seeds or task files: `onOver` does.
import { tuning } from '../../config/tuning.ts';
import { messageOf } from '../../errors/catalogue.ts';
import type { Logger } from '../../log/logger.ts';

export interface SeedEnd {
  /** When the task's seeding ends (ms since the epoch); undefined: it does not (any more). */
  end(): Promise<number | undefined> | number | undefined;
  /** The seed time is over. */
  over(): Promise<void>;
}

export class SeedTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly log: Logger) {}

  /** Arms (or re-arms) the task's timer. */
  arm(task: string, seed: SeedEnd): void {
    this.clear(task);
    const tick = async () => {
      this.timers.delete(task);
      if (this.closed) return;
      let wait: number;
      try {
        const end = await seed.end();
        if (end === undefined) return;
        wait = end - Date.now();
        if (wait <= 0) return void (await seed.over());
      } catch (err) {
        this.log.warn(`${task}: seed clock: ${messageOf(err)}; looking again in a minute`);
        wait = 60_000;
      }
      if (this.closed || this.timers.has(task)) return;
      const timer = setTimeout(() => void tick(), Math.min(wait, tuning().seedcheck));
      timer.unref();
      this.timers.set(task, timer);
    };
    void tick();
  }

  clear(task: string): void {
    clearTimeout(this.timers.get(task));
    this.timers.delete(task);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
