// The disk reserve of config.json (`diskreserve`, SPEC §3): free space kept on the store's
// and the transfer area's filesystems, as bytes (`20GB`) or a share of the filesystem
// (`5%`). Here: parsing it, measuring a filesystem, the verdict "may this download go
// on", and naming the filesystem in messages ("the filesystem at /data (tmpfs)").
// Owns: nothing on disk (it only reads statfs and /proc/self/mountinfo). Must not touch:
// tasks or transfers (the pipelines pause and resume on the verdict).
import { statfs, stat, realpath, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseByteSize } from './byte-size.ts';

export type Reserve = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number };

const RESERVE_HINT = 'must be a size like 20GB or a share like 5% (0 for none; 1 GB = 1024^3 B)';

/** Throws naming the problem. `""` is refused too: the schema's default ("5%") applies
 * only when the key is absent, and an empty value is more likely a slip than "none". */
export function parseReserve(spec: string): Reserve {
  const text = spec.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    if (value >= 100) throw new Error(`${text}: a reserve of 100% or more leaves no room for any download`);
    return { kind: 'percent', percent: value };
  }
  if (text === '') throw new Error(`(nothing) ${RESERVE_HINT}`);
  try {
    return { kind: 'bytes', bytes: parseByteSize(text) };
  } catch (err) {
    throw new Error(`${(err as Error).message}; diskreserve ${RESERVE_HINT}`);
  }
}

/** The reason `spec` is refused, or undefined when it is valid (for the schema validators). */
export function reserveProblem(spec: string): string | undefined {
  try {
    parseReserve(spec);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The reserve in bytes on a filesystem of `fsTotalBytes`. */
export function reserveBytes(reserve: Reserve, fsTotalBytes: number): number {
  return reserve.kind === 'bytes' ? reserve.bytes : Math.ceil((fsTotalBytes * reserve.percent) / 100);
}

export interface SpaceVerdictInput {
  /** Bytes an unprivileged writer may still use (statfs bavail). */
  free: number;
  total: number;
  reserve: Reserve;
  /** Bytes the download still has to write. */
  needed: number;
}

/** `ok` when writing `needed` bytes leaves the reserve free; `short` is how many bytes
 * are missing for that (0 when ok). */
export function reserveVerdict({ free, total, reserve, needed }: SpaceVerdictInput): { ok: boolean; short: number } {
  const room = free - Math.max(0, needed) - reserveBytes(reserve, total);
  return { ok: room >= 0, short: Math.max(0, -room) };
}

export interface FsSpace {
  free: number;
  total: number;
  /** The filesystem's device number: two paths are on one filesystem when theirs are equal
   * (free and total are no test of that: they change between two reads while anyone writes). */
  dev: number;
}

/** Free (bavail) and total bytes of the filesystem holding `target`, measured at its
 * nearest existing ancestor: a task's directories may not exist yet. */
export async function freeSpace(target: string): Promise<FsSpace> {
  const at = await nearestExisting(target);
  const [s, st] = await Promise.all([statfs(at), stat(at)]);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize, dev: st.dev };
}

async function nearestExisting(target: string): Promise<string> {
  let p = path.resolve(target);
  for (;;) {
    try {
      await statfs(p);
      return p;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(p);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === p) throw err;
      p = parent;
    }
  }
}

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** The mount holding `realPath` in a /proc/self/mountinfo text: the longest mount-point
 * prefix, and of equal ones the last (a later mount covers an earlier one). */
export function mountForPath(mountinfo: string, realPath: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (fields.length < 5 || dash < 0 || dash + 2 >= fields.length) continue;
    const mountPoint = unescapeMountField(fields[4]);
    const inside = mountPoint === '/' || realPath === mountPoint || realPath.startsWith(mountPoint + '/');
    if (!inside) continue;
    if (!best || mountPoint.length >= best.mountPoint.length) {
      best = { mountPoint, fsType: fields[dash + 1], source: unescapeMountField(fields[dash + 2]) };
    }
  }
  return best;
}

/** The kernel writes space, tab, newline and backslash as \040, \011, \012, \134. */
const unescapeMountField = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** The mount holding `target` (through symlinks), or undefined where /proc is missing. */
export async function findMount(target: string): Promise<MountInfo | undefined> {
  let mountinfo: string;
  try {
    mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  return mountForPath(mountinfo, await realpath(await nearestExisting(target)));
}

/** "the filesystem at /data (tmpfs)", for messages such as "... is full". */
export async function describeFilesystem(target: string): Promise<string> {
  const mount = await findMount(target).catch(() => undefined);
  return mount ? `the filesystem at ${mount.mountPoint} (${mount.fsType})` : `the filesystem of ${target}`;
}
