// A full filesystem (ENOSPC, EDQUOT) is a named condition, not a failed try (SPEC §4): no
// number of retries frees space, and retrying at once would spin. Whatever write hits it
// turns it into DISK_FULL here, naming the filesystem and its free space; the role then
// stops the task with that text in `<task>.err` and everything already written stays.
// Owns nothing on disk.
import { statfs, realpath, readFile } from 'node:fs/promises';
import path from 'node:path';
import { errors, isBft2Error, type Bft2Error } from '../errors/catalogue.ts';

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

/** Free bytes for an unprivileged writer on the filesystem holding `p` (its nearest existing ancestor). */
export async function freeBytes(p: string): Promise<{ free: number; total: number }> {
  for (let dir = path.resolve(p); ; dir = path.dirname(dir)) {
    try {
      const s = await statfs(dir);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch (err) {
      if (dir === path.dirname(dir)) throw err;
    }
  }
}

/** "the filesystem at /mnt/x (tmpfs)": the mount point holding `p`, from /proc/self/mountinfo. */
export async function describeFilesystem(p: string): Promise<string> {
  let real = path.resolve(p);
  for (let dir = real; ; dir = path.dirname(dir)) {
    const r = await realpath(dir).catch(() => undefined);
    if (r) {
      real = r;
      break;
    }
    if (dir === path.dirname(dir)) break;
  }
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  let best = { mount: '/', type: '' };
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (f.length < 5 || dash < 0) continue;
    const mount = f[4].replace(/\\040/g, ' ');
    const inside = real === mount || real.startsWith(mount.endsWith('/') ? mount : mount + '/');
    if (inside && mount.length >= best.mount.length) best = { mount, type: f[dash + 1] ?? '' };
  }
  return `the filesystem at ${best.mount}${best.type ? ` (${best.type})` : ''}`;
}

/** The DISK_FULL error for a write under `p` that still needs `needed` bytes. */
export async function diskFullError(p: string, needed: number): Promise<Bft2Error> {
  const [fs, space] = await Promise.all([describeFilesystem(p), freeBytes(p).catch(() => ({ free: 0, total: 0 }))]);
  const err = errors.DISK_FULL(fs, space.free, needed);
  (err as Error & { path?: string }).path = p;
  return err;
}
