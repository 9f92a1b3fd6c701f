// What every command shares: the root (--root / BFT2_ROOT), the config read from it, the
// daemon's API, the exit codes and how an API answer is printed.
// Exit status (SPEC §10: 0 only on success): 0 success; 1 a `false` answer, an invalid
// config, a missing path or any other failure (commander's usage errors too); 2 the
// daemon could not be reached (API_UNREACHABLE); 78 (EX_CONFIG) `daemon` with an invalid
// config, which the systemd unit does not restart (RestartPreventExitStatus=78).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { Paths, resolveRoot, TASK_SUFFIX } from '../config/paths.ts';
import { loadConfig } from '../config/load-config.ts';
import type { Config } from '../config/schema.ts';
import type { ApiResponse } from '../api/envelope.ts';
import { callApi, getApi, type GetAnswer } from './api-client.ts';
import { readFile } from 'node:fs/promises';
import { isBft2Error } from '../errors/catalogue.ts';
import { salvageString } from '../config/json-syntax.ts';
import { listenAddressProblem } from '../config/addresses.ts';
import { configDefault } from '../config/config-keys.ts';

export const EXIT = { ok: 0, failed: 1, unreachable: 2, config: 78 } as const;

/** A failure the CLI reports as one message and an exit status, without a stack. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export class CliContext {
  private cachedConfig?: Promise<Config>;
  constructor(private readonly program: Command) {}

  get root(): string {
    return resolveRoot(this.program.opts().root as string | undefined);
  }
  get paths(): Paths {
    return new Paths(this.root);
  }
  config(): Promise<Config> {
    return (this.cachedConfig ??= loadConfig(this.paths.configFile));
  }
  async api(method: string, params: Record<string, unknown>): Promise<ApiResponse> {
    return callApi((await this.config()).apilisten, method, params);
  }
  async get(urlPath: string): Promise<GetAnswer> {
    return getApi((await this.config()).apilisten, urlPath);
  }
  /**
   * The API address even when config.json is invalid (reloadconf: the daemon runs on the
   * config it started with and is the one to refuse the file): the file's `apilisten` as
   * far as it can be read, else the default. Says so on stderr.
   */
  async apiListenDespiteErrors(): Promise<string> {
    try {
      return (await this.config()).apilisten;
    } catch (err) {
      if (!isBft2Error(err) || err.code !== 'CONFIG_INVALID') throw err;
      const text = await readFile(this.paths.configFile, 'utf8').catch(() => '');
      const found = salvageString(text, 'apilisten');
      const address = found !== undefined && !listenAddressProblem(found) ? found : String(configDefault('apilisten'));
      console.error(`bft2: ${err.message}\nbft2: asking the daemon at ${address} all the same`);
      return address;
    }
  }
}

/** Prints an API answer: the desc alone when that is all, else the whole content as JSON. `false` → exit 1. */
export function printAnswer(answer: ApiResponse): boolean {
  const c = answer.return_content ?? {};
  const keys = Object.keys(c);
  console.log(keys.length === 1 && keys[0] === 'desc' ? String(c.desc) : JSON.stringify(c, null, 2));
  const ok = answer.return_status === 'true';
  if (!ok) process.exitCode = EXIT.failed;
  return ok;
}

/** `cfec-001-x`, `cfec-001-x.task.json`, `/any/dir/cfec-001-x.task.json`, `cfec-001-x.err` → `cfec-001-x`. */
export function taskNameArg(arg: string): string {
  const base = path.basename(arg);
  for (const suffix of [TASK_SUFFIX, '.err', '.cancelled']) if (base.endsWith(suffix) && base.length > suffix.length) return base.slice(0, -suffix.length);
  return base;
}

/** A path named on the command line: as given, relative to the current directory. */
export function userPath(arg: string): string {
  return path.resolve(arg);
}

/**
 * The message for a path that does not exist. When the same path exists under the root,
 * says so: `--root` maps the configuration and the fixed layout, not paths a caller names
 * (SPEC §2), and mixing the two up is the first mistake on a test root.
 */
export function missingPathMessage(given: string, root: string, what = 'file'): string {
  const resolved = path.resolve(given);
  let msg = `no such ${what}: ${resolved}`;
  const hint = underRootHint(given, root);
  if (hint) msg += ` (but ${hint} exists: did you mean that path? --root maps only the configuration)`;
  return msg;
}

/** The same path under the root, when it exists there and not as given. */
export function underRootHint(given: string, root: string): string | undefined {
  if (path.resolve(root) === '/') return undefined;
  const resolved = path.resolve(given);
  const candidates = [path.join(root, resolved)];
  if (!path.isAbsolute(given)) candidates.push(path.join(root, given));
  return candidates.find((c) => c !== resolved && existsSync(c));
}

/** After a `false` answer: for each named path that is missing, the hint on stderr. */
export function hintMissingPaths(ctx: CliContext, paths: (string | undefined)[]): void {
  for (const p of paths) {
    if (!p || existsSync(p)) continue;
    const hint = underRootHint(p, ctx.root);
    if (hint) console.error(`bft2: ${missingPathMessage(p, ctx.root)}`);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `--timeout` in seconds → a deadline (0 = none). */
export function deadlineOf(timeout: string | undefined): number {
  const s = Number(timeout ?? 0);
  if (!Number.isFinite(s) || s < 0) throw new CliFailure(`--timeout must be a number of seconds: ${timeout}`);
  return s > 0 ? Date.now() + s * 1000 : Infinity;
}
