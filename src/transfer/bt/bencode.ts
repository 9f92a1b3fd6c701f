// A bencode encoder (BEP 3) for the one structure bft2 writes: a .torrent file.
// Owns encoding only; decoding is parse-torrent's (make-torrent.ts readTorrentFiles).
// Written here rather than importing `bencode`, which is only a transitive dependency
// of create-torrent / parse-torrent and could move under them at any install.
// Output is byte-identical to create-torrent's for the same dictionary (tested).

export type BValue = number | string | Uint8Array | BValue[] | { [key: string]: BValue | undefined };

/** Encodes `value`; dictionary keys are sorted as raw byte strings, undefined values dropped. */
export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(value, parts);
  return Buffer.concat(parts);
}

function encodeInto(v: BValue, out: Buffer[]): void {
  if (typeof v === 'number') {
    // BEP 3 has integers only; a fraction here is a bug, never something to round.
    if (!Number.isSafeInteger(v)) throw new Error(`bencode: not a safe integer: ${v}`);
    out.push(Buffer.from(`i${v}e`));
  } else if (typeof v === 'string') {
    bytes(Buffer.from(v, 'utf8'), out);
  } else if (v instanceof Uint8Array) {
    bytes(v, out);
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'));
    for (const item of v) encodeInto(item, out);
    out.push(Buffer.from('e'));
  } else {
    out.push(Buffer.from('d'));
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .map((k) => [k, Buffer.from(k, 'utf8')] as const)
      .sort((a, b) => Buffer.compare(a[1], b[1]));
    for (const [k, kb] of keys) {
      bytes(kb, out);
      encodeInto(v[k]!, out);
    }
    out.push(Buffer.from('e'));
  }
}

function bytes(b: Uint8Array, out: Buffer[]): void {
  out.push(Buffer.from(`${b.length}:`));
  out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
