// The end of a receiver's download (SPEC §5): the assembled DCP — every file verified, under
// its real name — goes into the store with `<name>.finished` beside it, and its hashes go
// into the hash table from the task without re-reading a byte, but only for the very files
// this task verified (same inode since the check; SPEC §4). A DCP of the same name is
// replaced only now that the new one is complete; a crash anywhere in here is finished by
// the next start (a `.storing` marker beside the assembly says the swap began).
// Owns: the task's assembly directory, its store directory and `.finished` marker. Must
// not touch other DCPs of the store or the spool.
import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { moveTree, renameDurable, writeFileDurable, exists } from '../../spool/durable-fs.ts';
import { removeTempEntries } from '../../transfer/segments/part-store.ts';
import { errors, messageOf } from '../../errors/catalogue.ts';
import { formatLocalTime } from '../../util/time.ts';
import type { Task } from '../../task/schema.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { IndexEntry } from '../../hashtable/reconcile.ts';
import type { Logger } from '../../log/logger.ts';

export interface StoreTarget {
  assembly: string;
  storeDir: string;
  finishedMarker: string;
  /**
   * Where the DCP it replaces is set aside until the new one is in place: a name made for
   * this swap and recorded in the `.storing` marker (see storeSwap), so nothing but what
   * this swap set aside is ever removed.
   */
  oldDir: string;
}

/** The `.storing` marker's record: the task, and where this swap sets the old DCP aside. */
export interface StoreSwap {
  task: string;
  oldDir: string;
}

/** A new swap's record: the old DCP's place gets a name no other swap or task uses. */
export function newStoreSwap(task: string, storeDir: string): StoreSwap {
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return { task, oldDir: path.join(path.dirname(storeDir), `${TEMP_PREFIX}old-${stamp}`) };
}

/** The swap a `.storing` marker records, or undefined when it holds none (an older marker: nothing is set aside then). */
export function parseStoreSwap(text: string): StoreSwap | undefined {
  try {
    const v = JSON.parse(text) as Partial<StoreSwap>;
    return typeof v.task === 'string' && typeof v.oldDir === 'string' ? { task: v.task, oldDir: v.oldDir } : undefined;
  } catch {
    return undefined;
  }
}

/** Where the "swap began" marker of a task's store step lives (beside its assembly dir). */
export function storingMarker(assembly: string, name: string): string {
  return path.join(path.dirname(assembly), `${TEMP_PREFIX}${name}.storing`);
}

/**
 * Every file of the DCP is in the assembly directory with its size (each was verified on
 * arrival); returns the inode of each, so only these files' hashes enter the table.
 */
export async function checkAssembly(t: Task, assembly: string): Promise<Map<string, number>> {
  const verified = new Map<string, number>();
  for (const f of t.filelist) {
    const st = await lstat(path.join(assembly, f.file)).catch(() => undefined);
    if (!st?.isFile() || st.size !== f.size) throw errors.STORE_FAILED(assembly, `${f.file} is missing or incomplete`);
    verified.set(f.file, st.ino);
  }
  return verified;
}

/** Where a stored task's files lie: its DCP directory, or for a single file (`type: "file"`) the store directory holding it. */
export function contentDirOf(t: Task, storeDir: string): string {
  return t.type === 'file' ? path.dirname(storeDir) : storeDir;
}

/**
 * Moves the assembled DCP into the store and writes `<name>.finished` (a single file, `type:
 * "file"`, goes into the store as that file: `<store>/<name>`). The store may be on
 * another filesystem than the transfer area: then the DCP is copied (durably) and the
 * verified inodes are those of the copies. Returns the inode of each verified file in the
 * store.
 */
export async function storeDcp(t: Task, task: string, at: StoreTarget, receivetime: unknown, verified: Map<string, number>): Promise<Map<string, number>> {
  const parent = path.dirname(at.storeDir);
  const old = at.oldDir;
  let stored = verified;
  try {
    await mkdir(parent, { recursive: true });
    if (await exists(at.assembly)) {
      await removeTempEntries(at.assembly);
      // `old` is this swap's own name: if a crash left it, it holds the DCP this swap set aside.
      if ((await exists(at.storeDir)) && !(await exists(old))) await renameDurable(at.storeDir, old);
      else if (await exists(at.storeDir)) await rm(at.storeDir, { recursive: true, force: true });
      const from = t.type === 'file' ? path.join(at.assembly, t.filelist[0].file) : at.assembly;
      if (await moveTree(from, at.storeDir, `${TEMP_PREFIX}copy-${t.name}`)) stored = await copiedInodes(t, contentDirOf(t, at.storeDir), verified);
      if (t.type === 'file') await rm(at.assembly, { recursive: true, force: true });
    }
    await writeFileDurable(at.finishedMarker, JSON.stringify({ task, name: t.name, receivetime, finishedtime: formatLocalTime() }) + '\n');
    await rm(old, { recursive: true, force: true });
  } catch (err) {
    throw errors.STORE_FAILED(at.storeDir, messageOf(err));
  }
  return stored;
}

/** After a copy across filesystems: the new inode of each file that was verified before the copy. */
async function copiedInodes(t: Task, storeDir: string, verified: Map<string, number>): Promise<Map<string, number>> {
  const stored = new Map<string, number>();
  for (const f of t.filelist) {
    if (!verified.has(f.file)) continue;
    const st = await lstat(path.join(storeDir, f.file)).catch(() => undefined);
    if (st?.isFile()) stored.set(f.file, st.ino);
  }
  return stored;
}

/**
 * The received DCP's hashes go into the table from the task, without re-reading — only for
 * files whose inode is the one verified. After a crash mid-store the record is gone and
 * the hash watcher hashes the DCP instead.
 */
export async function recordHashes(t: Task, storeDir: string, verified: Map<string, number>, hashes: HashTableStore, log: Logger): Promise<void> {
  const entries: IndexEntry[] = [];
  const dir = contentDirOf(t, storeDir);
  for (const f of t.filelist) {
    const st = await lstat(path.join(dir, f.file)).catch(() => undefined);
    if (st?.isFile() && st.size === f.size && verified.get(f.file) === st.ino) entries.push({ path: path.join(dir, f.file), sha1: f.hash, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
  }
  try {
    await hashes.update((s) => {
      for (const e of entries) s.entries.set(e.path, e);
    });
  } catch (err) {
    log.warn(`could not add ${t.name} to the hash table (${messageOf(err)}); the hash watcher will hash it`);
  }
}
