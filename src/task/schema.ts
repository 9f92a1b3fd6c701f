// The task file (SPEC §4, seed §4.1): declared once here; validation and the `Task` type
// come from it. Unknown fields pass through so a rewritten task keeps them. Both key
// spellings of the seed are read (obs.ak | obs.obsak ...); the first one is written.
import { z } from 'zod';
import { windowProblem } from '../schedule/windows.ts';

const numberish = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v),
  z
    .number()
    .int('must be a whole number')
    .nonnegative('must not be negative')
    // Above 2^53 a JSON number is no longer exact: sizes would be silently rounded.
    .refine((n) => Number.isSafeInteger(n), 'must be at most 9007199254740991 (2^53 - 1)'),
);
const optText = z.string().optional().default('');
/** A method's `priortime`: "" (use the config's window) or valid windows (SPEC §8). */
const windows = z
  .string()
  .optional()
  .default('')
  .superRefine((v, ctx) => {
    const why = windowProblem(v);
    if (why) ctx.addIssue({ code: z.ZodIssueCode.custom, message: why });
  });
/** Hours, possibly fractional ("72", 0.5). */
const hours = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v),
  z.number().nonnegative('must not be negative'),
);

/** `[""]` is the seed's empty list; missing lists are empty too. */
const fileList = z
  .array(z.string())
  .optional()
  .default([])
  .transform((l) => l.filter((f) => f !== ''));

const fileEntry = z
  .object({
    file: z.string().min(1, 'must not be empty'),
    hash: z.string().regex(/^[0-9a-fA-F]{40}$/, 'must be a sha1 (40 hex digits)').transform((h) => h.toLowerCase()),
    size: numberish,
  })
  .passthrough();

export const taskSchema = z
  .object({
    sourcetype: optText,
    senderid: optText,
    name: z.string().min(1, 'must not be empty'),
    type: z.enum(['dir', 'file']).optional().default('dir'),
    senderlocalpath: optText,
    basesubdir: z.string().optional().default(''),
    datasource: optText,
    size: numberish,
    'bt-obs-cdn': optText,
    policy: z.enum(['fulltime', 'priortime', '']).optional().default(''),
    bt: z
      .object({ localtorrent: optText, url: optText, tmpurl: optText, tracker: optText, seedtime: hours.optional(), priortime: windows })
      .passthrough()
      .optional()
      .default({}),
    obs: z
      .object({ url: optText, priortime: windows, ak: z.string().optional(), obsak: z.string().optional(), sk: z.string().optional(), obssk: z.string().optional(), endpoint: z.string().optional(), obsendpoint: z.string().optional() })
      .passthrough()
      .optional()
      .default({}),
    cdn: z.object({ url: optText, priortime: windows }).passthrough().optional().default({}),
    filelist: z.array(fileEntry).min(1, 'must list at least one file'),
    localsamefiles: fileList,
    btlist: fileList,
    obslist: fileList,
    cdnlist: fileList,
    requesters: z.array(z.unknown()).optional(),
    gentime: optText,
    sendtime: optText,
    receivetime: optText,
    finishedtime: optText,
  })
  .passthrough();

export type Task = z.output<typeof taskSchema>;
/** One file of a task: its path inside the DCP, sha1 and size. */
export interface FileEntry {
  file: string;
  hash: string;
  size: number;
}

export const METHODS = ['bt', 'obs', 'cdn'] as const;
export type Method = (typeof METHODS)[number];
export const LIST_KEY = { bt: 'btlist', obs: 'obslist', cdn: 'cdnlist' } as const;

/** OBS credentials under either spelling (seed §4.1.1 writes ak/sk/endpoint, §4.1.2 obsak/...). */
export function obsCredentials(task: Task): { ak: string; sk: string; endpoint: string } {
  const o = task.obs;
  return { ak: o.ak ?? o.obsak ?? '', sk: o.sk ?? o.obssk ?? '', endpoint: o.endpoint ?? o.obsendpoint ?? '' };
}
