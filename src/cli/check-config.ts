// `bft2 checkconfig [FILE]`: validates a config.json exactly as the daemon does (the same
// schema, every problem at once) and adds what the daemon only hints at: unknown keys with
// the key most likely meant, keys the role does not use, placeholders of the install
// template still in place, listen addresses that are not this machine's. Invalid → exit 1; warnings alone do not fail unless --strict.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { isIPv4 } from 'node:net';
import type { Command } from 'commander';
import { validateConfig, listenUses } from '../config/load-config.ts';
import { splitHostPort } from '../config/addresses.ts';
import { readJsonText } from '../config/json-syntax.ts';
import { KEY_DOCS, configDefault, isCommentKey, unknownConfigKeys, type ServerType } from '../config/config-keys.ts';
import { CliFailure, EXIT, userPath, missingPathMessage, type CliContext } from './cli-context.ts';

export interface ConfigCheck {
  valid: boolean;
  servertype?: string;
  /** Schema problems, each naming its field (the daemon's refusal). */
  problems: string[];
  /** Unknown keys, unused keys, placeholders. */
  warnings: string[];
}

const PLACEHOLDER = /<[^<>]+>/;

/** This machine's IPv4 addresses. */
function localIPv4(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a?.family === 'IPv4')
    .map((a) => a!.address);
}

/** `localAddresses`: this machine's; a listen address elsewhere is worth a warning (the file may be for another machine). */
export function checkConfigText(text: string, localAddresses: string[] = localIPv4()): ConfigCheck {
  const json = readJsonText(text);
  if (!json.ok) return { valid: false, problems: [json.problem], warnings: [] };
  const raw = json.value;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { valid: false, problems: ['(top level): must be a JSON object'], warnings: [] };
  const obj = raw as Record<string, unknown>;
  const result = validateConfig(obj);
  const warnings: string[] = [];
  for (const u of unknownConfigKeys(obj)) {
    if (u.retired) warnings.push(`unknown key "${u.key}": a seed key bft2 does not use (${u.retired})`);
    else if (u.suggestion) warnings.push(`unknown key "${u.key}": did you mean "${u.suggestion}"?`);
    else warnings.push(`unknown key "${u.key}": not a bft2 key (ignored)`);
  }
  const servertype = typeof obj.servertype === 'string' ? obj.servertype : undefined;
  const role = result.config ? (result.config.servertype as ServerType) : undefined;
  const unused: { key: string; roles: readonly ServerType[] }[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (isCommentKey(key)) continue;
    if (typeof value === 'string' && PLACEHOLDER.test(value) && key !== 'servertype') warnings.push(`"${key}" still holds a placeholder of the template: ${JSON.stringify(value)}`);
    const d = KEY_DOCS[key];
    if (!role || !d || d.roles.includes(role)) continue;
    const parsed = (result.config ? (result.config as Record<string, unknown>)[key] : value) ?? value;
    if (JSON.stringify(parsed) === JSON.stringify(configDefault(key))) continue;
    unused.push({ key, roles: d.roles });
  }
  for (const u of result.config ? listenUses(result.config) : []) {
    const host = u.value.includes(':') ? splitHostPort(u.value).host : '';
    if (!isIPv4(host) || host === '0.0.0.0' || host.startsWith('127.') || localAddresses.includes(host)) continue;
    warnings.push(`"${u.key}": ${host} is not an address of this machine: the daemon could not listen there (fine if the file is for another machine)`);
  }
  // One line for them all: a receiver's config copied from a sender's would list a dozen.
  if (unused.length === 1) warnings.push(`"${unused[0].key}" is set, but a ${role} does not use it (used by: ${unused[0].roles.join(', ')})`);
  else if (unused.length > 1) warnings.push(`${unused.length} keys are set that a ${role} does not use: ${unused.map((u) => u.key).join(', ')} (docs/config.md says which role uses each)`);
  return { valid: result.config !== undefined, servertype, problems: result.problems, warnings };
}

export function registerCheckConfig(program: Command, ctx: CliContext): void {
  program
    .command('checkconfig [file]')
    .description('check config.json as the daemon would: every invalid field, unknown keys (with the likely intended key), keys this role does not use')
    .summary('check config.json without a daemon')
    .option('--strict', 'warnings fail too (exit 1)')
    .addHelpText('after', '\nFILE defaults to <root>/etc/bft2/config.json. Keys starting with // are comments.\nExit status: 0 valid, 1 invalid (or, with --strict, any warning).')
    .action(async (fileArg: string | undefined, o: { strict?: boolean }) => {
      const file = fileArg ? userPath(fileArg) : ctx.paths.configFile;
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliFailure(err.code === 'ENOENT' ? missingPathMessage(fileArg ?? file, ctx.root) : `cannot read ${file}: ${err.code ?? err.message}`);
      });
      const c = checkConfigText(text);
      if (c.valid) console.log(`${file}: valid (servertype ${c.servertype})`);
      else {
        console.log(`${file}: invalid, the daemon would refuse it:`);
        for (const p of c.problems) console.log(`  ${p}`);
      }
      if (c.warnings.length) {
        console.log(`${c.warnings.length} warning${c.warnings.length === 1 ? '' : 's'}:`);
        for (const w of c.warnings) console.log(`  ${w}`);
      }
      if (!c.valid || (o.strict && c.warnings.length)) process.exitCode = EXIT.failed;
    });
}
