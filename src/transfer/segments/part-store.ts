// The on-disk side of a task's download (SPEC §8): one sparse part file per DCP file,
// `.bft2-<name>.part` beside where the file will be in the task's assembly directory,
// written at any offset by any method (HTTP ranges, OBS ranges, BitTorrent pieces through
// bt-part-store.ts), and `.bft2-ranges.json` at the top recording which byte ranges each
// part holds and the source validators (ETag / Last-Modified) they were fetched under,
// written atomically after the parts are flushed, so a restart resumes from the bytes on
// disk and never splices two versions of a file.
// Every file is hashed in order as its done prefix grows — straight from the buffer when a
// write lands where the hash stands, else read back while the page cache is hot — and when
// the last byte is in, checked against its sha1 and recorded as verified (with the size,
// mtime and inode it was verified at). Verified parts keep their names until the whole
// download is over, so BitTorrent can go on serving their pieces; `promoteAll` then
// renames each to its real name. A file under its real name is verified.
// Owns: the task's `.bft2-*.part` files and `.bft2-ranges.json`. Must not touch verified
// files of other tasks or anything outside the assembly directory.
import { open, rm, stat, mkdir, readFile, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { renameDurable, writeJsonDurable } from '../../spool/durable-fs.ts';
import { errors } from '../../errors/catalogue.ts';
import { isDiskFull, diskFullError } from '../disk-full.ts';
import { RangeSet } from './range-set.ts';
import type { FileEntry } from '../../task/schema.ts';

export const RANGES_FILE = `${TEMP_PREFIX}ranges.json`;
const READ_BACK = 1024 * 1024;

/**
 * Records that could not be written because the filesystem was full, by assembly dir: the
 * next download of the task in this process (the operator frees space and deletes the
 * `.err`) starts from them, so no byte written before the disk filled up is fetched again.
 */
const unsaved = new Map<string, SavedState>();

interface SavedState {
  version: 1;
  files: Record<string, { done: [number, number][]; validators?: Record<string, string>; verified?: { size: number; mtimeMs: number; ino: number } }>;
}

export function partPathOf(assembly: string, file: string): string {
  return path.join(assembly, path.dirname(file), `${TEMP_PREFIX}${path.basename(file)}.part`);
}

interface OpenPart {
  entry: FileEntry;
  fh?: Promise<FileHandle>;
  hash: Hash;
  hashedTo: number;
  /** A read-back of the part is under way (one at a time per file). */
  hashing?: Promise<void>;
  /** The sha1 is being compared (one check per completion). */
  checking?: boolean;
  dirty: boolean;
  validators: Record<string, string>;
  /** sha1 checked: the part is the file (stat at that moment), or it is already under its real name. */
  verified?: { size: number; mtimeMs: number; ino: number };
  promoted: boolean;
}

export interface FinishedFile {
  file: string;
  ok: boolean;
  /** The sha1 found, when it was not the task's. */
  actual?: string;
}

export class PartStore {
  private readonly parts = new Map<string, OpenPart>();
  private saving: Promise<void> = Promise.resolve();

  constructor(
    readonly assembly: string,
    entries: FileEntry[],
  ) {
    for (const e of entries) this.parts.set(e.file, { entry: e, hash: createHash('sha1'), hashedTo: 0, dirty: false, validators: {}, promoted: false });
  }

  partPath(file: string): string {
    return partPathOf(this.assembly, file);
  }
  destPath(file: string): string {
    return path.join(this.assembly, file);
  }

  /**
   * What is already on disk: files verified earlier (under their real name with their
   * size, or a part the state records as verified and unchanged since), and the ranges the
   * saved state records for each part, cut to the part's actual size (a crash between a
   * write and its flush loses only unrecorded bytes).
   */
  async load(): Promise<{ verified: Set<string>; done: Map<string, RangeSet> }> {
    const saved =
      unsaved.get(this.assembly) ??
      (await readFile(path.join(this.assembly, RANGES_FILE), 'utf8')
        .then((t) => JSON.parse(t) as SavedState)
        .catch(() => undefined));
    const verified = new Set<string>();
    const done = new Map<string, RangeSet>();
    for (const [file, p] of this.parts) {
      const dest = await stat(this.destPath(file)).catch(() => undefined);
      if (dest?.isFile() && dest.size === p.entry.size) {
        verified.add(file);
        p.verified = { size: dest.size, mtimeMs: dest.mtimeMs, ino: dest.ino };
        p.promoted = true;
        continue;
      }
      const part = await stat(this.partPath(file)).catch(() => undefined);
      const partSize = part?.size ?? 0;
      const record = saved?.files[file];
      const v = record?.verified;
      if (part && v && v.size === part.size && v.mtimeMs === part.mtimeMs && v.ino === part.ino && part.size === p.entry.size) {
        verified.add(file);
        p.verified = v;
        continue;
      }
      if (!record || partSize === 0) continue;
      const r = new RangeSet(record.done);
      r.remove(partSize, Number.MAX_SAFE_INTEGER);
      r.remove(p.entry.size, Number.MAX_SAFE_INTEGER);
      done.set(file, r);
      p.validators = { ...(record.validators ?? {}) };
    }
    return { verified, done };
  }

  /** Bytes of each file on disk (verified, or in recorded ranges of its part), without hashing anything. */
  async onDisk(): Promise<Map<string, number>> {
    const { verified, done } = await this.load();
    const out = new Map<string, number>();
    for (const [file, p] of this.parts) out.set(file, verified.has(file) ? p.entry.size : (done.get(file)?.size() ?? 0));
    return out;
  }

  validator(file: string, source: string): string | undefined {
    return this.parts.get(file)?.validators[source];
  }

  setValidator(file: string, source: string, value: string): void {
    const p = this.parts.get(file);
    if (p && value) p.validators[source] = value;
  }

  private handle(p: OpenPart): Promise<FileHandle> {
    if (!p.fh) {
      const file = this.partPath(p.entry.file);
      p.fh = mkdir(path.dirname(file), { recursive: true }).then(() =>
        // O_NOFOLLOW: a symlink planted in the assembly area is never written through.
        open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644),
      );
      p.fh.catch(() => (p.fh = undefined));
    }
    return p.fh;
  }

  /** Writes `buf` at `offset` of the file's part; the bytes may be marked done once this resolves. */
  async write(file: string, offset: number, buf: Uint8Array): Promise<void> {
    const p = this.parts.get(file);
    if (!p) throw new Error(`${file} is not part of this download`);
    if (offset < 0 || offset + buf.length > p.entry.size) throw errors.DOWNLOAD_FAILED('bt', file, `a write past the file's ${p.entry.size} bytes was refused`);
    const fh = await this.handle(p);
    try {
      let written = 0;
      while (written < buf.length) {
        const { bytesWritten } = await fh.write(buf, written, buf.length - written, offset + written);
        written += bytesWritten;
      }
    } catch (err) {
      if (isDiskFull(err)) throw await diskFullError(this.partPath(file), p.entry.size - offset);
      throw err;
    }
    p.dirty = true;
    // In order: hash the buffer now, no read back.
    if (offset === p.hashedTo && !p.hashing) {
      p.hash.update(buf);
      p.hashedTo += buf.length;
    }
  }

  /** Marks a part dirty whose bytes another writer (webtorrent's store) put there. */
  touched(file: string): void {
    const p = this.parts.get(file);
    if (p) p.dirty = true;
  }

  /**
   * Moves the file's hash up to `doneTo` (the end of its done prefix), reading back what
   * was not hashed on the way in; when the whole file is hashed, checks the sha1 and, if it
   * matches, renames the part to the file's name (durably). A mismatch removes the part.
   */
  async advance(file: string, doneTo: number): Promise<FinishedFile | undefined> {
    const p = this.parts.get(file);
    if (!p || p.verified) return undefined;
    while (p.hashing) await p.hashing;
    if (p.verified || p.checking) return undefined;
    if (doneTo > p.hashedTo) {
      p.hashing = this.readBack(p, doneTo).finally(() => (p.hashing = undefined));
      await p.hashing;
    }
    if (p.hashedTo < p.entry.size) return undefined;
    p.checking = true;
    try {
      const digest = p.hash.digest('hex');
      const part = this.partPath(file);
      if (digest !== p.entry.hash) {
        await this.closeHandle(p);
        await rm(part, { force: true });
        p.hash = createHash('sha1');
        p.hashedTo = 0;
        p.validators = {};
        return { file, ok: false, actual: digest };
      }
      const fh = await this.handle(p);
      await fh.datasync();
      const st = await fh.stat();
      p.verified = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      return { file, ok: true };
    } finally {
      p.checking = false;
    }
  }

  isVerified(file: string): boolean {
    return this.parts.get(file)?.verified !== undefined;
  }

  /** Every verified part under its real name (durably): the end of the download. */
  async promoteAll(): Promise<void> {
    for (const [file, p] of this.parts) {
      if (!p.verified || p.promoted) continue;
      await this.closeHandle(p);
      await renameDurable(this.partPath(file), this.destPath(file));
      p.promoted = true;
    }
  }

  private async readBack(p: OpenPart, to: number): Promise<void> {
    if (to > p.entry.size) to = p.entry.size;
    const fh = await this.handle(p);
    const buf = Buffer.allocUnsafe(Math.min(READ_BACK, Math.max(1, to - p.hashedTo)));
    while (p.hashedTo < to) {
      const want = Math.min(buf.length, to - p.hashedTo);
      const { bytesRead } = await fh.read(buf, 0, want, p.hashedTo);
      if (bytesRead === 0) throw new Error(`${p.entry.file}: the part ends at ${p.hashedTo}, ${to} bytes were recorded`);
      p.hash.update(buf.subarray(0, bytesRead));
      p.hashedTo += bytesRead;
    }
  }

  /** A zero-byte file needs no source: its (empty) part is created and checked like any other. */
  async createEmpty(file: string): Promise<FinishedFile | undefined> {
    await this.handle(this.parts.get(file)!);
    return this.advance(file, 0);
  }

  /** Flushes every part written since the last save, then records the done ranges atomically. */
  save(doneOf: (file: string) => [number, number][]): Promise<void> {
    this.saving = this.saving.then(async () => {
      const state: SavedState = { version: 1, files: {} };
      for (const [file, p] of this.parts) {
        if (p.promoted) continue;
        if (p.dirty && p.fh) {
          const fh = await p.fh.catch(() => undefined);
          await fh?.datasync().catch(() => undefined);
          p.dirty = false;
        }
        if (p.dirty && !p.fh) {
          // Written by webtorrent's store through its own descriptor: flush through ours.
          const fh = await open(this.partPath(file), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
          await fh?.datasync().catch(() => undefined);
          await fh?.close();
          p.dirty = false;
        }
        const done = doneOf(file);
        if (done.length || p.verified) state.files[file] = { done, validators: p.validators, ...(p.verified ? { verified: p.verified } : {}) };
      }
      try {
        await mkdir(this.assembly, { recursive: true });
        await writeJsonDurable(path.join(this.assembly, RANGES_FILE), state);
        unsaved.delete(this.assembly);
      } catch (err) {
        if (isDiskFull(err)) unsaved.set(this.assembly, state);
        throw err;
      }
    });
    return this.saving;
  }

  /** Forgets a file's bytes (its source changed under it): the part is emptied. */
  async reset(file: string): Promise<void> {
    const p = this.parts.get(file);
    if (!p) return;
    while (p.hashing) await p.hashing.catch(() => undefined);
    await this.closeHandle(p);
    await rm(this.partPath(file), { force: true });
    p.hash = createHash('sha1');
    p.hashedTo = 0;
    p.validators = {};
    p.verified = undefined;
  }

  private async closeHandle(p: OpenPart): Promise<void> {
    const fh = p.fh;
    p.fh = undefined;
    if (fh) await (await fh.catch(() => undefined))?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const p of this.parts.values()) await this.closeHandle(p);
  }
}
