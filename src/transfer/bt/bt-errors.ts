// The BT method's errors, built from the catalogue (src/errors/catalogue.ts), with the
// details the BT code knows (which URL, what differs). Owns nothing else.
import { errors, type Bft2Error } from '../../errors/catalogue.ts';

/** True for a `-tmp` share torrent URL (SPEC §7: `.../dcps-tmp/<name>-tmp.torrent`). */
export function isTmpTorrentUrl(url: string): boolean {
  return /-tmp\.torrent$/.test(url.replace(/[?#].*$/, ''));
}

export const btErrors = {
  /**
   * Retryable: the origin may be back on the next try. `reason` is kept as the cause, so
   * the retry policy sees a 404 or a refused connection through it and gives up quickly.
   */
  BT_TORRENT_FETCH(url: string, reason: unknown): Bft2Error {
    const err = errors.BT_TORRENT_FETCH(url, isTmpTorrentUrl(url));
    (err as Error).cause = reason;
    return err;
  },
  /** Unrecoverable: the task and the torrent describe different files. */
  BT_TORRENT_FILES(url: string, differences: string[]): Bft2Error {
    return errors.BT_TORRENT_FILES(url, differences);
  },
  /** Unrecoverable: a torrent whose name or file paths would leave its directory. */
  BT_TORRENT_UNSAFE(url: string, what: string): Bft2Error {
    return errors.BT_TORRENT_UNSAFE(url, what);
  },
  /** The task's receiver-side check (SPEC §4): a BT share of a split task needs bt.tmpurl. */
  BT_NO_TMPURL(): Bft2Error {
    return errors.BT_NO_TMPURL();
  },
};

/** The message plus its cause, for try-failure lines and logs. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? '' : err.cause instanceof Error ? err.cause.message : String(err.cause);
  return cause ? `${err.message}: ${cause}` : err.message;
}
