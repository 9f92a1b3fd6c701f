// Every path bft2 uses, in one module (SPEC §2). The seed's absolute paths (/data/...,
// /etc/bft2/..., /var/log/bft2/...) and the config's paths are resolved under the root
// prefix (--root / BFT2_ROOT, default /). Paths named by a caller (an API `taskfile`)
// are not mapped: they are ordinary paths on this machine.
import path from 'node:path';
import type { Config } from './schema.ts';

export const RECEIVER_STATES = ['tmp', 'queues', 'downloading', 'downloaded', 'history'] as const;
export const SENDER_STATES = ['tmp', 'queues', 'uploading', 'uploaded', 'history'] as const;
export type ReceiverState = (typeof RECEIVER_STATES)[number];
export type SenderState = (typeof SENDER_STATES)[number];
export type Role = 'receiver' | 'sender';
export type TransferMethod = 'bt' | 'obs' | 'cdn';

export const TASK_SUFFIX = '.task.json';
/** Sidecar markers of a task file, named `<task><suffix>` beside it. */
export const MARKER_SUFFIXES = ['.err', '.cancelled'] as const;
export type MarkerSuffix = (typeof MARKER_SUFFIXES)[number];
/** Every temp file bft2 writes starts with this, so its own watchers can ignore them. */
export const TEMP_PREFIX = '.bft2-';

/** Linux's limits on one path segment and a whole path, in bytes. */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;
/**
 * The most bytes bft2 adds to a name it is given when it makes its own names from it
 * (`<task>.task.json.replaced-<ms>`, `.bft2-<file>.spill`, `<name>-tmp.torrent`, ...): a
 * name, basesubdir, file path segment or task file name longer than NAME_MAX minus this is
 * refused up front, not half-way through a download when a temp name no longer fits.
 */
export const LONGEST_AFFIX = 40;

/** Why a name bft2 derives its own names from is impossible here, or undefined. Pure. */
export function nameProblem(segment: string): string | undefined {
  if (segment.startsWith(TEMP_PREFIX)) return `starts with ${TEMP_PREFIX}, which bft2 reserves for its own temporary files`;
  const bytes = Buffer.byteLength(segment);
  if (bytes + LONGEST_AFFIX > NAME_MAX) return `is ${bytes} bytes long; at most ${NAME_MAX - LONGEST_AFFIX} fit beside bft2's own suffixes within the filesystem's ${NAME_MAX}`;
  return undefined;
}

export function resolveRoot(cliRoot?: string): string {
  return path.resolve(cliRoot || process.env.BFT2_ROOT || '/');
}

/** `cfec-001-xiaofang.task.json` → `cfec-001-xiaofang`; undefined when not a task file name. */
export function taskNameOf(fileName: string): string | undefined {
  const base = path.basename(fileName);
  if (!base.endsWith(TASK_SUFFIX) || base.startsWith('.')) return undefined;
  const name = base.slice(0, -TASK_SUFFIX.length);
  return name === '' ? undefined : name;
}

/**
 * The spool a path lies in by its shape — a file under `<any root>/data/sender/` or
 * `<any root>/data/receiver/` — or undefined. Every bft2 root has that layout (whatever
 * its root prefix), so this is how `recv` knows a file it must copy, not move, without
 * knowing the other roots. Pure.
 */
export function spoolOfPath(file: string): { role: Role; dir: string } | undefined {
  const parts = path.resolve(file).split(path.sep);
  // data/<role>/ and at least the file name after it.
  for (let i = parts.length - 3; i >= 0; i--) {
    if (parts[i] === 'data' && (parts[i + 1] === 'sender' || parts[i + 1] === 'receiver')) {
      return { role: parts[i + 1] as Role, dir: parts.slice(0, i + 2).join(path.sep) };
    }
  }
  return undefined;
}

export class Paths {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Maps a seed path (/data/dcp) under the root. */
  map(seedPath: string): string {
    return path.join(this.root, seedPath);
  }

