// Patch of bittorrent-protocol 4.1.21's Wire#_write, the message framer (issue 10: a
// BitTorrent download's RSS). The original joined every arriving socket chunk to the
// unparsed rest (a copy of each byte, a fresh zeroed buffer per chunk) and handed out each
// 16 KiB block as a view into that joined buffer; a block's view kept its whole joined
// buffer (up to ~80 KiB) alive until its piece was complete, long enough for V8 to move it
// to the old generation, which is swept only when ~64 MB of such buffers have piled up.
// Here the framer hands out views of the socket chunks themselves, copying only a message
// that spans two chunks, so socket chunks die young (piece-buffer.ts copies each block
// into its piece at once). Parsing is the original's; the encrypted handshake's scan for
// its sync pattern is left to the original.
// Owns Wire#_write. Must not change what the wire delivers, only how the bytes are held.

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

type WriteFn = (this: WireInternals, data: Uint8Array, cb: (err: Error | null) => void) => void;

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

/** Replaces `Wire.prototype._write`; the replacement is named `framedWrite` (tests tell it by name). */
export function patchWireFramer(WireProto: object): void {
  const proto = WireProto as { _write: WriteFn };
  const original = proto._write;
  if (typeof original !== 'function') throw new Error('bittorrent-protocol: Wire#_write is missing');
  if (original.name === 'framedWrite') return;
  proto._write = function framedWrite(this: WireInternals, data, cb) {
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
