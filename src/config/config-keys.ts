// What each config key is for: its one-line meaning, which roles use it, and whether
// `reloadconf` applies it or a restart is needed. The schema (./schema.ts) owns types and
// defaults; this file owns the words around them, so that `bft2 checkconfig`, the daemon's
// unknown-key warning, the generated JSON Schema and docs/config.md say the same thing.
// A test fails when a schema key has no entry here, or an entry names no schema key.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export type ServerType = 'sender' | 'receiver' | 'cacher';
const ALL: readonly ServerType[] = ['sender', 'receiver', 'cacher'];

export interface KeyDoc {
  /** One line: what the key means. */
  meaning: string;
  /** Roles whose daemon reads the key; set elsewhere it has no effect. */
  roles: readonly ServerType[];
  /** `live`: `reloadconf` applies it (from the next task or transfer that uses it); `restart`: read at start only. */
  reload: 'live' | 'restart';
}

const doc = (meaning: string, roles: readonly ServerType[], reload: 'live' | 'restart' = 'live'): KeyDoc => ({ meaning, roles, reload });

export const KEY_DOCS: Record<string, KeyDoc> = {
  servertype: doc('the role of this node: `sender` (publishes DCPs, can also receive), `receiver` (a cinema) or `cacher` (an edge node that downloads the BT share and seeds it)', ALL, 'restart'),
  machinetype: doc('`local` (the store is on this machine: a sender uploads the OBS share) or `hwecs` (a Huawei Cloud host whose store is the bucket mounted with obsfs: nothing to upload, no inotify)', ['sender'], 'restart'),
  receiverid: doc('identifier of this receiver (the seed\'s requester id)', ['receiver', 'cacher']),
  vip: doc('internal IP of this receiver (the seed\'s requester address)', ['receiver', 'cacher']),
  basedatapath: doc('the store: where DCPs live (absolute, under the root prefix)', ['sender', 'receiver'], 'restart'),
  basesubdir: doc('the sender\'s default `<centre>-<organisation>` directory (gentask\'s `basesubdir` when the call gives none)', ['sender']),
  avoidrepeat: doc('dedup: files of a task that the hash table already holds are copied from the store instead of downloaded', ['sender', 'receiver']),
  senderid: doc('identifier of this sender, written into the tasks it generates (letters and digits)', ['sender']),
  senderdomain: doc('the URL receivers fetch this sender\'s torrents from (`<senderdomain>/dcp/...`), no trailing /', ['sender']),
  'bt-obs-cdn': doc('gentask\'s default shares `bt:obs:cdn` (e.g. `2:1:1`; `1:0:0` = BitTorrent only)', ['sender']),
  priorpolicy: doc('default policy when a task names none: `fulltime` (no windows) or `priortime` (each method only in its window)', ALL),
  prior: doc('older spelling of `priorpolicy` (read when `priorpolicy` is absent)', ALL),
  tracker: doc('the BitTorrent announce URL written into the torrents gentask makes', ['sender']),
  defaultseedtime: doc('hours a BT share is seeded when the task gives no `bt.seedtime` (decimals allowed)', ALL),
  obsurl: doc('the sender\'s bucket, `obs://<bucket>` (by convention the basesubdir)', ['sender']),
  cdnurl: doc('the CDN base URL receivers fetch the CDN share from (`<cdnurl>/dcp/...`), no trailing /', ['sender']),
  bttime: doc('BitTorrent download window(s) `HH:MM-HH:MM` in local time, used under `priortime` when the task gives none; gentask writes it into tasks', ALL),
  obstime: doc('OBS download window(s), as `bttime`', ALL),
  cdntime: doc('CDN download window(s), as `bttime`', ALL),
  ctfilesorder: doc('allocate files in torrent order: BT takes a run from the front, the other methods from the back (no BT piece straddles another method\'s file)', ['sender']),
  obsak: doc('OBS access key (secret: never logged); also from `etc/bft2/obsbuckets.txt` per bucket', ['sender', 'receiver']),
  obssk: doc('OBS secret key (secret: never logged); also from `etc/bft2/obsbuckets.txt` per bucket', ['sender', 'receiver']),
  obsendpoint: doc('OBS endpoint (host or URL) of the bucket', ['sender', 'receiver']),
  datasource: doc('where a `local` sender\'s data is: `local` (this store; the OBS share is uploaded) or `obs` (unsupported: clear error)', ['sender']),
  receiverstoreplan: doc('where a receiver stores DCPs: `A` = `<basedatapath>/<name>`, `B` = `<basedatapath>/<basesubdir>/dcps/<name>`', ['receiver'], 'restart'),
  uploadingnum: doc('how many sender tasks publish at once; the rest wait in `data/sender/queues`', ['sender']),
  downloadingnum: doc('how many tasks download at once; the rest wait in `data/receiver/queues`', ALL),
  apilisten: doc('host:port of the JSON API (and, unless `metricslisten` is set, of `/metrics` and the status page)', ALL, 'restart'),
  btport: doc('BitTorrent listen port (TCP)', ALL, 'restart'),
  httporigin: doc('host:port on which a sender serves `<root>/data/dcp` read-only at `/dcp/` (GET, HEAD, Range); `""` = an external web server does it', ['sender'], 'restart'),
  embeddedtracker: doc('host:port of bft2\'s own BitTorrent tracker; `""` = off (use an external tracker)', ['sender', 'cacher'], 'restart'),
  autosend: doc('a complete task file appearing in `data/sender/tmp` is sent as by `send` (reactive false)', ['sender']),
  obssignature: doc('OBS request signing: `obs` (Huawei OBS), `v2` or `v4` (S3-compatible servers)', ['sender', 'receiver']),
  obspathstyle: doc('path-style bucket addressing (`http://host/bucket/key`), for S3-compatible test servers', ['sender', 'receiver']),
  receiverseed: doc('a receiver keeps seeding its BT share from the store for the task\'s seed time; its BitTorrent client then listens on btport from the start', ['receiver']),
  btatstart: doc('the BitTorrent client is made when the daemon starts (as on a sender), not at the first task that needs it: the first task does not wait for the libraries to load (about 1 CPU-s; 30 s when dozens of daemons share two cores, as in the lab), for about 27 MB more while idle', ['receiver', 'cacher'], 'restart'),
  btlimit: doc('cap on BitTorrent download rate, e.g. `20MB/s`, or a timetable `08:00,5MB/s 18:00,off`; `""`/`off` = no cap', ALL),
  obslimit: doc('cap on OBS download rate, as `btlimit`', ['sender', 'receiver']),
  cdnlimit: doc('cap on CDN download rate, as `btlimit`', ['sender', 'receiver']),
  btuploadlimit: doc('cap on BitTorrent upload (seeding) rate, as `btlimit`', ALL),
  diskreserve: doc('free space kept on the store and transfer filesystems (`20GB` or `5%`): a download that would go below it waits', ALL),
  rebalance: doc('`off`; `failed`: a method that failed for good hands its files to others; `idle`: also a finished method helps a slow one', ['sender', 'receiver']),
  metricslisten: doc('host:port of `/metrics` and the status page; `""` = on the API address', ALL, 'restart'),
  btprice: doc('price per GB (1024^3 bytes) received by BitTorrent, for a paid uplink: a number (`0.1`) or a timetable `00:00,0.05 08:00,0.1`; `""` = 0. Tasks account their cost with it; `bft2 plan` and `gentask --btobscdn auto` plan with it', ALL),
  obsprice: doc('price per GB received from OBS, as `btprice` (e.g. `00:00,0.25 08:00,0.5`: half price at night)', ALL),
  cdnprice: doc('price per GB received from the CDN, as `btprice`', ALL),
  currency: doc('the label costs are shown in (`progress`, `status`, `bft2 plan`), e.g. `CNY`, `EUR`', ALL),
  autoretry: doc('a task stopped by a transient fault (source refused, reset, timed out, unresolvable, 5xx/429) is tried again by itself once its sources answer, checked this often (`90s`, `30m`, `2h`); `off` = it waits for its `.err` to be deleted', ALL),
  trackerwhitelist: doc('opentracker\'s whitelist file (`access.whitelist` / `-w`): before a sender seeds a task it appends the task\'s info-hashes (full and `-tmp` torrent) to it; `""` = the tracker needs no whitelist', ['sender']),
  trackerreload: doc('how the tracker is made to re-read `trackerwhitelist`: a PID file (an absolute path ending in `.pid`) whose process gets SIGHUP, or a command run with /bin/sh (e.g. `systemctl kill -s HUP opentracker`); `""` = the tracker is not told', ['sender']),
  tuning: doc('timings and sizes production keeps at their defaults (tests shorten them); an object, each key below', ALL),
};

