// Tasks per role and state, read from the spool directories (SPEC §5: state is the
// directory a task file is in), and how many of them carry a `<task>.err`. Read with the
// same listing the pipelines use (regular `*.task.json` files, temp names ignored), so the
// numbers are what `ls` shows.
// Owns nothing; only lists directories. Must not touch: the spools (read-only).
import { readdir } from 'node:fs/promises';
import { RECEIVER_STATES, SENDER_STATES, type Paths, type Role } from '../config/paths.ts';
import type { Config } from '../config/schema.ts';
import { TaskSpool } from '../spool/task-spool.ts';
import { silentLogger } from '../log/logger.ts';

export interface SpoolCount {
  /** `sender`, `receiver`, or `cacher` for the receiver spool of a cacher node. */
  role: 'sender' | 'receiver' | 'cacher';
  /** The spool directory. */
  state: string;
  tasks: number;
  /** Tasks in this directory with a `<task>.err` beside them. */
  errors: number;
}

const quiet = silentLogger();

/** Every state directory of both spools (zeros included: a state with no task still reports 0). */
export async function countSpools(paths: Paths, config: Config): Promise<SpoolCount[]> {
  const out: SpoolCount[] = [];
  const spools: [Role, SpoolCount['role'], readonly string[]][] = [
    ['sender', 'sender', SENDER_STATES],
    ['receiver', config.servertype === 'cacher' ? 'cacher' : 'receiver', RECEIVER_STATES],
  ];
  for (const [spoolRole, role, states] of spools) {
    const spool = new TaskSpool(paths, spoolRole, states, quiet);
    for (const state of states) {
      const tasks = await spool.list(state);
      const names = new Set(await readdir(spool.dir(state)).catch(() => [] as string[]));
      out.push({ role, state, tasks: tasks.length, errors: tasks.filter((t) => names.has(`${t}.err`)).length });
    }
  }
  return out;
}
