// Test fixtures for DCPs and task files: deterministic pseudo-random DCP directories
// of any size (hashed while written), a SPEC §4 task object for an all-CDN transfer,
// and a streaming sha1 of a file.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import * as path from 'node:path';

export interface DcpFileSpec {
  /** Relative path inside the DCP, `/`-separated. */
  file: string;
  size: number;
  /** Content seed; default `<name>/<file>`. Same seed and size give the same bytes (dedup tests). */
  seed?: string;
}

export interface FileEntry {
  file: string;
  hash: string;
  size: number;
}

export interface MadeDcp {
  dir: string;
  filelist: FileEntry[];
  size: number;
}

const BLOCK = 1024 * 1024;

/** A 1 MiB block from AES-256-CTR over zeros: fast, deterministic, incompressible. */
function seedBlock(seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const iv = createHash('md5').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(BLOCK)), c.final()]);
}

export async function makeDcp(parentDir: string, name: string, files: DcpFileSpec[]): Promise<MadeDcp> {
  const dir = path.join(parentDir, name);
  await mkdir(dir, { recursive: true });
  const filelist: FileEntry[] = [];
  let total = 0;
  for (const f of files) {
    const target = path.join(dir, ...f.file.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    const block = seedBlock(f.seed ?? `${name}/${f.file}`);
    const sha1 = createHash('sha1');
    const fh = await open(target, 'w');
    try {
      let written = 0;
      for (let i = 0; written < f.size; i++) {
        const n = Math.min(BLOCK, f.size - written);
        // A fresh buffer per chunk (never reuse one the kernel may still be reading);
        // the counter stamped in front makes every MiB distinct, so no two BT pieces
        // or ranges of a file are equal by accident.
        const chunk = Buffer.allocUnsafe(n);
        block.copy(chunk, 0, 0, n);
        if (n >= 8) chunk.writeBigUInt64BE(BigInt(i), 0);
        sha1.update(chunk);
        let off = 0;
        while (off < n) {
          const { bytesWritten } = await fh.write(chunk, off, n - off);
          off += bytesWritten;
        }
        written += n;
      }
    } finally {
      await fh.close();
    }
    filelist.push({ file: f.file, hash: sha1.digest('hex'), size: f.size });
    total += f.size;
  }
  return { dir, filelist, size: total };
}

export async function sha1File(file: string): Promise<string> {
  const h = createHash('sha1');
  for await (const chunk of createReadStream(file, { highWaterMark: BLOCK })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** "YYYY-MM-DD HH:MM:SS" in local time, the seed's time format. */
export function seedTime(d: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface CdnTaskOptions {
  name: string;
  basesubdir: string;
  /** `<origin>/dcp/<basesubdir>/dcps/<name>`, no trailing slash. */
  cdnUrl: string;
  filelist: FileEntry[];
  /** Merged over the top level last (e.g. `{ policy: 'priortime' }`). */
  extra?: Record<string, unknown>;
}

/**
 * A complete SPEC §4 task with bt-obs-cdn 0:0:1: every file in cdnlist, the other
 * lists `[""]`. The lists2 sizes equal the lists sizes (nothing local yet), which keeps
 * both size checks of §4 true whether or not the receiver recomputes them.
 */
export function makeCdnTask(opts: CdnTaskOptions): Record<string, unknown> {
  const size = opts.filelist.reduce((s, f) => s + f.size, 0);
  const allDay = '00:00-23:59';
  return {
    sourcetype: 'sender',
    senderid: 'test',
    name: opts.name,
    type: 'dir',
    senderlocalpath: `/data/dcp/${opts.basesubdir}/dcps`,
    basesubdir: opts.basesubdir,
    datasource: 'local',
    size,
    'bt-obs-cdn': '0:0:1',
    policy: 'fulltime',
    bt: { localtorrent: '', url: '', tmpurl: '', tracker: '', seedtime: 0, priortime: allDay },
    obs: { url: '', priortime: allDay, ak: '', sk: '', endpoint: '' },
    cdn: { url: opts.cdnUrl, priortime: allDay },
    filelist: opts.filelist.map((f) => ({ file: f.file, hash: f.hash, size: f.size })),
    localsamefiles: [''],
    btlist: [''],
    obslist: [''],
    cdnlist: opts.filelist.length > 0 ? opts.filelist.map((f) => f.file) : [''],
    requesters: [{ vip: '', id: '' }],
    btlistsize: 0,
    obslistsize: 0,
    cdnlistsize: size,
    btlistsize2: 0,
    obslistsize2: 0,
    cdnlistsize2: size,
    gentime: seedTime(),
    sendtime: '',
    receivetime: '',
    finishedtime: '',
    ...opts.extra,
  };
}
