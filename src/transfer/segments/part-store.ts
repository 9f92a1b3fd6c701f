// The on-disk side of a task's download (SPEC §8): one sparse part file per DCP file,
// `.bft2-<name>.part` beside where the file will be in the task's assembly directory,
// written at any offset by any method (HTTP ranges, OBS ranges, BitTorrent pieces through
// bt-part-store.ts), and `.bft2-ranges.json` at the top recording which byte ranges each
// part holds and the source validators (ETag / Last-Modified) they were fetched under,
// written atomically after the parts are flushed, so a restart resumes from the bytes on
// disk and never splices two versions of a file.
// Every file is hashed in order as its done prefix grows, read back by the hashing worker
// (part-hasher.ts) while the page cache is hot, never on the event loop; when the last
// byte is in, it is checked against its sha1 and recorded as verified (with the size,
// mtime and inode it was verified at). Verified parts keep their names until the whole
// download is over, so BitTorrent can go on serving their pieces; `promoteAll` then
// renames each to its real name. A file under its real name is verified.
// Owns: the task's `.bft2-*.part` files and `.bft2-ranges.json`. Must not touch verified
// files of other tasks or anything outside the assembly directory.
import { open, rm, stat, mkdir, readFile, readdir, type FileHandle } from 'node:fs/promises';
import { constants, writeSync, writevSync } from 'node:fs';
import path from 'node:path';
import { TEMP_PREFIX } from '../../config/paths.ts';
import { renameDurable, writeJsonDurable } from '../../spool/durable-fs.ts';
import { errors } from '../../errors/catalogue.ts';
import { isDiskFull, diskFullError } from '../disk-full.ts';
import { RangeSet } from './range-set.ts';
import { partHasher, HasherRestarted } from './part-hasher.ts';
import type { FileEntry } from '../../task/schema.ts';

export const RANGES_FILE = `${TEMP_PREFIX}ranges.json`;
/**
 * The most one write syscall carries. The kernel sizes page-cache folios by the write, and
 * on a VM whose balloon reports free pages to its host large folios are slow to get: 1 MiB
 * writes cost about three times the system time of 64 KiB ones there; on bare metal 64 KiB
 * costs only a few more calls. A response's chunks are at most 64 KiB (one socket read), so
 * most writes are one chunk. BitTorrent's verified pieces are still written whole by
 * fs-chunk-store: cut the same way they stayed in memory longer (docs/performance.md, cdn
 * and receive).
 */
export const WRITE_MAX = 64 * 1024;
/**
 * A write of at most WRITE_MAX into the page cache is done on the event loop: it takes tens
 * of microseconds, less than handing it to libuv's threadpool costs in waking a pool
 * thread and then the loop (docs/performance.md, cdn). A few writes in a download take
 * tens of ms (the filesystem's journal, the VM's memory); one that takes longer than
 * WRITE_STALL_MS means the kernel is throttling writers whose dirty pages outrun the disk
 * (it pauses them up to 200 ms at a time), or a slow network filesystem: then writes go
 * through the pool for ASYNC_WRITES_MS, so the API and the other tasks are not held.
 */
const WRITE_STALL_MS = 100;
const ASYNC_WRITES_MS = 10_000;

/** Where part writes are done: on the event loop, or in the pool for a while after one stalled the loop. */
export class WritePlace {
  private poolUntil = 0;
  constructor(
    private readonly stallMs = WRITE_STALL_MS,
    private readonly poolMs = ASYNC_WRITES_MS,
  ) {}
  onLoop(now = performance.now()): boolean {
    return now >= this.poolUntil;
  }
  /** A write on the loop took `ms`, ending at `now`. */
  took(ms: number, now = performance.now()): void {
    if (ms > this.stallMs) this.poolUntil = now + this.poolMs;
  }
}

/** One for the process: a throttled disk throttles every task's writes. */
export const writePlace = new WritePlace();

