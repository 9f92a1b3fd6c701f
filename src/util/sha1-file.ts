// The sha1 of a file read from disk in 1 MiB blocks (a publish check, a verification that
// could not ride on the bytes as they arrived). Owns nothing.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function sha1OfFile(file: string, hash: Hash = createHash('sha1')): Promise<Hash> {
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash;
}
