// The trust boundary for files (SPEC §4 "Trust boundary"): the one place that decides
// whether a path bft2 is about to read or publish is a regular file, and whether it lies
// inside the directory it must lie in. Every caller that takes a path from outside — a
// spool entry, an API `taskfile`, gentask's store walk, the OBS upload source, the seeding
// directories — asks here instead of calling stat/readFile itself.
// Rules: a spool entry is never followed through a symlink and never opened when it is a
// FIFO, device, socket or directory; every open is non-blocking (a FIFO must not stall the
// thread pool, and with it every other task); a task file is read up to 16 MiB and no
// further (a link to /dev/zero must not fill memory); a store file whose real path leaves
// the store is refused.
// Owns no file: it only inspects and reads.
import { open, lstat, realpath, readdir, type FileHandle } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import path from 'node:path';
import { errors, isBft2Error } from '../errors/catalogue.ts';

export const MAX_TASK_FILE_BYTES = 16 * 1024 * 1024;

/** What a non-regular file is, in words an operator reads in an `.err`. */
export function describeFileType(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** True when `child` is `parent` itself or below it (both absolute, normalised). Pure. */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export interface ReadOptions {
  /** Refuse the file when its last component is a symbolic link (spool entries). */
  noFollow: boolean;
  maxBytes?: number;
}

/**
 * Reads a small untrusted file as text: opened with O_NONBLOCK (and O_NOFOLLOW for spool
 * entries), checked to be a regular file on the open descriptor — so nothing swapped in
 * between a check and the open is ever read — and read to at most `maxBytes`.
 * Throws TASK_OPEN (missing, unreadable) or TASK_NOT_REGULAR.
 */
export async function readUntrustedText(file: string, opts: ReadOptions): Promise<string> {
  const maxBytes = opts.maxBytes ?? MAX_TASK_FILE_BYTES;
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw errors.TASK_NOT_REGULAR(file, 'a symbolic link');
    if (code === 'ENXIO') throw errors.TASK_NOT_REGULAR(file, 'a FIFO or socket');
    throw errors.TASK_OPEN(file, code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (code ?? String(err)));
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw errors.TASK_NOT_REGULAR(file, describeFileType(st));
    if (st.size > maxBytes) throw errors.TASK_TOO_LARGE(file, st.size, maxBytes);
    // The size can grow after the stat (a writer still at it, or a /proc file that lies):
    // read to the end, but never past the cap.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.max(64 * 1024, Math.min(st.size, maxBytes) + 1 - total));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, total);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw errors.TASK_TOO_LARGE(file, total, maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return decodeUtf8(file, Buffer.concat(chunks, total));
  } catch (err) {
    if (isBft2Error(err)) throw err;
    throw errors.TASK_OPEN(file, (err as NodeJS.ErrnoException).code ?? String(err));
  } finally {
    await fh.close();
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON is UTF-8 (RFC 8259): bytes that are not would become U+FFFD in a name, and a DCP
 * would be stored under a name nobody wrote. Throws TASK_NOT_UTF8 with the first bad byte.
 */
export function decodeUtf8(file: string, bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // The first offset at which a lenient decode stops matching the bytes.
    const lenient = Buffer.from(bytes.toString('utf8'), 'utf8');
    let i = 0;
    while (i < bytes.length && bytes[i] === lenient[i]) i++;
    throw errors.TASK_NOT_UTF8(file, i);
  }
}

/** A task file from a spool directory or named by a caller: its parsed JSON (TASK_JSON if it is not). */
export async function readTaskJson(file: string, opts: ReadOptions = { noFollow: true }): Promise<{ raw: unknown; text: string }> {
  const text = await readUntrustedText(file, opts);
  try {
    return { raw: JSON.parse(text), text };
  } catch {
    throw errors.TASK_JSON(file);
  }
}

/**
 * Checks that `file` is a regular file (not a symlink, FIFO, device...) whose real path is
 * inside `root` (whose own real path is taken, so a store reached through a symlinked
 * mount point still works). Returns the file's lstat. Throws PATH_OUTSIDE or
 * FILE_NOT_REGULAR naming `what` (e.g. "dcp file").
 */
export async function regularFileInside(root: string, file: string, what: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await lstat(file);
  } catch (err) {
    throw errors.FILE_NOT_REGULAR(what, file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : String((err as Error).message));
  }
  if (!st.isFile()) throw errors.FILE_NOT_REGULAR(what, file, describeFileType(st));
  await pathInside(root, file, what);
  return st;
}

/** The real path of `p` (a file or directory), refused unless it lies inside `root`. */
export async function pathInside(root: string, p: string, what: string): Promise<string> {
  const [realRoot, real] = await Promise.all([realpath(root).catch(() => path.resolve(root)), realpath(p).catch(() => undefined)]);
  if (real === undefined) throw errors.FILE_NOT_REGULAR(what, p, 'missing');
  if (!isInside(realRoot, real)) throw errors.PATH_OUTSIDE(what, p, root);
  return real;
}

/**
 * Every entry under `dir` that a DCP would publish, checked before anything reads it: a
 * symlink (wherever it leads), FIFO, device or socket is refused naming it — gentask
 * skips nothing silently (SPEC §4) — and `dir` itself must lie inside `root`. Dotfiles are
 * not looked into: no torrent or task ever carries them.
 */
export async function assertPublishableTree(root: string, dir: string, what: string): Promise<void> {
  await pathInside(root, dir, what);
  const visit = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) await visit(full);
      else if (!e.isFile()) throw errors.FILE_NOT_REGULAR(`${what} file`, full, describeFileType(await lstat(full)));
    }
  };
  await visit(dir);
}
