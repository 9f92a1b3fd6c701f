// How webtorrent's receive path holds the bytes of incoming blocks (issue 10: a BitTorrent
// download's RSS). Two of its parts, replaced on their prototypes when the client loads:
// - bittorrent-protocol's Wire#_write, the message framer. It joined every arriving socket
//   chunk to the unparsed rest (a copy of each byte, a fresh zeroed buffer per chunk) and
//   handed out each 16 KiB block as a view into that joined buffer;
// - torrent-piece's Piece, which kept those views until its last block came, then joined
//   them into the piece (another fresh buffer, another copy).
// A block's view kept its whole joined buffer (up to ~80 KiB) alive for the ~20 ms a 4 MiB
// piece takes to complete: long enough for V8 to move it to the old generation, which is
// swept only when ~64 MB of such buffers have piled up. A receiver at 180 MiB/s swung
// between 20 and 65 MB of dead buffers and peaked at 170-190 MB of RSS.
// Now the framer hands out views of the socket chunks themselves (copying only a message
// that spans two chunks), a piece copies each block into its own buffer at once, so socket
// chunks die young, and the piece buffers are reused (buffer-pool.ts) once the store has
// written them.
// Owns: the two replacements and the piece pool. Must not change what the wire or the piece
// delivers, only how the bytes are held; other webtorrent behaviour stays as shipped.
// The packages are pinned in package.json to the versions whose internals this reads.
import { readFile } from 'node:fs/promises';
import { pieceBuffers, type BufferPool } from './buffer-pool.ts';

/**
 * Takes the first `size` bytes off a queue of chunks. A message inside the first chunk is
 * a view of it; one that spans chunks is copied into a buffer of its own.
 */
export function takeBytes(queue: Uint8Array[], size: number): Uint8Array {
  const head = queue[0];
  if (head.length > size) {
    queue[0] = head.subarray(size);
    return head.subarray(0, size);
  }
  if (head.length === size) {
    queue.shift();
    return head;
  }
  const out = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const chunk = queue[0];
    const n = Math.min(chunk.length, size - filled);
    out.set(n === chunk.length ? chunk : chunk.subarray(0, n), filled);
    filled += n;
    if (n === chunk.length) queue.shift();
    else queue[0] = chunk.subarray(n);
  }
  return out;
}


const BLOCK_LENGTH = 16 * 1024;

/** The fields of bittorrent-protocol 4.1.21's Wire that its framer uses. */
interface WireInternals {
  _buffer: Uint8Array[];
  _bufferSize: number;
  _parserSize: number;
  _parser: (buf: Uint8Array) => void;
  _cryptoSyncPattern: Uint8Array | null;
  _encryptionMethod: number;
  _cryptoHandshakeDone: boolean;
  _decrypt(data: Uint8Array): Uint8Array;
}

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

type WriteFn = (this: WireInternals, data: Uint8Array, cb: (err: Error | null) => void) => void;

let installing: Promise<void> | undefined;

/** Replaces the framer and the piece assembly; once per process, before webtorrent is used. */
export function installBlockBuffers(): Promise<void> {
  installing ??= (async () => {
    // The same specifiers webtorrent imports, from the same node_modules (package.json pins
    // them, so there is one copy): these are the very classes it uses.
    const [{ default: Wire }, { default: Piece }] = await Promise.all([import('bittorrent-protocol'), import('torrent-piece')]);
    await checkVersion('bittorrent-protocol', '4.1.21');
    await checkVersion('torrent-piece', '3.0.2');
    patchWire(Wire.prototype as unknown as { _write: WriteFn });
    patchPiece(Piece.prototype as unknown as Record<string, unknown>, pieceBuffers);
  })();
  return installing;
}

async function checkVersion(name: string, want: string): Promise<void> {
  const pkg = new URL('package.json', import.meta.resolve(name));
  const have = (JSON.parse(await readFile(pkg, 'utf8')) as { version: string }).version;
  if (have !== want) throw new Error(`block-buffers: ${name} is ${have}; this replacement reads the internals of ${want}`);
}

/** The framer: same parsing as bittorrent-protocol's, without joining chunks. */
function patchWire(WireProto: { _write: WriteFn }): void {
  const original = WireProto._write;
  // Named so a test can tell the replacement is the one in use.
  WireProto._write = function framedWrite(this: WireInternals, data, cb) {
    // The encrypted handshake scans for its sync pattern in one joined buffer: leave that
    // (a few hundred bytes, once per connection) to the original, which also decrypts.
    if (this._cryptoSyncPattern) return original.call(this, data, cb);
    if (this._encryptionMethod === 2 && this._cryptoHandshakeDone) data = this._decrypt(data);
    this._bufferSize += data.length;
    this._buffer.push(data);
    while (this._bufferSize >= this._parserSize && !this._cryptoSyncPattern) {
      if (this._parserSize === 0) {
        this._parser(new Uint8Array());
      } else {
        const size = this._parserSize;
        this._bufferSize -= size;
        this._parser(takeBytes(this._buffer, size));
      }
    }
    cb(null);
  };
}

/** The piece: blocks are copied into a pooled whole-piece buffer as they arrive. */
function patchPiece(PieceProto: Record<string, unknown>, pool: BufferPool): void {
  PieceProto.init = function (this: PieceInternals): boolean {
    if (this._flushed) return false;
    if (this._buffer) return true;
    this._buffer = new Array(this._chunks);
    this._bytes = pool.take(this.length);
    this._cancellations = [];
    this.sources = [];
    return true;
  };
  PieceProto.set = function (this: PieceInternals & { init(): boolean }, i: number, data: Uint8Array, source: unknown): boolean {
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
  PieceProto.flush = function (this: PieceInternals): Buffer | null {
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
