// Which transfer methods take part in one task's download, each as a Source (source.ts):
// the one place that knows the three methods by name. A method takes part when this node
// runs it and the task gives it files and a URL — or, for BitTorrent, when rebalancing may
// hand it another method's files through the full torrent.
// Owns nothing; makes the sources, which the download engine owns.
import type { FileEntry, Method, Task } from '../task/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { BtClient } from './bt/bt-client.ts';
import type { ObsClient } from './obs/obs-client.ts';
import type { Source } from './source.ts';
import { CdnSource } from './cdn/cdn-source.ts';
import { ObsSource } from './obs/obs-source.ts';
import { BtSource } from './bt/bt-source.ts';

export interface SourceContext {
  task: string;
  t: Task;
  /** The files each method fetches (the task's lists minus local copies). */
  lists2: Record<Method, string[]>;
  /** Every file of the download. */
  files: FileEntry[];
  assembly: string;
  log: Logger;
  available: ReadonlySet<Method>;
  /** Whether other methods may take over files (config `rebalance` not off). */
  rebalancing: boolean;
  btClient?: () => Promise<BtClient>;
  obsClient: (bucket: string) => Promise<ObsClient>;
  /** The share torrent, once fetched (a receiver keeps it to seed the stored DCP). */
  onShareTorrent?: (buf: Buffer) => void | Promise<void>;
  /** Bytes [start, end) of a file landed through a source's own store (BitTorrent's verified pieces). */
  landed(method: Method, file: string, start: number, end: number): void;
  /** The done ranges of a file so far. */
  doneRanges(file: string): [number, number][];
  /** A cacher feeds a swarm: its whole share selected at once, rarest pieces first. */
  swarmFeeder?: boolean;
}

export function makeSources(c: SourceContext): Source[] {
  const { t } = c;
  const sources: Source[] = [];
  if (c.available.has('cdn') && t.cdnlist.length > 0 && t.cdn.url !== '') sources.push(new CdnSource(t.cdn.url));
  if (c.available.has('obs') && t.obslist.length > 0 && t.obs.url !== '') sources.push(new ObsSource(t.obs.url, t.obslist, c.obsClient));
  const bt = c.available.has('bt') && c.btClient !== undefined && t.btlist.length > 0 && (c.lists2.bt.length > 0 || (c.rebalancing && t.bt.url !== ''));
  if (bt) {
    const split = t.obslist.length > 0 || t.cdnlist.length > 0;
    const shareUrl = split ? t.bt.tmpurl : t.bt.url;
    const byName = new Map(t.filelist.map((f) => [f.file, f]));
    const client = c.btClient!;
    // The daemon's client is made on first use (webtorrent's modules load, the port binds):
    // start that now, beside the fetch of the torrent, not after it.
    void client().catch(() => undefined);
    sources.push(
      new BtSource({
        task: c.task,
        client,
        log: c.log,
        shareUrl,
        fullUrl: c.rebalancing && split && t.bt.url !== shareUrl ? t.bt.url : '',
        shareFiles: t.btlist.map((f) => byName.get(f)!),
        exactShare: split,
        files: c.files,
        assembly: c.assembly,
        onDone: (file, start, end) => c.landed('bt', file, start, end),
        onShareTorrent: c.onShareTorrent,
        doneRanges: (file) => c.doneRanges(file),
        strategy: c.swarmFeeder ? 'rarest' : 'sequential',
        serveWhilePaused: c.swarmFeeder,
        senderLastResort: c.swarmFeeder,
        parallel: c.swarmFeeder ? 64 : 4,
        randomStart: !c.swarmFeeder,
      }),
    );
  }
  return sources;
}
