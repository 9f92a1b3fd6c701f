// opentracker's whitelist, as the seed's fleet runs it (SPEC §12, config `trackerwhitelist`
// and `trackerreload`): Debian's opentracker answers only info-hashes listed in its
// whitelist file and re-reads that file on SIGHUP. Before a sender seeds a task it appends
// the task's info-hashes here (under a lock: several tasks publish at once, and another
// bft2 on the machine may share the file), then has the tracker re-read the file — by
// SIGHUP to the PID in a PID file, or by running a command (`systemctl kill -s HUP
// opentracker`). Reloads asked for while one runs are folded into one more.
// The tracker re-reads the file on a thread of its own after the signal, so before the
// seed's first announce the sender asks the tracker itself, announcing as that seed
// (same address and port), until it answers (confirmListed).
// Owns: the whitelist file's contents (lines it adds; every other line is kept as it is)
// and its lock `<file>.lock`. Must not touch the tracker otherwise (it signals it and
// announces the seed that is about to start).
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { request } from 'undici';
import { writeFileDurable } from '../../spool/durable-fs.ts';
import { errors, messageOf } from '../../errors/catalogue.ts';

/** A PID file is named so: an absolute path ending in `.pid`; any other value is a command. */
const PID_FILE_RE = /^\/\S*\.pid$/;
/** The whitelist's own form (opentracker's accesslist_readfile): 40 hex digits at the start of a line. */
const HASH_LINE_RE = /^([0-9a-fA-F]{40})(?![0-9a-fA-F])/;
/** A reload command that runs longer than this has hung. */
const COMMAND_TIMEOUT_MS = 30_000;

export type TrackerReload = { kind: 'pidfile'; file: string } | { kind: 'command'; command: string };

/** What `trackerreload` asks for; undefined for "". Pure. */
export function parseTrackerReload(value: string): TrackerReload | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  return PID_FILE_RE.test(v) ? { kind: 'pidfile', file: v } : { kind: 'command', command: v };
}

/** Why a `trackerreload` value cannot be used, or undefined. Pure. */
export function trackerReloadProblem(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  if (/[\n\r\0]/.test(v)) return 'must be one line: a PID file (/run/opentracker.pid) or a command (systemctl kill -s HUP opentracker)';
  if (/^[^\s/]\S*\.pid$/.test(v)) return `a PID file must be an absolute path, e.g. /run/${v}`;
  return undefined;
}

/** Why a `trackerwhitelist` value cannot be used, or undefined. Pure. */
export function trackerWhitelistProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (!value.startsWith('/')) return 'must be an absolute path, e.g. /etc/opentracker/whitelist.txt, or "" for none';
  if (value.endsWith('/')) return 'must name a file, not a directory';
  if (/[\n\r\0]/.test(value)) return 'must be one line';
  return undefined;
}

/** The info-hashes a whitelist's text lists (lower case), as opentracker reads them. Pure. */
export function listedHashes(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = HASH_LINE_RE.exec(line);
    if (m) out.add(m[1].toLowerCase());
  }
  return out;
}

/** The whitelist's text with `hashes` appended that it does not list yet; the lines already there stay as they are. Pure. */
export function withHashes(text: string, hashes: readonly string[]): { text: string; added: string[] } {
  const listed = listedHashes(text);
  const added: string[] = [];
  for (const h of hashes.map((x) => x.toLowerCase())) {
    if (listed.has(h)) continue;
    listed.add(h);
    added.push(h);
  }
  if (added.length === 0) return { text, added };
  const head = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return { text: head + added.map((h) => `${h}\n`).join(''), added };
}

export interface WhitelistOutcome {
  /** Hashes that were not in the file before. */
  added: string[];
  /** The tracker re-read the file (false: it was not running; it reads the file when it starts). */
  reloaded: boolean;
  /** Why the tracker was not told, when it was not running. */
  note?: string;
}

/** Per whitelist file: the in-process queue of its updates, and what its tracker was told. */
interface FileState {
  chain: Promise<unknown>;
  /** Hashes this process has seen the tracker re-read. */
  told: Set<string>;
  reload?: { running: Promise<ReloadResult>; again?: Promise<ReloadResult> };
}
type ReloadResult = { reloaded: boolean; note?: string };
const files = new Map<string, FileState>();

function stateOf(file: string): FileState {
  let s = files.get(file);
  if (!s) files.set(file, (s = { chain: Promise.resolve(), told: new Set() }));
  return s;
}

/**
 * Adds the info-hashes to the whitelist file (atomically, each at most once) and has the
 * tracker re-read it when it lists something the tracker has not been seen to read (a
 * reload that failed before is tried again). Throws TRACKER_WHITELIST when the file cannot
 * be written, TRACKER_RELOAD when the tracker runs but cannot be told.
 */
export async function admitToWhitelist(file: string, reload: TrackerReload | undefined, infoHashes: readonly string[]): Promise<WhitelistOutcome> {
  const s = stateOf(file);
  const hashes = infoHashes.map((h) => h.toLowerCase());
  const write = s.chain.then(() => appendLocked(file, hashes));
  s.chain = write.catch(() => undefined);
  const added = await write;
  if (!reload) return { added, reloaded: false, note: 'no trackerreload is configured: the tracker reads the file when it next starts or is reloaded' };
  if (hashes.every((h) => s.told.has(h))) return { added, reloaded: false };
  const r = await requestReload(s, reload);
  if (r.reloaded) for (const h of hashes) s.told.add(h);
  return { added, ...r };
}

