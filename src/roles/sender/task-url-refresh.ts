// A sender task's URLs against what the current config builds (issue 22): gentask wrote
// them from the config of its day; when the config is fixed (a CDN host, the origin's
// address) a failed task would be retried with the stale ones. Used by the sender for the
// way out it writes into a failed task's `.err`, and by `bft2 retry --rebuild-urls`.
// Owns nothing: reads the task and the store's layout.
import path from 'node:path';
import type { Config } from '../../config/schema.ts';
import type { Paths } from '../../config/paths.ts';
import type { Task } from '../../task/schema.ts';
import { taskUrls, storeRelative, urlChanges, type UrlChange } from '../../task/task-urls.ts';
import { dcpDirInside } from './publish-check.ts';

/** The URL fields of `t` that differ from what `config` builds for it now (empty: none). */
export async function senderUrlChanges(paths: Paths, config: Config, t: Task): Promise<UrlChange[]> {
  const store = paths.basedata(config);
  const dir = await dcpDirInside(store, t.senderlocalpath, t.name, paths.storeDir(config, t.basesubdir, t.name));
  const split = t.btlist.length > 0 && (t.obslist.length > 0 || t.cdnlist.length > 0);
  const contentDir = storeRelative(store, t.type === 'file' ? path.dirname(dir) : dir);
  return urlChanges(t, taskUrls(config, { basesubdir: t.basesubdir, name: t.name, contentDir, btShare: split }));
}

/** `cdn.url http://a -> http://b, bt.url ...` */
export function describeUrlChanges(changes: UrlChange[]): string {
  return changes.map((c) => `${c.field} ${c.from} -> ${c.to}`).join(', ');
}
