// What a cacher writes into a task file so that a restart needs neither the origin nor a
// re-read of the data (SPEC §5: "a restart resumes seeding with the time left, without
// re-reading data it verified"). The seed clock's rule is ../shared/seed-clock.ts.
// The record is the task file's `cacher` field (unknown to the seed; kept by every
// rewrite):
//   { "torrent": "<data directory name>", "infohash": "<40 hex>",
//     "seedstart": "<ISO-8601 UTC, when the share became complete or a reactive recv restarted the clock>",
//     "files": [{ "path": "<file in the torrent>", "size": n, "mtimeMs": n, "ino": n }] }
// `files` is each data file as it stood when every piece had been verified (and fsynced):
// while sizes, mtimes and inodes are unchanged, the data is the data webtorrent verified,
// so a restart seeds it with skipVerify. seedstart is UTC, not the seed's local-time
// format, so that a restart in the repeated hour of a DST change reads the right instant.
// Owns the record's format. Must not touch the task file itself (the role reads and writes it).
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';
import type { FileEntry } from '../../task/schema.ts';
import { unsafeSegment } from '../../task/validate-task.ts';

export const RECORD_KEY = 'cacher';

export interface DataFile {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface CacherRecord {
  torrent: string;
  infohash: string;
  seedstart?: string;
  files?: DataFile[];
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The record of a task file, or undefined when it has none (or one this code did not write). */
export function readRecord(raw: Record<string, unknown>): CacherRecord | undefined {
  const r = raw[RECORD_KEY] as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object') return undefined;
  // The torrent name becomes a directory name that is deleted at the end: one plain segment only.
  if (typeof r.torrent !== 'string' || unsafeSegment(r.torrent) || typeof r.infohash !== 'string' || !/^[0-9a-f]{40}$/.test(r.infohash)) return undefined;
  const rec: CacherRecord = { torrent: r.torrent, infohash: r.infohash };
  if (typeof r.seedstart === 'string' && Number.isFinite(Date.parse(r.seedstart))) rec.seedstart = r.seedstart;
  if (Array.isArray(r.files) && r.files.every((f) => f && typeof f.path === 'string' && isNum(f.size) && isNum(f.mtimeMs) && isNum(f.ino))) {
    rec.files = (r.files as DataFile[]).map(({ path, size, mtimeMs, ino }) => ({ path, size, mtimeMs, ino }));
  }
  return rec;
}

export function writeRecord(raw: Record<string, unknown>, rec: CacherRecord): void {
  raw[RECORD_KEY] = rec;
}

/** When the seed clock started (ms), or undefined while the share is not complete. */
export function seedStartMs(rec: CacherRecord | undefined): number | undefined {
  return rec?.seedstart ? Date.parse(rec.seedstart) : undefined;
}

/** Each data file of the share under `dataDir` as it is now, fsynced first (the record must describe durable data). */
export async function fingerprint(dataDir: string, share: readonly FileEntry[]): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const f of share) {
    const p = path.join(dataDir, f.file);
    const fh = await open(p, 'r');
    try {
      await fh.sync();
      const st = await fh.stat();
      files.push({ path: f.file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    } finally {
      await fh.close();
    }
  }
  return files;
}

/** True when every recorded file of the share is still there, a regular file with the recorded size, mtime and inode. */
export async function unchangedOnDisk(dataDir: string, share: readonly FileEntry[], files: DataFile[] | undefined): Promise<boolean> {
  if (!files || files.length !== share.length) return false;
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const f of share) {
    const rec = byPath.get(f.file);
    if (!rec || rec.size !== f.size) return false;
    const st = await lstat(path.join(dataDir, f.file)).catch(() => undefined);
    if (!st?.isFile() || st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || st.ino !== rec.ino) return false;
  }
  return true;
}
