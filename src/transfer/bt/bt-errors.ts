// The BT method's own errors, waiting to be moved into src/errors/catalogue.ts (which this
// part may not edit). Codes and texts are final; the seed's texts are word for word, the
// details bft2 adds come after them. When the catalogue has these entries, replace each
// builder's body with `errors.<CODE>(...)` and keep the call sites.
// Owns nothing else.
import { Bft2Error } from '../../errors/catalogue.ts';

/** True for a `-tmp` share torrent URL (SPEC §7: `.../dcps-tmp/<name>-tmp.torrent`). */
export function isTmpTorrentUrl(url: string): boolean {
  return /-tmp\.torrent$/.test(url.replace(/[?#].*$/, ''));
}

export const btErrors = {
  /** Retryable: the origin may be back on the next try. `reason` is kept as the cause. */
  BT_TORRENT_FETCH(url: string, reason: string): Bft2Error {
    const text = isTmpTorrentUrl(url) ? `could not download tmptorrent from ${url}` : `could not download torrent from ${url}`;
    const err = new Bft2Error('BT_TORRENT_FETCH', text, false);
    (err as Error).cause = reason;
    return err;
  },
  /** Unrecoverable: the task and the torrent describe different files. */
  BT_TORRENT_FILES(url: string, differences: string[]): Bft2Error {
    return new Bft2Error(
      'BT_TORRENT_FILES',
      `taskfile btlist is not equal torrent content, check taskfile or tmp torrent: ${url} (${differences.join('; ')})`,
      true,
    );
  },
  /** Unrecoverable: a torrent whose name or file paths would leave its directory. */
  BT_TORRENT_UNSAFE(url: string, what: string): Bft2Error {
    return new Bft2Error('BT_TORRENT_UNSAFE', `unsafe torrent ${url}: ${what}`, true);
  },
  /** The task's receiver-side check (SPEC §4): a BT share of a split task needs bt.tmpurl. */
  BT_NO_TMPURL(): Bft2Error {
    return new Bft2Error('BT_NO_TMPURL', 'need tmptorrent and found bt.tmpurl is empty.', true);
  },
};

/** The message plus its cause, for try-failure lines and logs. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? '' : err.cause instanceof Error ? err.cause.message : String(err.cause);
  return cause ? `${err.message}: ${cause}` : err.message;
}
