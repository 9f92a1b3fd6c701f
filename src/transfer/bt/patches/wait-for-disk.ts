// Patch of webtorrent 2.8.5's Torrent: no requests while the disk is behind. webtorrent
// hands each verified piece to its store and goes on requesting; nothing slowed the
// requests when the writes lagged (the kernel throttling page-cache writers, a slow disk),
// so whole pieces piled up in memory: of 4 GiB receives alike, most held 5-7 pieces of
// 4 MiB and one 15-18 (docs/performance.md, memory). Here Torrent#_updateWireWrapper, the
// one caller of the code that requests blocks, asks for nothing while the backlog of pieces
// waiting for their write (write-backlog.ts) is at its limit: one check per update (a check
// per piece refused would walk every wanted piece on each block that arrives). Blocks
// already asked for still arrive; the torrent updates its requests again as soon as the
// backlog falls.
// Owns the wrapper of Torrent#_updateWireWrapper. Must not change which pieces are wanted
// or whom they are asked of.
import type { WriteBacklog } from '../write-backlog.ts';

interface TorrentInternals {
  destroyed?: boolean;
  _update(): void;
}

type UpdateFn = (this: TorrentInternals) => void;

/** Wraps Torrent#_updateWireWrapper on `TorrentProto`: no requests while `backlog` is full. */
export function patchWaitForDisk(TorrentProto: object, backlog: WriteBacklog): void {
  const proto = TorrentProto as { _updateWireWrapper: UpdateFn; _update?: unknown };
  if (typeof proto._updateWireWrapper !== 'function') throw new Error('webtorrent: Torrent#_updateWireWrapper is missing');
  if (typeof proto._update !== 'function') throw new Error('webtorrent: Torrent#_update is missing');
  if (proto._updateWireWrapper.name === 'updateUnlessDiskBehind') return;
  const update = proto._updateWireWrapper;
  proto._updateWireWrapper = function updateUnlessDiskBehind() {
    if (backlog.full) {
      backlog.hold(this, () => {
        if (!this.destroyed) this._update();
      });
      return;
    }
    update.call(this);
  };
}
