// Bencode (BEP 3) for the one structure bft2 reads and writes: a .torrent file.
// Owns encoding and strict decoding; what a torrent must hold is torrent-file.ts's.
// Written here rather than importing `bencode`, which is only a transitive dependency
// of create-torrent / parse-torrent and could move under them at any install, and whose
// decoder is lax where a torrent from outside must be read exactly: it truncates `i10.5e`
// to 10, loses integers past 2^53, lets a repeated key win and copies the whole input.
// The encoder's output is byte-identical to create-torrent's for the same dictionary
// (tested); the decoder returns byte strings as views of the input (no copy).

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

export type BDecoded = number | Uint8Array | BDecoded[] | BDict;
export interface BDict {
  [key: string]: BDecoded;
}

/** Nesting deeper than this is refused (a torrent needs 4: root, info, files, path). */
const MAX_DEPTH = 32;

/** Where each value of the top-level dictionary lies in the input, [start, end). */
export type Spans = Map<string, [number, number]>;

/**
 * Decodes `buf` strictly: numbers are decimal without leading zeros (one with a fraction
 * or past 2^53 comes back as such: the caller checks every number it uses with
 * Number.isSafeInteger); a dictionary's keys are byte strings, each once; nothing follows
 * the value.
 * Throws an Error naming the offset of the first fault. `spans`, when given, receives the
 * byte range of every top-level dictionary value (a torrent's info hash is the sha1 of the
 * `info` value's bytes as they are in the file).
 */
export function bdecode(buf: Uint8Array, spans?: Spans): BDecoded {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`bencode: ${what} at byte ${at}`);
  };
  const digitsUntil = (stop: number): string => {
    const from = at;
    while (at < buf.length && buf[at] !== stop) at++;
    if (at >= buf.length) fail('unterminated number');
    return Buffer.from(buf.buffer, buf.byteOffset + from, at - from).toString('latin1');
  };
  const integer = (): number => {
    at++; // 'i'
    const text = digitsUntil(0x65 /* e */);
    // A fraction or a number past 2^53 is returned as it reads, for the caller to refuse
    // naming the field; anything else that is not a decimal number is refused here.
    if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text) || text === '-0') fail(`not a number: i${text}e`);
    at++;
    return Number(text);
  };
  const bytes = (): Uint8Array => {
    const text = digitsUntil(0x3a /* : */);
    if (!/^(0|[1-9][0-9]*)$/.test(text)) fail(`not a string length: ${JSON.stringify(text)}`);
    const len = Number(text);
    at++;
    if (!Number.isSafeInteger(len) || at + len > buf.length) fail(`string of ${text} bytes past the end`);
    const out = buf.subarray(at, at + len);
    at += len;
    return out;
  };
  const value = (depth: number): BDecoded => {
    if (depth > MAX_DEPTH) fail('nested too deeply');
    if (at >= buf.length) fail('unexpected end');
    const c = buf[at];
    if (c === 0x69 /* i */) return integer();
    if (c >= 0x30 && c <= 0x39) return bytes();
    if (c === 0x6c /* l */) {
      at++;
      const list: BDecoded[] = [];
      while (at < buf.length && buf[at] !== 0x65) list.push(value(depth + 1));
      if (at >= buf.length) fail('unterminated list');
      at++;
      return list;
    }
    if (c === 0x64 /* d */) {
      at++;
      const dict: BDict = {};
      while (at < buf.length && buf[at] !== 0x65) {
        if (buf[at] < 0x30 || buf[at] > 0x39) fail('a dictionary key that is not a string');
        const key = Buffer.from(bytes()).toString('utf8');
        if (Object.prototype.hasOwnProperty.call(dict, key)) fail(`key ${JSON.stringify(key)} twice`);
        const start = at;
        // defineProperty: a key "__proto__" is data like any other.
        Object.defineProperty(dict, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        if (depth === 0) spans?.set(key, [start, at]);
      }
      if (at >= buf.length) fail('unterminated dictionary');
      at++;
      return dict;
    }
    return fail(`unexpected byte 0x${c.toString(16)}`);
  };
  const out = value(0);
  if (at !== buf.length) fail('data after the end');
  return out;
}
