// Crash-safe file operations shared by every part that writes into a spool, the staging
// area or the store: write elsewhere then rename, and fsync the directory so the rename
// itself survives a power cut (rename is atomic, not durable).
import { open, rename, mkdir, rm, cp, stat } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a whole small file atomically. write-file-atomic puts its temp file
 * (`<name>.<n>`) beside the target; spool watchers only take `*.task.json`, so they never
 * see it as a task.
 */
export async function writeFileDurable(file: string, data: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, data, { fsync: true });
  await fsyncDir(path.dirname(file));
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
 * Moves a directory tree; across filesystems (EXDEV) it copies into a temp name beside the
 * target first, so the target appears whole or not at all.
 */
export async function moveTree(from: string, to: string, tempName: string): Promise<void> {
  try {
    await renameDurable(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const temp = path.join(path.dirname(to), tempName);
    await rm(temp, { recursive: true, force: true });
    await cp(from, temp, { recursive: true, preserveTimestamps: true });
    await renameDurable(temp, to);
    await rm(from, { recursive: true, force: true });
  }
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