/** One write of `bufs` at `at` (one pwrite or pwritev); the bytes written. */
async function writeAt(fh: FileHandle, bufs: Uint8Array[], at: number): Promise<number> {
  if (!writePlace.onLoop()) {
    return (bufs.length === 1 ? await fh.write(bufs[0], 0, bufs[0].length, at) : await fh.writev(bufs, at)).bytesWritten;
  }
  const t0 = performance.now();
  const n = bufs.length === 1 ? writeSync(fh.fd, bufs[0], 0, bufs[0].length, at) : writevSync(fh.fd, bufs, at);
  writePlace.took(performance.now() - t0);
  return n;
}

/** A part is flushed in the background after this many bytes written (docs/performance.md). */
const FLUSH_BYTES = 64 * 1024 * 1024;

/**
 * Records that could not be written because the filesystem was full, by assembly dir: the
 * next download of the task in this process (the operator frees space and deletes the
 * `.err`) starts from them, so no byte written before the disk filled up is fetched again.
 */
const unsaved = new Map<string, SavedState>();

interface SavedState {
  version: 1;
  files: Record<string, { done: [number, number][]; validators?: Record<string, string>; verified?: { size: number; mtimeMs: number; ino: number } }>;
  /** What the download keeps beside its progress (its cost ledger), saved in the same write. */
  extra?: Record<string, unknown>;
}

/** Removes bft2's own leftovers (`.bft2-*`: resume records, spill files) from a finished download's directory (its files are all under their real names). */
export async function removeTempEntries(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.name.startsWith(TEMP_PREFIX)) await rm(full, { recursive: true, force: true });
    else if (e.isDirectory()) await removeTempEntries(full);
  }
}

export function partPathOf(assembly: string, file: string): string {
  return path.join(assembly, path.dirname(file), `${TEMP_PREFIX}${path.basename(file)}.part`);
}

interface OpenPart {
  entry: FileEntry;
  fh?: Promise<FileHandle>;
  /** The file's running sha1 in the hashing worker. */
  hashKey: string;
  hashedTo: number;
  /** A read-back of the part is under way (one at a time per file). */
  hashing?: Promise<void>;
  /** The sha1 is being compared (one check per completion). */
  checking?: boolean;
  dirty: boolean;
  /** Bytes written through our descriptor since its last flush (the pacing of writev). */
  unflushed: number;
  /** A paced flush under way. */
  flushing?: Promise<void>;
  /** The done ranges of the last save whose flush succeeded. */
  savedDone: [number, number][];
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

  /** A record file exists (or was written): later saves keep it current, even when it empties. */
  private recorded = false;