  get configFile() { return this.map('/etc/bft2/config.json'); }
  get obsBucketsFile() { return this.map('/etc/bft2/obsbuckets.txt'); }
  /** The fleet `gentask --btobscdn auto` plans for (bft2 plan's scenario format). */
  get fleetFile() { return this.map('/etc/bft2/fleet.json'); }
  get hashTable() { return this.map('/etc/bft2/hashtable.txt'); }
  get logDir() { return this.map('/var/log/bft2'); }
  get daemonLog() { return path.join(this.logDir, 'bftv2.log'); }
  get hashLog() { return path.join(this.logDir, 'mhashtable.log'); }
  /** Task locks and the daemon lock live here, outside every watched directory. */
  get lockDir() { return this.map('/var/lib/bft2/locks'); }
  get transferDir() { return this.map('/data/transfer'); }
  /** A sender task's OBS multipart resume records (never beside the source: the store is watched). */
  obsUploadState(task: string) { return path.join(this.map('/var/lib/bft2/obs-upload'), task); }

  spoolDir(role: Role, state: string): string {
    return this.map(`/data/${role}/${state}`);
  }
  taskFile(role: Role, state: string, task: string): string {
    return path.join(this.spoolDir(role, state), task + TASK_SUFFIX);
  }
  marker(role: Role, state: string, task: string, suffix: MarkerSuffix): string {
    return path.join(this.spoolDir(role, state), task + suffix);
  }

  /** Where one method stages its share of a DCP while downloading. */
  staging(method: TransferMethod, basesubdir: string, name: string): string {
    return path.join(this.transferDir, method, basesubdir, name);
  }
  /** Where the verified files of all methods are put together before the DCP enters the store. */
  assembly(basesubdir: string, name: string): string {
    return path.join(this.transferDir, 'assembly', basesubdir, name);
  }

  /** The store root (config `basedatapath`) under the root prefix. */
  basedata(config: Config): string {
    return this.map(config.basedatapath);
  }

  /** The directory that holds received DCPs and their `.finished` markers (SPEC §1). */
  storeParent(config: Config, basesubdir: string): string {
    const plainStore = config.servertype === 'receiver' && config.receiverstoreplan === 'A';
    return plainStore ? this.basedata(config) : path.join(this.basedata(config), basesubdir, 'dcps');
  }
  storeDir(config: Config, basesubdir: string, name: string): string {
    return path.join(this.storeParent(config, basesubdir), name);
  }
  finishedMarker(config: Config, basesubdir: string, name: string): string {
    return path.join(this.storeParent(config, basesubdir), name + '.finished');
  }

  /**
   * The longest path bft2 makes for a file of a task (assembly, store, BitTorrent staging),
   * in bytes, its longest affix included: above PATH_MAX the task is refused up front.
   */
  longestPathFor(config: Config, basesubdir: string, name: string, file: string): number {
    const bases = [this.assembly(basesubdir, name), this.storeDir(config, basesubdir, name), path.join(this.transferDir, 'bt', basesubdir, `${name}-tmp`)];
    return Math.max(...bases.map((b) => Buffer.byteLength(path.join(b, file)))) + LONGEST_AFFIX;
  }

  /** The first file of a task whose longest path would reach PATH_MAX, with that length. */
  pathTooLong(config: Config, basesubdir: string, name: string, files: readonly { file: string }[]): { file: string; bytes: number } | undefined {
    for (const f of files) {
      const bytes = this.longestPathFor(config, basesubdir, name, f.file);
      if (bytes >= PATH_MAX) return { file: f.file, bytes };
    }
    return undefined;
  }

  /** Every directory the daemon creates at start (the empty spool tree). */
  allDirs(config: Config): string[] {
    return [
      ...RECEIVER_STATES.map((s) => this.spoolDir('receiver', s)),
      ...SENDER_STATES.map((s) => this.spoolDir('sender', s)),
      ...(['bt', 'obs', 'cdn', 'assembly'] as const).map((m) => path.join(this.transferDir, m)),
      this.basedata(config),
      this.logDir,
      this.lockDir,
      path.dirname(this.configFile),
    ];
  }
}
