// Patch of webtorrent 2.8.5's Torrent: no new piece while the disk is behind. webtorrent
// hands each verified piece to its store and goes on requesting; nothing slowed the
// requests when the writes lagged (the kernel throttling page-cache writers, a slow disk),
// so whole pieces piled up in memory: of 4 GiB receives alike, most held 5-7 pieces of
// 4 MiB and one 15-18 (docs/performance.md, memory). Here Torrent#_request, the one
// place a block is requested, starts a piece only while the backlog of pieces waiting for
// their write (write-backlog.ts) is below its limit; blocks of a piece already started are
// still asked for, so no started piece is left half done. A torrent refused updates its
// requests again as soon as the backlog falls.
// Owns the outermost wrapper of Torrent#_request. Must not change which pieces are wanted,
// nor the requests for pieces already started.
import type { WriteBacklog } from '../write-backlog.ts';

interface TorrentInternals {
  pieces: ({ _buffer?: unknown } | null)[];
  destroyed?: boolean;
  _update(): void;
}

type RequestFn = (this: TorrentInternals, wire: unknown, index: number, hotswap: boolean) => boolean;

/** A piece whose first block was reserved holds its buffer (piece-buffer.ts's init). */
const started = (piece: { _buffer?: unknown } | null | undefined): boolean => piece != null && piece._buffer != null;

/** Wraps Torrent#_request on `TorrentProto`: new pieces wait while `backlog` is full. */
export function patchHoldNewPieces(TorrentProto: object, backlog: WriteBacklog): void {
  const proto = TorrentProto as { _request: RequestFn; _update?: unknown };
  if (typeof proto._request !== 'function') throw new Error('webtorrent: Torrent#_request is missing');
  if (typeof proto._update !== 'function') throw new Error('webtorrent: Torrent#_update is missing');
  if (proto._request.name === 'requestUnlessDiskBehind') return;
  const request = proto._request;
  proto._request = function requestUnlessDiskBehind(wire, index, hotswap) {
    if (backlog.full && !started(this.pieces[index])) {
      backlog.hold(this, () => {
        if (!this.destroyed) this._update();
      });
      return false;
    }
    return request.call(this, wire, index, hotswap);
  };
}
