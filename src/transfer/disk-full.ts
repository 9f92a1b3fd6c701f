// A full filesystem (ENOSPC, EDQUOT) is a named condition, not a failed try (SPEC §4): no
// number of retries frees space, and retrying at once would spin. Whatever write hits it
// turns it into DISK_FULL here, naming the filesystem and its free space; the role then
// stops the task with that text in `<task>.err` and everything already written stays.
// Owns nothing on disk.
import { errors, isBft2Error, type Bft2Error } from '../errors/catalogue.ts';
import { describeFilesystem, freeSpace } from '../schedule/disk-reserve.ts';

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** True for ENOSPC / EDQUOT anywhere in the cause chain, and for DISK_FULL itself. */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (isBft2Error(e) && e.code === 'DISK_FULL') return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && FULL_CODES.has(code)) return true;
  }
  return false;
}

/** The DISK_FULL error for a write under `p` that still needs `needed` bytes. */
export async function diskFullError(p: string, needed: number): Promise<Bft2Error> {
  const [fs, space] = await Promise.all([describeFilesystem(p), freeSpace(p).catch(() => ({ free: 0, total: 0 }))]);
  const err = errors.DISK_FULL(fs, space.free, needed);
  (err as Error & { path?: string }).path = p;
  return err;
}
