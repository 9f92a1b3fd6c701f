// Where the keys for an OBS bucket come from (SPEC §3, §4): the task's `obs` fields (both
// spellings), else `<root>/etc/bft2/obsbuckets.txt` (`bucket ak sk endpoint` lines), else
// config `obsak` / `obssk` / `obsendpoint`; and `redact` so that no secret reaches a log
// line, a `.err` file or an API answer. Owns the obsbuckets.txt format; must not touch the
// config schema or the task schema (it reads them) nor decide where the file lives (the
// caller passes the path, normally `Paths.obsBucketsFile`).
import { readFile } from 'node:fs/promises';
import { errors } from '../../errors/catalogue.ts';

export interface ObsKeys {
  ak: string;
  sk: string;
  endpoint: string;
}

export type ObsKeysSource = 'task' | 'obsbuckets' | 'config';

export interface ResolvedObsKeys extends ObsKeys {
  /** Which source gave the key pair (for log lines: says where to look, shows no secret). */
  source: ObsKeysSource;
}

/** The task's `obs` object as read by src/task/schema.ts (unknown fields pass through). */
export interface TaskObsFields {
  ak?: string;
  obsak?: string;
  sk?: string;
  obssk?: string;
  endpoint?: string;
  obsendpoint?: string;
}

export interface ObsKeySources {
  /** `task.obs`; either spelling of each key (seed §4.1.1 ak/sk/endpoint, §4.1.2 obsak/...). */
  task?: TaskObsFields;
  /** Path of obsbuckets.txt; a missing file is the same as an empty one. */
  bucketsFile?: string;
  /** The config's `obsak`, `obssk`, `obsendpoint`. */
  config?: { obsak?: string; obssk?: string; obsendpoint?: string };
}

export interface ObsBucketLine extends ObsKeys {
  bucket: string;
  line: number;
}

export interface ParsedObsBuckets {
  /** First line per bucket wins, as a reader scanning the file top-down expects. */
  buckets: Map<string, ObsBucketLine>;
  /** Lines that were not `bucket ak sk [endpoint]`, by number (their text holds secrets: never quoted). */
  problems: string[];
}

/**
 * Parses obsbuckets.txt: `bucket ak sk endpoint` separated by blanks; `#` starts a comment
 * (a whole line, or a trailing word beginning with `#`); blank lines are skipped. The
 * endpoint may be left out (then the config's `obsendpoint` is used).
 */
export function parseObsBuckets(text: string): ParsedObsBuckets {
  const buckets = new Map<string, ObsBucketLine>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const words = raw.trim().split(/\s+/).filter((w) => w !== '');
    const comment = words.findIndex((w) => w.startsWith('#'));
    if (comment !== -1) words.length = comment;
    if (words.length === 0) return;
    if (words.length < 3 || words.length > 4) {
      problems.push(`line ${line}: expected "bucket ak sk endpoint", found ${words.length} words`);
      return;
    }
    const [bucket, ak, sk, endpoint = ''] = words;
    if (!buckets.has(bucket)) buckets.set(bucket, { bucket, ak, sk, endpoint: endpoint.replace(/\/+$/, ''), line });
  });
  return { buckets, problems };
}

export async function readObsBuckets(file: string): Promise<ParsedObsBuckets> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { buckets: new Map(), problems: [] };
    throw errors.OBS_CREDENTIALS(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseObsBuckets(text);
}

const first = (...values: (string | undefined)[]): string => values.find((v) => typeof v === 'string' && v.trim() !== '')?.trim() ?? '';

/**
 * The keys for `bucket`. The first source that has both an AK and an SK gives the pair;
 * its endpoint is used when it has one, else the next sources' endpoint (keys of one
 * account work in every region, so an endpoint may come from the config while the keys
 * come from the task). Throws a Bft2Error naming what is missing, never a secret.
 */
export async function resolveObsCredentials(bucket: string, sources: ObsKeySources): Promise<ResolvedObsKeys> {
  const t = sources.task ?? {};
  const task: ObsKeys = { ak: first(t.ak, t.obsak), sk: first(t.sk, t.obssk), endpoint: first(t.endpoint, t.obsendpoint) };
  const parsed = sources.bucketsFile ? await readObsBuckets(sources.bucketsFile) : { buckets: new Map<string, ObsBucketLine>(), problems: [] };
  const line = parsed.buckets.get(bucket);
  const fromFile: ObsKeys = { ak: line?.ak ?? '', sk: line?.sk ?? '', endpoint: line?.endpoint ?? '' };
  const c = sources.config ?? {};
  const config: ObsKeys = { ak: first(c.obsak), sk: first(c.obssk), endpoint: first(c.obsendpoint).replace(/\/+$/, '') };

  const ordered: [ObsKeysSource, ObsKeys][] = [
    ['task', task],
    ['obsbuckets', fromFile],
    ['config', config],
  ];
  const i = ordered.findIndex(([, k]) => k.ak !== '' && k.sk !== '');
  if (i === -1) {
    const where = [
      'the task (obs.ak/obs.sk)',
      sources.bucketsFile ? `${sources.bucketsFile} (no line for bucket ${bucket}${parsed.problems.length ? '; ' + parsed.problems.join('; ') : ''})` : undefined,
      'config obsak/obssk',
    ].filter(Boolean);
    throw errors.OBS_CREDENTIALS(`no OBS credentials for bucket ${bucket}: none in ${where.join(', ')}`);
  }
  const [source, keys] = ordered[i];
  const endpoint = first(...ordered.slice(i).map(([, k]) => k.endpoint));
  if (endpoint === '') {
    throw errors.OBS_CREDENTIALS(`no OBS endpoint for bucket ${bucket}: keys from ${source}, but no endpoint there nor in config obsendpoint`);
  }
  return { ak: keys.ak, sk: keys.sk, endpoint, source };
}

/** An AK shown in logs: never whole; the last 4 characters only when it is long enough to keep the rest unguessable. */
export function maskKey(key: string): string {
  if (!key) return '';
  return key.length >= 16 ? `***${key.slice(-4)}` : '***';
}

/** Credentials safe to log: the SK is never shown, the AK only masked. */
export function redact<T extends Partial<ObsKeys>>(keys: T): T {
  return { ...keys, ...(keys.ak !== undefined ? { ak: maskKey(keys.ak) } : {}), ...(keys.sk !== undefined ? { sk: keys.sk ? '***' : '' } : {}) };
}

/**
 * Removes every occurrence of the given secrets from a text (SDK and server messages may
 * echo an access key id back, e.g. S3's InvalidAccessKeyId).
 */
export function redactText(text: string, keys: Partial<ObsKeys>): string {
  let out = text;
  for (const [secret, mask] of [
    [keys.sk, '***'],
    [keys.ak, maskKey(keys.ak ?? '')],
  ] as const) {
    if (secret && secret.length >= 3) out = out.split(secret).join(mask);
  }
  return out;
}