async function appendLocked(file: string, hashes: string[]): Promise<string[]> {
  const dir = path.dirname(file);
  const dirOk = await stat(dir).then((st) => st.isDirectory(), () => false);
  if (!dirOk) throw errors.TRACKER_WHITELIST(file, `its directory ${dir} does not exist`);
  let release: (() => Promise<void>) | undefined;
  try {
    release = await lockfile.lock(file, {
      realpath: false,
      lockfilePath: `${file}.lock`,
      retries: { retries: 100, minTimeout: 20, maxTimeout: 250 },
      stale: 10_000,
      onCompromised: () => {},
    });
    const before = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : Promise.reject(err)));
    const { text, added } = withHashes(before, hashes);
    if (added.length) {
      // Keep the file readable by the tracker's own user as the operator set it up.
      const st = await stat(file).catch(() => undefined);
      await writeFileDurable(file, text, st ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } : { mode: 0o644 });
    }
    return added;
  } catch (err) {
    throw errors.TRACKER_WHITELIST(file, messageOf(err));
  } finally {
    await release?.().catch(() => undefined);
  }
}

/** One reload at a time per file; asks made while one runs share the next one (the file may have grown meanwhile). */
function requestReload(s: FileState, reload: TrackerReload): Promise<ReloadResult> {
  const r = s.reload;
  if (!r) {
    const running = reloadTracker(reload).finally(() => {
      if (s.reload?.running === running && !s.reload.again) s.reload = undefined;
    });
    s.reload = { running };
    return running;
  }
  r.again ??= r.running
    .catch(() => undefined)
    .then(() => {
      s.reload = undefined;
      return requestReload(s, reload);
    });
  return r.again;
}

/** Has the tracker re-read its whitelist. "Not running" is an answer, not an error: it reads the file when it starts. */
export async function reloadTracker(reload: TrackerReload): Promise<ReloadResult> {
  const what = reload.kind === 'pidfile' ? reload.file : reload.command;
  if (reload.kind === 'pidfile') {
    let text: string;
    try {
      text = await readFile(reload.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { reloaded: false, note: `the tracker is not running (no PID file ${reload.file})` };
      throw errors.TRACKER_RELOAD(what, messageOf(err));
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid < 2) throw errors.TRACKER_RELOAD(what, `the PID file holds ${JSON.stringify(text.trim().slice(0, 40))}, not a process id`);
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { reloaded: false, note: `the tracker is not running (no process ${pid} from ${reload.file})` };
      throw errors.TRACKER_RELOAD(what, messageOf(err));
    }
    return { reloaded: true };
  }
  await new Promise<void>((resolve, reject) => {
    execFile('/bin/sh', ['-c', reload.command], { timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const out = String(stderr).trim().split('\n').slice(-3).join(' / ');
      const why = err.killed ? `no exit within ${COMMAND_TIMEOUT_MS / 1000} s` : `exit ${err.code ?? err.signal}`;
      reject(errors.TRACKER_RELOAD(what, out ? `${why}: ${out}` : why));
    });
  });
  return { reloaded: true };
}

/** How long confirmListed asks before it gives up (the seed then starts all the same). */
const CONFIRM_MS = 5_000;

/**
 * Announces each info-hash to the HTTP tracker as the seed about to start (this node's
 * BitTorrent port, left=0: the tracker keys peers by address and port, so the seed's own
 * announce just renews this entry) until the tracker answers instead of refusing. Returns
 * the hashes still refused after CONFIRM_MS, with the tracker's reason. UDP trackers are
 * not asked.
 */
export async function confirmListed(announceUrl: string, infoHashes: readonly string[], port: number, signal?: AbortSignal): Promise<{ hash: string; reason: string }[]> {
  if (!/^https?:\/\//i.test(announceUrl)) return [];
  const deadline = Date.now() + CONFIRM_MS;
  const refused: { hash: string; reason: string }[] = [];
  for (const hash of infoHashes) {
    for (;;) {
      const reason = await announceRefusal(announceUrl, hash, port, signal).catch((err: unknown) => `no answer (${messageOf(err)})`);
      if (reason === undefined) break;
      if (Date.now() >= deadline || signal?.aborted) {
        refused.push({ hash, reason });
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return refused;
}

const pct = (hex: string) => hex.replace(/../g, (b) => `%${b}`);

/** The tracker's `failure reason` for one announce, or undefined when it answered. */
async function announceRefusal(announceUrl: string, hash: string, port: number, signal?: AbortSignal): Promise<string | undefined> {
  const peerId = Buffer.from('-BF2000-whitelisted!').toString('hex');
  const sep = announceUrl.includes('?') ? '&' : '?';
  const q = `info_hash=${pct(hash)}&peer_id=${pct(peerId)}&port=${port}&uploaded=0&downloaded=0&left=0&compact=1&numwant=0`;
  const res = await request(`${announceUrl}${sep}${q}`, { signal, headersTimeout: 2000, bodyTimeout: 2000 });
  const text = Buffer.from(await res.body.arrayBuffer()).toString('latin1');
  if (res.statusCode !== 200) return `HTTP ${res.statusCode}`;
  const m = /failure reason(\d+):/.exec(text);
  return m ? text.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1])) : undefined;
}
