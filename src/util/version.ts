// bft2's version: the one in package.json, found upwards from this file (src/ or dist/).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export async function readVersion(): Promise<string> {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const text = await readFile(path.join(dir, 'package.json'), 'utf8').catch(() => undefined);
    if (text) return JSON.parse(text).version as string;
  }
  return 'unknown';
}
