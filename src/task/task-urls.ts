// The URLs a task carries (SPEC §7), built from the sender's config and where the content
// lies in its store — one rule for gentask and for `bft2 retry --rebuild-urls` (a task
// whose URLs went stale when the config was fixed). The store is served at `/dcp/` (the
// sender's origin, or its web server and CDN in front), so a URL is the store-relative
// path of the file: the torrents are always `<basesubdir>/dcps/<name>.torrent` and
// `<basesubdir>/dcps-tmp/<name>-tmp.torrent` (gentask writes them there), the CDN's files
// lie where the content lies — `<basesubdir>/dcps/<name>` for the seed's layout, and
// elsewhere in the store as it is (the seed's own gentask example names
// `/data/dcp/cfec-001/xiaofang`). OBS objects are `dcps/<name>/<file>` of the bucket.
// Pure.
import path from 'node:path';

export interface UrlConfig {
  senderdomain?: string;
  cdnurl?: string;
  obsurl?: string;
}

export interface TaskUrls {
  btUrl: string;
  /** '' unless BitTorrent has only a share of the task. */
  btTmpUrl: string;
  cdnUrl: string;
  obsUrl: string;
}

export interface UrlInput {
  basesubdir: string;
  name: string;
  /** The directory holding the files the filelist names (the DCP; a single file's parent), relative to the store, `/`-separated. */
  contentDir: string;
  /** BitTorrent carries a share of a task split with other methods (a `-tmp` torrent). */
  btShare: boolean;
  /** gentask's `obsurl` parameter: a full `obs://bucket/dcps/<name>` is used as given; a bucket alone names the bucket. */
  obsurl?: string;
}

export function taskUrls(config: UrlConfig, u: UrlInput): TaskUrls {
  const given = u.obsurl ?? '';
  const bucket = (given || config.obsurl || '').replace(/^obs:\/\//, '').split('/')[0] || u.basesubdir;
  return {
    btUrl: `${config.senderdomain ?? ''}/dcp/${u.basesubdir}/dcps/${u.name}.torrent`,
    btTmpUrl: u.btShare ? `${config.senderdomain ?? ''}/dcp/${u.basesubdir}/dcps-tmp/${u.name}-tmp.torrent` : '',
    cdnUrl: `${config.cdnurl ?? ''}/dcp/${u.contentDir}`,
    obsUrl: given && given.split('/').length > 3 ? given : `obs://${bucket}/dcps/${u.name}`,
  };
}

/** The store-relative, `/`-separated path of a directory inside the store. */
export function storeRelative(store: string, dir: string): string {
  return path.relative(store, dir).split(path.sep).join('/');
}

/** The URL fields of a task as written (the ones its methods with a share use). */
export interface TaskUrlFields {
  bt: { url: string; tmpurl: string };
  obs: { url: string };
  cdn: { url: string };
  btlist: string[];
  obslist: string[];
  cdnlist: string[];
}

export interface UrlChange {
  /** `cdn.url`, `bt.url`, ... */
  field: string;
  from: string;
  to: string;
}

/** The fields whose URL differs from what the config builds now, for the methods with a share. */
export function urlChanges(t: TaskUrlFields, next: TaskUrls): UrlChange[] {
  const out: UrlChange[] = [];
  const add = (field: string, from: string, to: string) => from !== to && out.push({ field, from, to });
  if (t.btlist.length) {
    add('bt.url', t.bt.url, next.btUrl);
    add('bt.tmpurl', t.bt.tmpurl, next.btTmpUrl);
  }
  if (t.obslist.length) add('obs.url', t.obs.url, next.obsUrl);
  if (t.cdnlist.length) add('cdn.url', t.cdn.url, next.cdnUrl);
  return out;
}

/** Writes the changed URLs into a task's raw JSON (its other fields untouched). */
export function applyUrlChanges(raw: Record<string, unknown>, changes: UrlChange[]): void {
  for (const c of changes) {
    const [method, key] = c.field.split('.');
    const sub = raw[method] && typeof raw[method] === 'object' ? (raw[method] as Record<string, unknown>) : (raw[method] = {} as Record<string, unknown>);
    (sub as Record<string, unknown>)[key] = c.to;
  }
}
