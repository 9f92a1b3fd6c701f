// The seed system's tracker for tests and the lab: Debian's opentracker (package
// `opentracker`, tools/install-test-deps), which answers only whitelisted info-hashes and
// re-reads its whitelist on SIGHUP (TESTBED "Other BitTorrent clients"). Started in its
// own directory: run as root it chroots there and drops to `nobody` (so the directory is
// made world-readable and the whitelist is named relative to it); as another user it
// only changes into it. Its PID goes into a PID file, as bft2's `trackerreload` reads it.
// Also raw announce and scrape requests, to see what the tracker answers and knows.
// Owns: its directory's whitelist (created when missing) and PID file, and its process.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';

export interface Opentracker {
  proc: ChildProcess;
  /** http://<host>:<port>/announce */
  announceUrl: string;
  /** The directory it runs in (its chroot when run as root). */
  dir: string;
  /** The whitelist file, <dir>/whitelist.txt. */
  whitelist: string;
  pidFile: string;
  output(): string;
  /** SIGHUP: it re-reads the whitelist. */
  reload(): void;
  stop(): Promise<void>;
}

export interface OpentrackerOptions {
  dir: string;
  host: string;
  port: number;
  /** Default <dir>/opentracker.pid. */
  pidFile?: string;
  /** A command it runs under, e.g. ['ip', 'netns', 'exec', NS] (which execs it: the pid stays its own). */
  wrap?: string[];
}

export const WHITELIST_NAME = 'whitelist.txt';

/**
 * The tracker's directory, readable by the user it drops to, with a whitelist (kept when
 * there is one); returns the whitelist's path.
 */
export async function prepareOpentrackerDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const whitelist = path.join(dir, WHITELIST_NAME);
  if (!(await stat(whitelist).then(() => true, () => false))) await writeFile(whitelist, '# info-hashes this tracker answers for, one a line\n', { mode: 0o644 });
  return whitelist;
}

/** opentracker's command line: TCP and UDP on host:port, whitelist mode, in `dir`. */
export function opentrackerArgs(dir: string, host: string, port: number): string[] {
  return ['-i', host, '-p', String(port), '-P', String(port), '-d', dir, '-w', WHITELIST_NAME];
}

export async function startOpentracker(o: OpentrackerOptions): Promise<Opentracker> {
  const whitelist = await prepareOpentrackerDir(o.dir);
  const [cmd, ...rest] = [...(o.wrap ?? []), 'opentracker', ...opentrackerArgs(o.dir, o.host, o.port)];
  const proc = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (b: Buffer) => {
    if (out.length < 1e6) out += b.toString('utf8');
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  let exited = false;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.once('error', (err) => collect(Buffer.from(`[spawn error] ${err.message}\n`)));
  const pidFile = o.pidFile ?? path.join(o.dir, 'opentracker.pid');
  await mkdir(path.dirname(pidFile), { recursive: true });
  await writeFile(pidFile, `${proc.pid}\n`);
  const announceUrl = `http://${o.host}:${o.port}/announce`;
  const t = {
    proc,
    announceUrl,
    dir: o.dir,
    whitelist,
    pidFile,
    output: () => out,
    reload: () => void proc.kill('SIGHUP'),
    stop: async () => {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
  // Up when it answers an announce at all (a refusal is an answer).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`opentracker exited at start: ${out.trim()}`);
    const answer = await trackerAnnounce(announceUrl, '00'.repeat(20), { event: 'stopped' }).catch(() => undefined);
    if (answer !== undefined) break;
    if (Date.now() > deadline) {
      await t.stop();
      throw new Error(`opentracker did not answer on ${announceUrl} within 10 s: ${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return t;
}

const esc = (hex: string) => hex.replace(/../g, (b) => `%${b}`);

/** One HTTP announce as a client sends it; the bencoded answer as latin1 text. */
export async function trackerAnnounce(announceUrl: string, infoHash: string, o: { event?: 'started' | 'stopped'; port?: number; peerId?: string } = {}): Promise<string> {
  const peerId = Buffer.from((o.peerId ?? '-PROBE-').padEnd(20, '-').slice(0, 20)).toString('hex');
  const q = `info_hash=${esc(infoHash)}&peer_id=${esc(peerId)}&port=${o.port ?? 6999}&uploaded=0&downloaded=0&left=0&compact=1${o.event ? `&event=${o.event}` : ''}`;
  const res = await request(`${announceUrl}?${q}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  return Buffer.from(await res.body.arrayBuffer()).toString('latin1');
}

/** The tracker's refusal text, or undefined when it answered the announce. */
export function refusal(answer: string): string | undefined {
  const m = /failure reason(\d+):/.exec(answer);
  return m ? answer.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1])) : undefined;
}

/**
 * What the tracker says to an announce of the hash: its refusal, or undefined when it
 * answers. opentracker checks its whitelist on every announce but `stopped`, so the probe
 * joins as a peer and then leaves with `stopped` (nobody is handed a peer that is not there
 * for long: a client that tries it is refused a connection).
 */
export async function trackerRefusal(announceUrl: string, infoHash: string): Promise<string | undefined> {
  const why = refusal(await trackerAnnounce(announceUrl, infoHash));
  if (why === undefined) await trackerAnnounce(announceUrl, infoHash, { event: 'stopped' });
  return why;
}

/** Seeds (complete) and leechers the tracker knows for a hash, from its scrape; zeros when it knows none. */
export async function trackerScrape(announceUrl: string, infoHash: string): Promise<{ complete: number; incomplete: number }> {
  const res = await request(`${announceUrl.replace(/\/announce$/, '/scrape')}?info_hash=${esc(infoHash)}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  const text = Buffer.from(await res.body.arrayBuffer()).toString('latin1');
  const complete = /8:completei(\d+)e/.exec(text);
  const incomplete = /10:incompletei(\d+)e/.exec(text);
  return { complete: complete ? Number(complete[1]) : 0, incomplete: incomplete ? Number(incomplete[1]) : 0 };
}
