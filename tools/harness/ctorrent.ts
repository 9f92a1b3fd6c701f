// The seed system's BitTorrent client for tests and the lab: Debian's ctorrent
// 1.3.4.dnh3.3.2 (package `ctorrent`, tools/install-test-deps). What the old system's
// cinemas and centres run: `ctorrent -t` makes its torrents (files in directory order),
// `ctorrent -c` checks a directory against a torrent, and a plain run seeds or downloads.
// ctorrent takes any peer with its own IP address for itself (TESTBED), so on one host
// each instance listens on an address of its own (127.0.0.2, 127.0.0.3, ...) or runs in
// a namespace of its own (the lab).
// Owns: the processes it starts, and the marker and bitfield files beside their torrents.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const exec = (args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> =>
  new Promise((resolve, reject) => {
    execFile('ctorrent', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error('ctorrent is not installed (tools/install-test-deps installs it)'));
      if (err && err.killed) return reject(new Error(`ctorrent ${args.join(' ')}: no exit within ${timeoutMs / 1000} s`));
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, out: `${stdout}${stderr}` });
    });
  });

/** `ctorrent -t`: the torrent of a directory as the old system made it (its piece length default 256 KiB). */
export async function makeCtorrent(dir: string, tracker: string, outFile: string, pieceLength?: number): Promise<void> {
  await rm(outFile, { force: true });
  // ctorrent names the torrent after the path it is given: run it beside the directory.
  const args = ['-t', '-u', tracker, '-s', outFile, ...(pieceLength ? ['-l', String(pieceLength)] : []), path.basename(dir)];
  const r = await new Promise<{ code: number; out: string }>((resolve, reject) => {
    execFile('ctorrent', args, { cwd: path.dirname(dir), timeout: 300_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error('ctorrent is not installed (tools/install-test-deps installs it)'));
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, out: `${stdout}${stderr}` });
    });
  });
  if (r.code !== 0 || !/successful/.test(r.out)) throw new Error(`ctorrent -t ${dir}: exit ${r.code}: ${r.out.trim().slice(-500)}`);
}

export interface CtorrentCheck {
  /** Pieces present and total, from its `Already/Total: a/b` line. */
  have: number;
  total: number;
  complete: boolean;
  output: string;
}

/**
 * `ctorrent -c`: checks `dataDir` (the torrent's directory, under any name) against the
 * torrent. It exits 0 even when pieces are missing, so its `Already/Total` line is read.
 * It writes nothing but reads a copy of the torrent (its bitfield file goes beside that).
 */
export async function checkWithCtorrent(torrentFile: string, dataDir: string, scratch: string): Promise<CtorrentCheck> {
  await mkdir(scratch, { recursive: true });
  const copy = path.join(scratch, `check-${Date.now()}-${path.basename(torrentFile)}`);
  await copyFile(torrentFile, copy);
  try {
    const r = await exec(['-c', '-s', dataDir, copy]);
    const m = /Already\/Total: (\d+)\/(\d+)/.exec(r.out);
    if (!m) throw new Error(`ctorrent -c ${torrentFile}: no Already/Total line (exit ${r.code}): ${r.out.trim().slice(-800)}`);
    const have = Number(m[1]);
    const total = Number(m[2]);
    return { have, total, complete: have === total && total > 0, output: r.out };
  } finally {
    await rm(copy, { force: true });
    await rm(`${copy}.bf`, { force: true });
  }
}

/** The files of a torrent in its own order, as `ctorrent -x` lists them. */
export async function ctorrentFileOrder(torrentFile: string): Promise<string[]> {
  const r = await exec(['-x', torrentFile]);
  return [...r.out.matchAll(/^<\d+>\s+(.+?) \[\d+\]$/gm)].map((m) => m[1]);
}

export interface CtorrentPeer {
  proc: ChildProcess;
  /** Resolves once the download is complete (at once for a seed that has everything). */
  complete: Promise<void>;
  isComplete(): boolean;
  output(): string;
  exited(): boolean;
  /** SIGINT (ctorrent then tells the tracker it stops), SIGKILL after 5 s. */
  stop(): Promise<void>;
}

export interface CtorrentPeerOptions {
  torrentFile: string;
  /** The data directory (the torrent's directory, under any name): seeded from, or downloaded into. */
  dataDir: string;
  /** Listen and announce address: its own, on one host (127.0.0.2, ...). */
  ip: string;
  port: number;
  /** Hours to seed after completion; 0 = exit once complete. */
  seedHours: number;
  /** Scratch directory: its copy of the torrent, bitfield and completion marker. */
  scratch: string;
  /** A command it runs under, e.g. ['ip', 'netns', 'exec', NS]. */
  wrap?: string[];
  /** Skip the initial check of existing data (a seed whose data is known good: `-f`). */
  trusted?: boolean;
  /** Cap on upload, KB/s (`-U`). */
  uploadKBps?: number;
}

/**
 * A ctorrent peer's scratch directory (its copy of the torrent, a fresh completion marker)
 * and its command line; `marker` appears once the download is complete (`-X`).
 */
export async function prepareCtorrentPeer(o: Omit<CtorrentPeerOptions, 'wrap'>): Promise<{ args: string[]; marker: string }> {
  await mkdir(o.scratch, { recursive: true });
  await mkdir(path.dirname(o.dataDir), { recursive: true });
  const torrent = path.join(o.scratch, path.basename(o.torrentFile));
  if (path.resolve(o.torrentFile) !== torrent) await copyFile(o.torrentFile, torrent);
  const marker = path.join(o.scratch, 'complete');
  await rm(marker, { force: true });
  const args = ['-s', o.dataDir, '-i', o.ip, '-I', o.ip, '-p', String(o.port), '-e', String(o.seedHours), '-X', `touch ${marker}`, '-b', `${torrent}.bf`];
  if (o.trusted) args.push('-f');
  if (o.uploadKBps) args.push('-U', String(o.uploadKBps));
  return { args: [...args, torrent], marker };
}

/** A ctorrent peer: seeds the data it has and downloads what it lacks. */
export async function startCtorrent(o: CtorrentPeerOptions): Promise<CtorrentPeer> {
  const { args, marker } = await prepareCtorrentPeer(o);
  const [cmd, ...rest] = [...(o.wrap ?? []), 'ctorrent', ...args];
  const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (b: Buffer) => {
    out += b.toString('latin1');
    if (out.length > 2e6) out = out.slice(-1e6);
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  let exited = false;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.once('error', (err) => collect(Buffer.from(`[spawn error] ${err.message}\n`)));
  let done = false;
  // -X runs once the last piece is in; a seed that starts complete runs it too.
  const complete = (async () => {
    for (;;) {
      if (await stat(marker).then(() => true, () => false)) {
        done = true;
        return;
      }
      if (exited) throw new Error(`ctorrent exited before its download was complete:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  complete.catch(() => undefined);
  return {
    proc,
    complete,
    isComplete: () => done,
    output: () => out,
    exited: () => exited,
    stop: async () => {
      if (exited) return;
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
