// DCPs that cost nothing to make, for benches that need tens of GiB (bench/memory.ts):
// the files of a DCP of 4 reels (common.ts dataSet) as sparse files, each one's first
// 4 KiB naming it (so no two files, and no two DCPs, have the same sha1) and the rest a
// hole; and a published task re-addressed to carry every file by one method.
// Owns the files it makes; touches nothing else.
import { mkdir, open } from 'node:fs/promises';
import * as path from 'node:path';
import { dataSet } from './common.ts';
import type { Task } from './loopback.ts';

export const STAMP_BYTES = 4096;

/** A DCP of 4 reels of `totalMb` MiB at `dcpsDir/name`: sparse files but for a first 4 KiB that names each. */
export async function makeSparseDcp(dcpsDir: string, name: string, totalMb: number): Promise<{ file: string; size: number }[]> {
  const { files } = dataSet('dcp', totalMb);
  for (const f of files) {
    const target = path.join(dcpsDir, name, ...f.file.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    const head = Buffer.alloc(Math.min(STAMP_BYTES, f.size));
    head.write(`bft2 bench ${name}/${f.file}\n`);
    const fh = await open(target, 'w');
    try {
      await fh.write(head, 0, head.length, 0);
      await fh.truncate(f.size);
    } finally {
      await fh.close();
    }
  }
  return files.map((f) => ({ file: f.file, size: f.size }));
}

export type Method = 'bt' | 'obs' | 'cdn';
/** In the order of a task's `bt-obs-cdn`. */
export const METHODS: Method[] = ['bt', 'obs', 'cdn'];

/** A published task re-addressed to carry every file by `method` alone: the split, the lists and their sizes. */
export function taskForMethod(task: Task, method: Method): Task {
  const files = task.filelist.map((f) => f.file);
  const size = task.filelist.reduce((s, f) => s + f.size, 0);
  const out: Task = { ...task, 'bt-obs-cdn': METHODS.map((m) => (m === method ? 1 : 0)).join(':') };
  for (const m of METHODS) {
    out[`${m}list`] = m === method ? files : [''];
    out[`${m}listsize`] = m === method ? size : 0;
    out[`${m}listsize2`] = m === method ? size : 0;
  }
  return out;
}
