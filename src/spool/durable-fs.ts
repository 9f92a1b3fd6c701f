// Crash-safe file operations shared by every part that writes into a spool, the staging
// area or the store: write elsewhere then rename, and fsync the directory so the rename
// itself survives a power cut (rename is atomic, not durable).
import { open, rename, mkdir, rm, cp, stat, readdir, lstat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { TEMP_PREFIX } from '../config/paths.ts';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a whole small file atomically: a temp file beside the target (`.bft2-` prefix,
 * which every watcher ignores), fsync, rename over the target, fsync the directory. If any
 * step fails (ENOSPC), the temp is removed and the old file stays as it was.
 * Not write-file-atomic: it resolves the target's realpath first, so a task file that is a
 * symlink would have its *target* rewritten (SPEC §4: bft2 never writes through a
 * symlink). rename(2) replaces the link itself; O_EXCL|O_NOFOLLOW make the temp our own.
 */
export async function writeFileDurable(file: string, data: string | Uint8Array, keep?: { mode: number; uid?: number; gid?: number }): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  // Not named after the target: a long target name plus a suffix could exceed NAME_MAX.
  const temp = path.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}.tmp`);
  try {
    const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      // `keep`: the file replaced had this mode and owner (another program reads it as its own user).
      if (keep) {
        if (keep.uid !== undefined && keep.gid !== undefined) await fh.chown(keep.uid, keep.gid).catch(() => undefined);
        await fh.chmod(keep.mode);
      }
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

export async function writeJsonDurable(file: string, value: unknown): Promise<void> {
  await writeFileDurable(file, JSON.stringify(value, null, 2) + '\n');
}

/** rename(2) plus fsync of both directories. */
export async function renameDurable(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await rename(from, to);
  await fsyncDir(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from));
}

/**
 * Moves a directory tree durably. Across filesystems (EXDEV: a store on another disk than
 * the transfer area) it copies into `tempName` beside the target first, flushes every
 * copied file and directory, then renames: the target appears whole or not at all, and
 * the source is removed only after that. A copy left by a crash is removed by the next
 * call. Returns whether it copied (the files then have new inodes).
 */
export async function moveTree(from: string, to: string, tempName: string): Promise<boolean> {
  try {
    await renameDurable(from, to);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const temp = path.join(path.dirname(to), tempName);
  await rm(temp, { recursive: true, force: true });
  await cp(from, temp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  await syncTree(temp);
  await renameDurable(temp, to);
  await rm(from, { recursive: true, force: true });
  return true;
}

/** fsync of every regular file and directory under `dir` (children first), not following links; of `dir` alone when it is a file. */
async function syncTree(dir: string): Promise<void> {
  if ((await lstat(dir)).isFile()) {
    const fh = await open(dir, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return;
  }
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await syncTree(full);
    else if (e.isFile()) {
      const fh = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }
  await fsyncDir(dir);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export async function sizeOf(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).size;
  } catch {
    return undefined;
  }
}