  constructor(
    readonly assembly: string,
    entries: FileEntry[],
  ) {
    for (const e of entries) this.parts.set(e.file, { entry: e, hashKey: '', hashedTo: 0, dirty: false, unflushed: 0, savedDone: [], validators: {}, promoted: false });
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
  async load(): Promise<{ verified: Set<string>; done: Map<string, RangeSet>; extra?: Record<string, unknown> }> {
    const saved = await this.readSaved();
    this.recorded = saved !== undefined;
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
    return { verified, done, extra: saved?.extra };
  }

  /** What the download saved beside its ranges (its bill), without looking at the parts: for progress while it is not running. */
  async savedExtra(): Promise<Record<string, unknown> | undefined> {
    return (await this.readSaved())?.extra;
  }

  private async readSaved(): Promise<SavedState | undefined> {
    return (
      unsaved.get(this.assembly) ??
      (await readFile(path.join(this.assembly, RANGES_FILE), 'utf8')
        .then((t) => JSON.parse(t) as SavedState)
        .catch(() => undefined))
    );
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
  write(file: string, offset: number, buf: Uint8Array): Promise<void> {
    return this.writev(file, offset, [buf]);
  }

  /**
   * Writes `bufs` one after the other from `offset` (one pwritev: a block gathered from a
   * response's chunks is not copied into one buffer first); the bytes may be marked done
   * once this resolves.
   */
  async writev(file: string, offset: number, bufs: Uint8Array[]): Promise<void> {
    const p = this.parts.get(file);
    if (!p) throw new Error(`${file} is not part of this download`);
    let length = 0;
    for (const b of bufs) length += b.length;
    if (offset < 0 || offset + length > p.entry.size) throw errors.DOWNLOAD_FAILED('bt', file, `a write past the file's ${p.entry.size} bytes was refused`);
    const fh = await this.handle(p);
    try {
      let at = offset;
      for (const batch of writeBatches(bufs, WRITE_MAX)) {
        let rest = batch;
        while (rest.length > 0) {
          const bytesWritten = await writeAt(fh, rest, at);
          at += bytesWritten;
          rest = after(rest, bytesWritten);
        }
      }
    } catch (err) {
      if (isDiskFull(err)) throw await diskFullError(this.partPath(file), p.entry.size - offset);
      throw err;
    }
    p.dirty = true;
    p.unflushed += length;
    if (FLUSH_BYTES > 0 && p.unflushed >= FLUSH_BYTES && !p.flushing) {
      // Pacing: the disk writes back while the download goes on, instead of holding a
      // file's worth of dirty pages for the fdatasync that verifies it (curl + sync pays
      // that flush after the transfer; this pays it during). Nothing waits for it.
      p.unflushed = 0;
      p.flushing = fh
        .datasync()
        .catch(() => undefined)
        .finally(() => (p.flushing = undefined));
    }
  }

  /** Marks a part dirty whose bytes another writer (webtorrent's store) put there. */
  touched(file: string): void {
    const p = this.parts.get(file);
    if (p) p.dirty = true;
  }

  /**
   * Moves the file's hash up to `doneTo` (the end of its done prefix), read back by the
   * hashing worker; when the whole file is hashed, checks the sha1 and, if it matches,
   * flushes the part and records it verified. A mismatch removes the part.
   */
  async advance(file: string, doneTo: number): Promise<FinishedFile | undefined> {
    const p = this.parts.get(file);
    if (!p || p.verified) return undefined;
    while (p.hashing) await p.hashing;
    if (p.verified || p.checking) return undefined;
    p.checking = true;
    try {
      let digest: string | undefined;
      while (digest === undefined) {
        if (doneTo > p.hashedTo) {
          p.hashing = this.readBack(p, doneTo).finally(() => (p.hashing = undefined));
          await p.hashing;
        }
        if (p.hashedTo < p.entry.size) return undefined;
        try {
          digest = await partHasher().digest(this.hashKey(p));
          p.hashKey = '';
        } catch (err) {
          if (!(err instanceof HasherRestarted)) throw err;
          // The worker went with the hash: the whole file again (its bytes are on disk).
          this.restartHash(p);
        }
      }
      const part = this.partPath(file);
      if (digest !== p.entry.hash) {
        await this.closeHandle(p);
        await rm(part, { force: true });
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

  /** Where the file's hash stands. */
  hashedTo(file: string): number {
    return this.parts.get(file)?.hashedTo ?? 0;
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

  /** The hashing worker reads [hashedTo, to) of the part back and hashes it. */
  private async readBack(p: OpenPart, to: number): Promise<void> {
    if (to > p.entry.size) to = p.entry.size;
    await this.handle(p); // the part exists (a zero-length file, or one BitTorrent wrote) before the worker opens it
    try {
      await partHasher().update(this.hashKey(p), this.partPath(p.entry.file), p.hashedTo, to);
    } catch (err) {
      if (!(err instanceof HasherRestarted)) {
        p.hashKey = '';
        throw err;
      }
      // The worker went and took the hash with it: start over from byte 0 (the bytes are on disk).
      this.restartHash(p);
      await partHasher().update(this.hashKey(p), this.partPath(p.entry.file), 0, to);
    }
    p.hashedTo = to;
  }

  private hashKey(p: OpenPart): string {
    if (!p.hashKey) p.hashKey = partHasher().create();
    return p.hashKey;
  }

  private restartHash(p: OpenPart): void {
    if (p.hashKey) partHasher().drop(p.hashKey);
    p.hashKey = '';
    p.hashedTo = 0;
  }

  /** A zero-byte file needs no source: its (empty) part is created and checked like any other. */
  async createEmpty(file: string): Promise<FinishedFile | undefined> {
    await this.handle(this.parts.get(file)!);
    return this.advance(file, 0);
  }

  /**
   * Flushes every part written since the last save, then records the done ranges
   * atomically. The ranges are taken before the flush starts, so every byte recorded was
   * written before it (a write that lands during the flush waits for the next save); a
   * part whose flush fails keeps the ranges of its last good save.
   */
  save(doneOf: (file: string) => [number, number][], extra?: () => Record<string, unknown>): Promise<void> {
    this.saving = this.saving.then(async () => {
      const state: SavedState = { version: 1, files: {}, ...(extra ? { extra: extra() } : {}) };
      for (const [file, p] of this.parts) {
        if (p.promoted) continue;
        let done = doneOf(file);
        if (p.dirty) {
          p.dirty = false;
          try {
            await this.flush(p);
          } catch {
            p.dirty = true;
            done = p.savedDone;
          }
        }
        p.savedDone = done;
        if (done.length || p.verified) state.files[file] = { done, validators: p.validators, ...(p.verified ? { verified: p.verified } : {}) };
      }
      // Nothing fetched yet and nothing recorded before: no record to write (a task waiting
      // for its window leaves its directory empty).
      if (Object.keys(state.files).length === 0 && !this.recorded) return;
      this.recorded = true;
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

  /** fdatasync of a part: through our descriptor, or one of its own for bytes webtorrent's store wrote. */
  private async flush(p: OpenPart): Promise<void> {
    if (p.fh) {
      await (await p.fh).datasync();
      return;
    }
    const fh = await open(this.partPath(p.entry.file), constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined; // nothing written yet
      throw err;
    });
    try {
      await fh?.datasync();
    } finally {
      await fh?.close();
    }
  }

  /** Forgets a file's bytes (its source changed under it): the part is emptied. */
  async reset(file: string): Promise<void> {
    const p = this.parts.get(file);
    if (!p) return;
    while (p.hashing) await p.hashing.catch(() => undefined);
    this.restartHash(p);
    await this.closeHandle(p);
    await rm(this.partPath(file), { force: true });
    p.validators = {};
    p.verified = undefined;
  }

  private async closeHandle(p: OpenPart): Promise<void> {
    const fh = p.fh;
    p.fh = undefined;
    if (fh) await (await fh.catch(() => undefined))?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const p of this.parts.values()) {
      while (p.hashing) await p.hashing.catch(() => undefined);
      this.restartHash(p);
      await this.closeHandle(p);
    }
  }
}

/**
 * `bufs` cut into consecutive groups of at most `max` bytes, one write each: small buffers
 * are gathered (one pwritev), a larger one is cut into views (no copy).
 */
export function writeBatches(bufs: Uint8Array[], max: number): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  let group: Uint8Array[] = [];
  let size = 0;
  for (const buf of bufs) {
    for (let at = 0; at < buf.length; ) {
      const take = Math.min(buf.length - at, max - size);
      group.push(at === 0 && take === buf.length ? buf : buf.subarray(at, at + take));
      size += take;
      at += take;
      if (size === max) {
        out.push(group);
        group = [];
        size = 0;
      }
    }
  }
  if (group.length) out.push(group);
  return out;
}

/** What is left of `bufs` after the first `n` bytes. */
function after(bufs: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i].length) n -= bufs[i++].length;
  if (i === bufs.length) return [];
  return n > 0 ? [bufs[i].subarray(n), ...bufs.slice(i + 1)] : bufs.slice(i);
}
