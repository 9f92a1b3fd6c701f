// Reads and validates config.json (its JSON through ./json-syntax.ts). Owns nothing else: paths come from ./paths.ts, and the
// daemon decides what a reload changes.
import { readFile } from 'node:fs/promises';
import { ZodError } from 'zod';
import { configSchema, SECRET_KEYS, type Config } from './schema.ts';
import { errors } from '../errors/catalogue.ts';
import { readJsonText } from './json-syntax.ts';
import { listenClashes, type ListenUse } from './addresses.ts';
import { KEY_DOCS, type ServerType } from './config-keys.ts';

export function describeZodIssues(err: ZodError): string[] {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
}

/** The TCP listen addresses a node of this config opens (btport: every address). */
export function listenUses(c: Config): ListenUse[] {
  const role = c.servertype as ServerType;
  const uses: ListenUse[] = [];
  for (const key of ['apilisten', 'metricslisten', 'httporigin', 'embeddedtracker'] as const) {
    if (c[key] && KEY_DOCS[key].roles.includes(role)) uses.push({ key, value: c[key] });
  }
  if (c.btport > 0) uses.push({ key: 'btport', value: String(c.btport) });
  return uses;
}

/**
 * The schema's checks and those across keys (two servers on one port), every problem at
 * once, each naming its key: what the daemon refuses and `bft2 checkconfig` reports.
 */
export function validateConfig(raw: unknown): { config?: Config; problems: string[] } {
  const result = configSchema.safeParse(raw);
  if (!result.success) return { problems: describeZodIssues(result.error) };
  const config = Object.freeze(result.data);
  const problems = listenClashes(listenUses(config)).map((c) => `${c.key}: ${c.problem}`);
  return problems.length ? { problems } : { config, problems };
}

/** Validates a parsed config object; every problem is reported at once, each naming its field. */
export function parseConfig(raw: unknown, file: string): Config {
  const { config, problems } = validateConfig(raw);
  if (!config) throw errors.CONFIG_INVALID(file, problems);
  return config;
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw errors.CONFIG_INVALID(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const json = readJsonText(text);
  if (!json.ok) throw errors.CONFIG_INVALID(file, [json.problem]);
  return parseConfig(json.value, file);
}

/** The config as it may be shown: secrets masked. */
export function redactConfig(config: Config): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (copy[key]) copy[key] = '***';
  return copy;
}
