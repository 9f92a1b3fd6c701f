// Times in Go's layout "2006-01-02 15:04:05 -0700 MST", which the seed's showschedules
// prints ("2021-05-28 22:34:00 +0800 CST"): the local time, the UTC offset, the zone's
// abbreviation. Owns: finding that abbreviation. Must not touch: anything on disk
// beyond reading the zone file, once per TZ.
//
// ICU (Intl.DateTimeFormat, timeZoneName 'short') knows few abbreviations: it says
// "GMT+8" for Asia/Shanghai in every locale, where Go, reading the tz database, says
// "CST". So the abbreviation comes first from the tz database itself (the POSIX TZ rule
// at the end of the zone file, e.g. "CST-8" or "CET-1CEST,M3.5.0,M10.5.0/3", or TZ when
// it is such a rule), then from Intl in a few English locales (en-GB knows CET/CEST/BST,
// en-US EST/PDT, en-IN IST), and last the numeric form Go uses for zones without letters
// ("+08", "+0530"). Each answer is used only if its offset is the instant's offset.
import { readFileSync } from 'node:fs';
import { formatLocalTime } from '../util/time.ts';

const pad = (n: number) => String(n).padStart(2, '0');

/** Minutes east of UTC at `d` in the local zone. */
const eastMinutes = (d: Date) => -d.getTimezoneOffset();

/** "+0800", "-0330". */
export function utcOffsetText(d: Date): string {
  const east = eastMinutes(d);
  const abs = Math.abs(east);
  return `${east < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

/** "2021-05-28 22:34:00 +0800 CST". */
export function formatGoTime(d: Date): string {
  return `${formatLocalTime(d)} ${utcOffsetText(d)} ${zoneAbbreviation(d)}`;
}

export function zoneAbbreviation(d: Date): string {
  return fromTzRule(d) ?? fromIntl(d) ?? numericAbbreviation(d);
}

/** Go's name for a zone without letters: "+08", "+0530". */
function numericAbbreviation(d: Date): string {
  const offset = utcOffsetText(d);
  return offset.endsWith('00') ? offset.slice(0, 3) : offset;
}

function fromIntl(d: Date): string | undefined {
  for (const locale of ['en-US', 'en-GB', 'en-IN']) {
    const name = new Intl.DateTimeFormat(locale, { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value;
    // "GMT+8" is an offset, not a name; "GMT" and "UTC" alone are names.
    if (name && !/^(GMT|UTC)[+-]/.test(name)) return name;
  }
  return undefined;
}

export interface TzRule {
  std: { name: string; east: number };
  dst?: { name: string; east: number };
}

const ruleCache = new Map<string, TzRule | undefined>();

function fromTzRule(d: Date): string | undefined {
  const key = process.env.TZ ?? '';
  if (!ruleCache.has(key)) ruleCache.set(key, loadTzRule(key));
  const rule = ruleCache.get(key);
  if (!rule) return undefined;
  const east = eastMinutes(d);
  if (rule.std.east === east) return rule.std.name;
  if (rule.dst?.east === east) return rule.dst.name;
  return undefined;
}

/** The rule for TZ as the C library reads it: unset = /etc/localtime, a zone name = its
 * file in /usr/share/zoneinfo, an absolute path = that file, else a POSIX rule. */
function loadTzRule(tz: string): TzRule | undefined {
  const spec = tz.startsWith(':') ? tz.slice(1) : tz;
  if (spec.split('/').includes('..')) return undefined;
  const file = spec === '' ? '/etc/localtime' : spec.startsWith('/') ? spec : `/usr/share/zoneinfo/${spec}`;
  const footer = tzifFooter(file);
  return parsePosixTzRule(footer ?? spec);
}

/** The POSIX rule a version 2+ TZif file ends with, between its last two newlines. */
function tzifFooter(file: string): string | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  if (data.subarray(0, 4).toString('latin1') !== 'TZif' || data[4] < 0x32 || data[data.length - 1] !== 0x0a) return undefined;
  const start = data.lastIndexOf(0x0a, data.length - 2);
  return start < 0 ? undefined : data.subarray(start + 1, data.length - 1).toString('latin1');
}

const NAME = '(<[^>]+>|[A-Za-z]{3,})';
const OFFSET = '([+-]?\\d{1,2}(?::\\d{2}){0,2})';
const POSIX_RULE_RE = new RegExp(`^${NAME}${OFFSET}(?:${NAME}${OFFSET}?)?(?:,.*)?$`);

/** "CST-8", "CET-1CEST,M3.5.0,M10.5.0/3", "<-03>3"; POSIX offsets count west. */
export function parsePosixTzRule(rule: string): TzRule | undefined {
  const m = POSIX_RULE_RE.exec(rule);
  if (!m) return undefined;
  const name = (s: string) => s.replace(/^<(.*)>$/, '$1');
  const east = (s: string) => {
    const [h, min = '0'] = s.replace(/^[+-]/, '').split(':');
    const west = Number(h) * 60 + Number(min);
    return s.startsWith('-') ? west : -west;
  };
  const std = { name: name(m[1]), east: east(m[2]) };
  if (!m[3]) return { std };
  // Without its own offset, summer time is one hour ahead of standard time.
  return { std, dst: { name: name(m[3]), east: m[4] ? east(m[4]) : std.east + 60 } };
}
