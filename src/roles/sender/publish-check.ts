// What a sender may publish (SPEC §4, trust boundary): only regular files inside its own
// store, each with the task's size and sha1, checked before the first byte leaves. A task
// file is data from outside — its `senderlocalpath` or its hashes may point at anything —
// so nothing it names is uploaded or seeded until this check has passed.
// The sha1 comes from the hash table when the table vouches for the file as it is now (same
// size, mtime and inode as when it was hashed); otherwise the file is read once here.
// Owns nothing on disk: it only inspects.
import path from 'node:path';
import { errors } from '../../errors/catalogue.ts';
import { pathInside, regularFileInside } from '../../trust/confined-file.ts';
import { sha1OfFile } from '../../util/sha1-file.ts';
import { exists } from '../../spool/durable-fs.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { FileEntry } from '../../task/schema.ts';

/**
 * The DCP directory a task names on this node: `<senderlocalpath>/<name>` when gentask
 * recorded one (a path of this machine) and it exists — refused when it lies outside the
 * store, whichever way it was written (`..`, symlinks) — else the store's own place for it,
 * `<store>/<basesubdir>/dcps/<name>` (inside by construction: name and basesubdir are
 * single path segments).
 */
export async function dcpDirInside(store: string, senderlocalpath: string, name: string, storeDefault: string): Promise<string> {
  const named = senderlocalpath ? path.join(senderlocalpath, name) : undefined;
  if (named === undefined || !(await exists(named))) return storeDefault;
  await pathInside(store, named, 'dcp directory');
  return named;
}

export interface PublishedFile {
  /** Where the bytes are read from (the DCP, or a hard link of it in the -tmp share). */
  path: string;
  /** The task's entry: the file must match its size and sha1. */
  entry: FileEntry;
}

/**
 * Every file is a regular file inside the store with the task's size and sha1. Returns
 * normally only when all are; throws FILE_NOT_REGULAR, PATH_OUTSIDE or PUBLISH_MISMATCH
 * naming the first file that is not.
 */
export async function verifyPublishable(store: string, files: PublishedFile[], hashes: HashTableStore, signal?: AbortSignal): Promise<void> {
  const { entries } = await hashes.load();
  const byIno = new Map<number, { sha1: string; size: number; mtimeMs: number }>();
  for (const e of entries.values()) byIno.set(e.ino, e);
  for (const f of files) {
    signal?.throwIfAborted();
    const st = await regularFileInside(store, f.path, 'dcp file');
    if (st.size !== f.entry.size) throw errors.PUBLISH_MISMATCH(f.path, `it has ${st.size} bytes, the task says ${f.entry.size}`);
    // A hard link in the -tmp share has no row of its own: its inode's row vouches for it.
    const known = entries.get(f.path) ?? byIno.get(st.ino);
    const vouched = known && known.size === st.size && known.mtimeMs === st.mtimeMs && (entries.get(f.path)?.ino ?? st.ino) === st.ino;
    const sha1 = vouched ? known.sha1 : (await sha1OfFile(f.path)).digest('hex');
    if (sha1 !== f.entry.hash) throw errors.PUBLISH_MISMATCH(f.path, `its sha1 is ${sha1}, the task says ${f.entry.hash}`);
  }
}
