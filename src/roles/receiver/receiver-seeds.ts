// Receivers seed too (SPEC §5, `receiverseed`): once a DCP is stored, its BitTorrent share
// stays available for the task's seed time (`bt.seedtime` hours, else `defaultseedtime`,
// counted from `finishedtime`) straight from the store — hard links in the cacher's layout
// `data/transfer/bt/<basesubdir>/<torrent name>/`, no copy, and no re-read when the hash
// table vouches for the files. A restart resumes what has time left; expired seeds are
// stopped and their links removed. A cinema behind a firewall simply gets no inbound peers.
// Owns: `data/transfer/bt/<basesubdir>/<torrent name>{/,.torrent}` of received tasks and
// their seeds in the client, and their figures in /metrics. Must not touch the store's
// files (it only links them).
import { link, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurable } from '../../spool/durable-fs.ts';
import { regularFileInside } from '../../trust/confined-file.ts';
import { readTorrentFiles } from '../../transfer/bt/make-torrent.ts';
import { seed, type SeedHandle } from '../../transfer/bt/bt-seed.ts';
import type { BtClient } from '../../transfer/bt/bt-client.ts';
import type { HashTableStore } from '../../hashtable/hash-table.ts';
import type { DaemonContext } from '../../daemon/context.ts';
import type { Task } from '../../task/schema.ts';
import { messageOf } from '../../errors/catalogue.ts';
import { checkBtShare } from '../shared/bt-share-check.ts';
import { parseLocalTime } from '../../util/time.ts';
import type { SeedingProvider, SeedingTask } from '../../observe/seeding.ts';

export class ReceiverSeeds implements SeedingProvider {
  private readonly seeds = new Map<string, { handle: SeedHandle; until: number; dir: string; torrentFile: string }>();
  private readonly unregisterSeeding: () => void;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly hashes: HashTableStore,
    private readonly client: () => Promise<BtClient>,
  ) {
    this.unregisterSeeding = ctx.metrics.registerSeeding(this);
  }

  /** The seeds for /metrics (`bft2_seed_*`): peers, bytes served, share present, seed time left. */
  seedingTasks(): SeedingTask[] {
    const out: SeedingTask[] = [];
    for (const [task, s] of this.seeds) {
      if (s.handle.stopped) continue;
      out.push({ role: 'receiver', task, peers: s.handle.numPeers, uploadedBytes: s.handle.uploaded, present: s.handle.progress, seedLeftSeconds: Math.max(0, (s.until - Date.now()) / 1000) });
    }
    return out;
  }

  /** Where a task's share torrent is kept for seeding after the download. */
  torrentFile(basesubdir: string, torrentName: string): string {
    return path.join(this.ctx.paths.map('/data/transfer/bt'), basesubdir, `${torrentName}.torrent`);
  }

  /** Keeps the share torrent the download used, so the stored DCP can be seeded later (also after a restart). */
  async keepTorrent(t: Task, buf: Buffer): Promise<void> {
    const info = await readTorrentFiles(buf);
    await writeFileDurable(this.torrentFile(t.basesubdir, info.name), buf).catch(() => undefined);
  }

  /**
   * Seeds a stored DCP's share until its seed time is over; a no-op when there is nothing to
   * seed. `contentDir` holds the task's files (the DCP's directory; a single file's parent).
   */
  async start(task: string, t: Task, contentDir: string, finishedtime: string): Promise<void> {
    const config = this.ctx.config();
    if (!config.receiverseed || t.btlist.length === 0) return;
    const hours = Number(t.bt.seedtime ?? config.defaultseedtime);
    const until = (parseLocalTime(finishedtime) ?? Date.now()) + hours * 3600_000;
    if (until <= Date.now() || this.seeds.has(task)) return;
    const split = t.obslist.length > 0 || t.cdnlist.length > 0;
    const torrentName = split ? `${t.name}-tmp` : t.name;
    const torrentFile = this.torrentFile(t.basesubdir, torrentName);
    try {
      // Every BT file a local copy (a DCP received again): the download never loaded the
      // share's torrent, so it is fetched now, as recv would (and kept for restarts).
      let buf: Buffer | undefined = await readFile(torrentFile).catch(() => undefined);
      if (!buf) {
        buf = (await checkBtShare(t)).torrent;
        await this.keepTorrent(t, buf);
      }
      const info = await readTorrentFiles(buf);
      const dir = path.join(path.dirname(torrentFile), info.name);
      const store = this.ctx.paths.basedata(config);
      let trusted = true;
      const { entries } = await this.hashes.load();
      for (const f of info.files) {
        const from = path.join(contentDir, f.path);
        const st = await regularFileInside(store, from, 'stored file');
        const e = entries.get(from);
        if (!e || e.size !== st.size || e.mtimeMs !== st.mtimeMs || e.ino !== st.ino) trusted = false;
        const to = path.join(dir, f.path);
        if ((await stat(to).catch(() => undefined))?.ino === st.ino) continue;
        await rm(to, { force: true });
        await mkdir(path.dirname(to), { recursive: true });
        // A hard link costs nothing; a store on another filesystem than the transfer area
        // gets a symlink instead (ours, in our own directory; the client follows it).
        await link(from, to).catch((err: NodeJS.ErrnoException) => (err.code === 'EXDEV' ? symlink(from, to) : Promise.reject(err)));
      }
      const handle = await seed(await this.client(), { torrentFile, parentDir: path.dirname(dir), trusted });
      this.seeds.set(task, { handle, until, dir, torrentFile });
      this.ctx.log.info(`${task}: seeding ${info.name} from the store until ${new Date(until).toISOString()}`);
    } catch (err) {
      this.ctx.log.warn(`${task}: cannot seed the stored DCP (${messageOf(err)}); it is stored all the same`);
    }
  }

  isSeeding(task: string): boolean {
    const s = this.seeds.get(task);
    return s !== undefined && !s.handle.stopped;
  }

  /** Seeds whose time is over: stopped, links and torrent removed. */
  async expire(): Promise<void> {
    for (const [task, s] of this.seeds) if (s.until <= Date.now()) await this.stop(task);
  }

  async stop(task: string): Promise<void> {
    const s = this.seeds.get(task);
    if (!s) return;
    this.seeds.delete(task);
    await s.handle.stop().catch(() => undefined);
    await rm(s.dir, { recursive: true, force: true });
    await rm(s.torrentFile, { force: true });
    this.ctx.log.info(`${task}: seed time over, stopped seeding`);
  }

  async close(): Promise<void> {
    this.unregisterSeeding();
    for (const s of this.seeds.values()) await s.handle.stop().catch(() => undefined);
    this.seeds.clear();
  }
}
