// Patch of torrent-piece 3.0.2's Piece (issue 10: a BitTorrent download's RSS). The original
// kept each arriving block (a view into the wire's buffers) until its last block came, then
// joined them into the piece: another fresh buffer, another copy, and the views kept their
// socket buffers alive meanwhile. Here a piece takes one whole-piece buffer from the pool
// (buffer-pool.ts) when its first block is reserved and copies each block into it on
// arrival; the store gives the buffer back once the piece is written (file-store.ts).
// Owns Piece#init, #set and #flush. Must not change what a piece delivers or when it is
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
  _buffer: (Uint8Array | undefined)[] | null;
  _cancellations: number[] | null;
  _flushed: boolean;
  _bytes?: Buffer | null;
}

/** Replaces init, set and flush on `Piece.prototype`; blocks go into buffers taken from `pool`. */
export function patchPieceBuffer(PieceProto: object, pool: BufferPool): void {
  const proto = PieceProto as Record<string, unknown>;
  for (const m of ['init', 'set', 'flush', 'reserve', 'cancel']) {
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
      const block = data.subarray(j * BLOCK_LENGTH, (j + 1) * BLOCK_LENGTH);
      this._bytes!.set(block, at);
      this._buffer![i + j] = this._bytes!.subarray(at, at + block.length);
      this._buffered++;
      this.missing -= block.length;
      if (!this.sources!.includes(source)) this.sources!.push(source);
    }
    return this._buffered === this._chunks;
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
