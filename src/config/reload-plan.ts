// What `reloadconf` does with a new, valid config.json: the keys marked `reload: 'live'` in
// config-keys.ts (the one source of that rule) take their new value; the `restart` ones
// keep the value the daemon started with, since its parts read them once, and the answer
// and the log say which keys changed and which wait for a restart. A pure function; the
// daemon swaps the config it returns.
// Owns: that rule and the words of the answer. Must not touch: the running parts.
import type { Config } from './schema.ts';
import { KEY_DOCS, knownConfigKeys } from './config-keys.ts';

export interface ReloadPlan {
  /** The config in force after the reload. */
  config: Config;
  /** Live keys whose value changed. */
  applied: string[];
  /** Restart keys whose value in the file differs from the running one. */
  waiting: { key: string; running: unknown; file: unknown }[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function planReload(running: Config, next: Config): ReloadPlan {
  const applied: string[] = [];
  const waiting: ReloadPlan['waiting'] = [];
  const kept: Record<string, unknown> = {};
  const r = running as Record<string, unknown>;
  const n = next as Record<string, unknown>;
  for (const key of knownConfigKeys()) {
    if (same(r[key], n[key])) continue;
    if (KEY_DOCS[key].reload === 'restart') {
      waiting.push({ key, running: r[key], file: n[key] });
      kept[key] = r[key];
    } else applied.push(key);
  }
  return { config: Object.freeze({ ...next, ...kept }) as Config, applied, waiting };
}

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const waitingList = (p: ReloadPlan) => p.waiting.map((w) => `${w.key} (${show(w.running)} until then, ${show(w.file)} after)`).join(', ');

/** The API's answer: the seed's text first, then what changed (key names only: some are secrets). */
export function reloadAnswer(p: ReloadPlan): string {
  const parts = ['reload config.json ok.'];
  parts.push(p.applied.length ? `applied: ${p.applied.join(', ')}.` : 'no key to apply changed.');
  if (p.waiting.length) parts.push(`waiting for a restart: ${waitingList(p)}.`);
  return parts.join(' ');
}

export function reloadLogLine(p: ReloadPlan): string {
  const parts = [p.applied.length ? `applied ${p.applied.join(', ')}` : 'no key to apply changed'];
  if (p.waiting.length) parts.push(`waiting for a restart: ${waitingList(p)}`);
  return `config reloaded: ${parts.join('; ')}`;
}

/** The answer when the new file is refused: nothing of it is applied. */
export function reloadRefusedAnswer(reason: string): string {
  return `reload config.json failed: ${reason}; the running config stays in force, nothing was applied.`;
}
