// Patch of torrent-piece 3.0.2's Piece (issue 10: a BitTorrent download's RSS). The original
// kept each arriving block (a view into the wire's buffers) until its last block came, then
// joined them into the piece: another fresh buffer, another copy, and the views kept their
// socket buffers alive meanwhile. Here a piece takes one whole-piece buffer from the pool
// (buffer-pool.ts) when its first block is reserved and copies each block into it on
// arrival; the store gives the buffer back once the piece is written (file-store.ts). A
// block held is marked with a flag, not a view of the piece: 256 views a piece lived until
// it was complete, long enough to reach V8's old generation, which grew by 0.8 MB/s in a
// receive between full collections, about half that without them (docs/performance.md,
// memory); `get` makes its view when asked (nobody in webtorrent 2.8.5 asks).
// Owns Piece#init, #set, #get and #flush. Must not change what a piece delivers or when it is
// complete; the other methods (reserve, cancel, ...) stay the original's.
import type { BufferPool } from '../buffer-pool.ts';

const BLOCK_LENGTH = 16 * 1024;

/** The fields of torrent-piece 3.0.2's Piece. `_buffer` marks the blocks held; `_bytes` is ours. */
interface PieceInternals {
  length: number;
  missing: number;
  sources: unknown[] | null;
  _chunks: number;
  _buffered: number;
  _buffer: (true | undefined)[] | null;
  _cancellations: number[] | null;
  _flushed: boolean;
  _bytes?: Buffer | null;
}

/** Replaces init, set, get and flush on `Piece.prototype`; blocks go into buffers taken from `pool`. */
export function patchPieceBuffer(PieceProto: object, pool: BufferPool): void {
  const proto = PieceProto as Record<string, unknown>;
  for (const m of ['init', 'set', 'get', 'flush', 'reserve', 'cancel']) {
    if (typeof proto[m] !== 'function') throw new Error(`torrent-piece: Piece#${m} is missing`);
  }
  if ((proto.init as { name: string }).name === 'pooledInit') return;
  proto.init = function pooledInit(this: PieceInternals): boolean {
    if (this._flushed) return false;
    if (this._buffer) return true;
    this._buffer = new Array(this._chunks);
    this._bytes = pool.take(this.length);
    this._cancellations = [];
    this.sources = [];
    return true;
  };
  proto.set = function (this: PieceInternals & { init(): boolean }, i: number, data: Uint8Array, source: unknown): boolean {
    if (!this.init()) return false;
    const blocks = Math.ceil(data.length / BLOCK_LENGTH);
    for (let j = 0; j < blocks; j++) {
      if (this._buffer![i + j]) continue;
      const at = (i + j) * BLOCK_LENGTH;
      const block = blocks === 1 ? data : data.subarray(j * BLOCK_LENGTH, (j + 1) * BLOCK_LENGTH);
      this._bytes!.set(block, at);
      this._buffer![i + j] = true;
      this._buffered++;
      this.missing -= block.length;
      if (!this.sources!.includes(source)) this.sources!.push(source);
    }
    return this._buffered === this._chunks;
  };
  proto.get = function (this: PieceInternals & { init(): boolean }, i: number): Uint8Array | null | undefined {
    if (!this.init()) return null;
    if (!this._buffer![i]) return undefined;
    const at = i * BLOCK_LENGTH;
    return this._bytes!.subarray(at, Math.min(at + BLOCK_LENGTH, this.length));
  };
  proto.flush = function (this: PieceInternals): Buffer | null {
    if (!this._buffer || this._chunks !== this._buffered) return null;
    const bytes = this._bytes!;
    this._bytes = null;
    this._buffer = null;
    this._cancellations = null;
    this.sources = null;
    this._flushed = true;
    return bytes;
  };
}
