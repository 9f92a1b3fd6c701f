// The one check that the BitTorrent packages whose internals src/transfer/bt/patches/
// replaces or reads are exactly the versions the patches were written for, and that the copy
// bft2 patches is the very copy webtorrent loads (one directory, no nested second copy).
// The daemon runs it at start and refuses to start on any difference (BT_LIBRARY_VERSION);
// installBtPatches runs it before it changes anything. package.json pins these versions.
// Owns the list of patched packages. Reads package.json files only; imports no package.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors } from '../../../errors/catalogue.ts';

/** Each patched package, its exact version, and who loads it (the package whose copy we must patch). */
export const PATCHED_PACKAGES: readonly { name: string; version: string; loadedBy: string; why: string }[] = [
  { name: 'webtorrent', version: '2.8.5', loadedBy: '', why: 'Torrent: piece state, reconnects, requests (last resort, disk backlog)' },
  { name: 'bittorrent-protocol', version: '4.1.21', loadedBy: 'webtorrent', why: 'Wire: framer, extensions, handshake record' },
  { name: 'torrent-piece', version: '3.0.2', loadedBy: 'webtorrent', why: 'Piece: block assembly' },
  { name: 'ut_metadata', version: '4.0.3', loadedBy: 'webtorrent', why: 'metadata extension per wire' },
  { name: 'torrent-discovery', version: '11.0.21', loadedBy: 'webtorrent', why: 'discovery.tracker (re-announce)' },
  { name: 'bittorrent-tracker', version: '11.2.3', loadedBy: 'torrent-discovery', why: 'Client#update, Server announce answers' },
];

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The directory Node resolves `name` to from `fromDir` (node_modules lookup upwards), if any. */
export function packageDir(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate);
    if (path.dirname(dir) === dir) return undefined;
  }
}

function versionOf(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** What differs from the pinned versions (empty when every package is right), read from `fromDir`. */
export function libraryProblems(fromDir = HERE, packages = PATCHED_PACKAGES): string[] {
  const problems: string[] = [];
  const dirs = new Map<string, string>();
  for (const p of packages) {
    const ours = packageDir(fromDir, p.name);
    if (!ours) {
      problems.push(`${p.name} is not installed (want ${p.version})`);
      continue;
    }
    dirs.set(p.name, ours);
    const have = versionOf(ours);
    if (have !== p.version) problems.push(`${p.name} is ${have ?? 'unreadable'}, the patches are for ${p.version} (${p.why})`);
    const loaderDir = p.loadedBy ? dirs.get(p.loadedBy) : undefined;
    if (loaderDir) {
      const theirs = packageDir(loaderDir, p.name);
      if (theirs !== ours) problems.push(`${p.loadedBy} loads its own ${p.name} (${theirs}, ${theirs ? versionOf(theirs) : '?'}), not the patched ${ours}`);
    }
  }
  return problems;
}

/** Throws BT_LIBRARY_VERSION listing every difference. */
export function checkBtLibraries(fromDir = HERE): void {
  const problems = libraryProblems(fromDir);
  if (problems.length > 0) throw errors.BT_LIBRARY_VERSION(problems);
}
