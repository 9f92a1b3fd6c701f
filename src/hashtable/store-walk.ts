// Which files of the store the hash table covers, and a stat-only walk over them.
// Excluded (SPEC §6): *.torrent, `.finished` and other markers, `dcps-tmp/` (hard links of
// the BT share), dotfiles and temp names (bft2's `.bft2-*`, rsync's `.name.XXXX`), the
// OBS SDK's checkpoint and temp files. Reads nothing but directory entries and stats.
import { readdir, lstat } from 'node:fs/promises';
import path from 'node:path';

const EXCLUDED_SUFFIXES = ['.torrent', '.finished', '.err', '.cancelled', '.upload_record', '.obsnodejssdk.tmp', '.chkpt', '.lock'];
const EXCLUDED_DIRS = new Set(['dcps-tmp']);

export function isExcludedName(name: string): boolean {
  return name.startsWith('.') || EXCLUDED_SUFFIXES.some((s) => name.endsWith(s));
}

/** True when `file` (absolute) is one the table covers, given the store root `base`. */
export function isCovered(base: string, file: string): boolean {
  const rel = path.relative(base, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return false;
  const parts = rel.split(path.sep);
  if (parts.slice(0, -1).some((p) => EXCLUDED_DIRS.has(p) || p.startsWith('.'))) return false;
  return !isExcludedName(parts[parts.length - 1]);
}

export interface FileStat {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** Every covered regular file under `dir` (symlinks are not followed). */
export async function walkStore(dir: string): Promise<FileStat[]> {
  const out: FileStat[] = [];
  const visit = async (d: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return; // vanished or unreadable: the next walk sees what is there
    }
    for (const e of entries) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!EXCLUDED_DIRS.has(e.name) && !e.name.startsWith('.')) await visit(full);
      } else if (e.isFile() && !isExcludedName(e.name)) {
        const st = await lstat(full).catch(() => undefined);
        if (st?.isFile()) out.push({ path: full, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
      }
    }
  };
  await visit(dir);
  return out;
}
