// Reads and validates config.json. Owns nothing else: paths come from ./paths.ts, and the
// daemon decides what a reload changes.
import { readFile } from 'node:fs/promises';
import { ZodError } from 'zod';
import { configSchema, SECRET_KEYS, type Config } from './schema.ts';
import { errors } from '../errors/catalogue.ts';

export function describeZodIssues(err: ZodError): string[] {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
}

/** Validates a parsed config object; every problem is reported at once, each naming its field. */
export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw errors.CONFIG_INVALID(file, describeZodIssues(result.error));
  return Object.freeze(result.data);
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw errors.CONFIG_INVALID(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw errors.CONFIG_INVALID(file, [`not JSON: ${jsonSyntaxWhere(text, err)}`]);
  }
  return parseConfig(raw, file);
}

/**
 * Where a JSON syntax error is, as "syntax error at line L, column C" — never the parser's
 * own message, which quotes the text around the error (on Node 20: `"...obssk": "AB12...
 * is not valid JSON`) and so could put a fragment of a key into a log or an API answer.
 */
export function jsonSyntaxWhere(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error)?.message ?? '');
  if (!m) return /Unexpected end/.test((err as Error)?.message ?? '') ? 'the text ends too early' : 'syntax error';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = Number(m[1]) - before.lastIndexOf('\n');
  return `syntax error at line ${line}, column ${column}`;
}

/** The config as it may be shown: secrets masked. */
export function redactConfig(config: Config): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (copy[key]) copy[key] = '***';
  return copy;
}