/** Keys of the seed's config that bft2 reads no more; named so checkconfig says why, not "unknown". */
export const RETIRED_KEYS: Record<string, string> = {
  ctcs: 'the BFT v1 ctorrent web control; bft2 runs its own BitTorrent client',
  hashtable: 'the hash table is always <root>/etc/bft2/hashtable.txt',
};

/** A key starting with `//` is a comment (the config template uses them); never an unknown key. */
export const isCommentKey = (key: string) => key.startsWith('//');

/** The object schema inside configSchema's transform (its keys and defaults). */
function objectSchema(): z.AnyZodObject {
  let s: z.ZodTypeAny = configSchema;
  while (s instanceof z.ZodEffects) s = s.innerType();
  if (!(s instanceof z.ZodObject)) throw new Error('configSchema is not an object schema');
  return s;
}

/** Every key the schema declares, in schema order. */
export function knownConfigKeys(): string[] {
  return Object.keys(objectSchema().shape);
}

/** The schema's default of a key (undefined when it has none). */
export function configDefault(key: string): unknown {
  const field = objectSchema().shape[key] as z.ZodTypeAny | undefined;
  if (!field) return undefined;
  const r = field.safeParse(undefined);
  return r.success ? r.data : undefined;
}

/** Edit distance (Levenshtein, with adjacent transpositions counted once). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known key an unknown one most likely meant, if one is close enough. */
export function suggestKey(unknown: string, known = knownConfigKeys()): string | undefined {
  const norm = (k: string) => k.toLowerCase().replace(/[_\s]/g, '-');
  // Ties go to the key sharing the longer start and end: `obsk` is one letter from both
  // obsak and obssk, and it is the secret key, `sk`, that it ends with.
  const shared = (a: string, b: string) => {
    let p = 0;
    while (p < a.length && p < b.length && a[p] === b[p]) p++;
    let q = 0;
    while (q < a.length && q < b.length && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
    return p + q;
  };
  let best: { key: string; d: number; s: number } | undefined;
  for (const key of known) {
    const d = editDistance(norm(unknown), norm(key));
    const s = shared(norm(unknown), norm(key));
    if (!best || d < best.d || (d === best.d && s > best.s)) best = { key, d, s };
  }
  if (!best) return undefined;
  // A third of the longer name: obsk→obssk (1), downloadnum→downloadingnum (3), but no
  // wild guesses for short names.
  const limit = Math.max(2, Math.floor(Math.max(unknown.length, best.key.length) / 3));
  return best.d <= limit ? best.key : undefined;
}

export interface UnknownKey {
  key: string;
  /** The likely intended key. */
  suggestion?: string;
  /** Why a retired seed key is not used. */
  retired?: string;
}

/** The keys of a raw config object that the schema does not declare (comment keys excepted). */
export function unknownConfigKeys(raw: Record<string, unknown>): UnknownKey[] {
  const known = knownConfigKeys();
  return Object.keys(raw)
    .filter((k) => !known.includes(k) && !isCommentKey(k))
    .map((key) => (RETIRED_KEYS[key] ? { key, retired: RETIRED_KEYS[key] } : { key, suggestion: suggestKey(key, known) }));
}

/** "obsk (did you mean obssk?)", for log lines and checkconfig. */
export function describeUnknownKey(u: UnknownKey): string {
  if (u.retired) return `${u.key} (a seed key bft2 does not use: ${u.retired})`;
  return u.suggestion ? `${u.key} (did you mean ${u.suggestion}?)` : `${u.key} (not a bft2 key)`;
}
