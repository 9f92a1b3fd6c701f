// Whether a task may start on the space there is (SPEC §3 `diskreserve`): its download must
// leave the reserve free on every filesystem it writes to. Shared by the roles that
// download (receiver, cacher); the running download checks again before each range
// (src/download/task-download.ts).
// Owns nothing; reads free space.
import type { Config } from '../../config/schema.ts';
import { freeSpace, parseReserve, reserveVerdict, describeFilesystem } from '../../schedule/disk-reserve.ts';

/** Why a download of `needed` bytes into `dirs` may not start yet, or undefined. */
export async function spaceToStart(config: Config, dirs: readonly string[], needed: number): Promise<string | undefined> {
  const reserve = parseReserve(config.diskreserve);
  for (const dir of dirs) {
    const space = await freeSpace(dir).catch(() => undefined);
    if (!space) continue;
    const v = reserveVerdict({ free: space.free, total: space.total, reserve, needed });
    if (!v.ok) return `waiting for disk space: ${await describeFilesystem(dir)} has ${space.free} bytes free; the task needs ${needed} and the reserve (${config.diskreserve}) ${v.short} more`;
  }
  return undefined;
}
