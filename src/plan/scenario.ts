// A delivery scenario: the JSON file that says which hosts a delivery has, how each link
// is shaped, what DCP the centre publishes with which bt:obs:cdn split, and which link
// events happen when. The delivery lab builds it (lab/scenarios/*.json) and `bft2 plan`
// models it, so one format serves both; the planner's own fields (`prices`, `deadline`,
// `start`) are ignored by the lab. Validated once with zod; every problem is reported at
// once, each naming its field. Also resolves each host's link shape and config keys
// (default < group < range of hosts < host), and gives the lab its address plan.
// Units: MB is 10^6 bytes everywhere here (sizes and rates), so figures compare without
// conversion; rates may also be given in Mbit/s.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { priceProblem } from '../schedule/price.ts';

/** config.json keys the lab writes itself: they wire the hosts together. */
export const LAB_CONFIG_KEYS = ['servertype', 'apilisten', 'btport', 'httporigin', 'embeddedtracker', 'tracker', 'trackerwhitelist', 'trackerreload', 'senderdomain', 'cdnurl', 'obsurl', 'obsendpoint', 'obsak', 'obssk', 'basedatapath', 'basesubdir', 'metricslisten'];

/** The BitTorrent clients a cinema may run: bft2's daemon, or a foreign client fed the task's torrent (a mixed fleet). */
export const CLIENTS = ['bft2', 'ctorrent', 'transmission'] as const;
export type Client = (typeof CLIENTS)[number];

const RATE_RE = /^(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|kbit|Mbit|Gbit)\/s$/;
const RATE_FACTOR: Record<string, number> = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9, kbit: 125, Mbit: 125e3, Gbit: 125e6 };

/** Bytes per second of "30MB/s", "100Mbit/s"; null for "off" (unshaped). */
export function parseRate(s: string): number | null {
  if (s === 'off') return null;
  const m = RATE_RE.exec(s.trim());
  if (!m) throw new Error(`not a rate: ${s}`);
  return Number(m[1]) * RATE_FACTOR[m[2]];
}

const rate = z
  .string()
  .refine((s) => s === 'off' || (RATE_RE.test(s.trim()) && Number(RATE_RE.exec(s.trim())![1]) > 0), 'must be a rate such as "30MB/s", "250Mbit/s" or "off"');
const RATIO_RE = /^\d+:\d+:\d+$/;
const ratio = z
  .string()
  .regex(RATIO_RE, 'must be bt:obs:cdn, e.g. "1:1:1"')
  .refine((r) => r.split(':').some((n) => Number(n) > 0), 'at least one method needs a share above 0');

const shapeSchema = z
  .object({
    /** Both directions; `up`/`down` override it. */
    rate: rate.optional(),
    /** Host → bridge (what the host sends). */
    up: rate.optional(),
    /** Bridge → host (what the host receives). */
    down: rate.optional(),
    /** One-way delay added in each direction of the link, in ms (needs the kernel's netem). */
    delayMs: z.number().min(0).max(10_000).optional(),
    /** Packets lost in each direction, in percent. */
    lossPct: z.number().min(0).max(100).optional(),
  })
  .strict();

/** Seconds after the task is handed to the cinemas. */
const at = z.number().min(0);
const linkEventSchema = z
  .object({
    at,
    /** A host name: its link is cut (`true`) or restored (`false`). */
    link: z.string(),
    cut: z.boolean(),
  })
  .strict();
const killEventSchema = z
  .object({
    at,
    /** A cacher or cinema whose daemon is killed (SIGKILL: no shutdown, as a crash or a power cut). */
    kill: z.string(),
  })
  .strict();
const restartEventSchema = z
  .object({
    at,
    /** A cacher or cinema killed earlier whose daemon starts again on the same root. */
    restart: z.string(),
  })
  .strict();
const eventSchema = z.union([linkEventSchema, killEventSchema, restartEventSchema]);
export type LinkEvent = z.output<typeof linkEventSchema>;
export type ScenarioEvent = z.output<typeof eventSchema>;

/** The host an event is about. */
export function eventHost(e: ScenarioEvent): string {
  return 'link' in e ? e.link : 'kill' in e ? e.kill : e.restart;
}

/** "YYYY-MM-DD HH:MM" in local time. */
const LOCAL_MINUTE_RE = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d)$/;

/** A "YYYY-MM-DD HH:MM" local time as an instant, or undefined when it is not one. */
export function parseLocalMinute(s: string): Date | undefined {
  const m = LOCAL_MINUTE_RE.exec(s.trim());
  if (!m) return undefined;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // new Date rolls 2026-02-30 over into March: refuse what is not on the calendar.
  if (d.getFullYear() !== +m[1] || d.getMonth() !== +m[2] - 1 || d.getDate() !== +m[3] || d.getHours() !== +m[4] || d.getMinutes() !== +m[5]) return undefined;
  return d;
}
const localMinute = z.string().refine((s) => parseLocalMinute(s) !== undefined, 'must be a local time "YYYY-MM-DD HH:MM", e.g. "2026-03-06 18:00"');

/** A price as config.json writes it ("00:00,0.25 08:00,0.5", "0.3") or a plain number. */
const price = z
  .union([z.number().nonnegative().transform(String), z.string()])
  .superRefine((v, ctx) => {
    const why = priceProblem(v);
    if (why) ctx.addIssue({ code: z.ZodIssueCode.custom, message: why });
  });

/** `cinema3-40`: the hosts cinema3 to cinema40 (a tier); [role, first, last]. */
export function parseHostRange(key: string): [string, number, number] | undefined {
  const m = /^(cacher|cinema)(\d+)-(\d+)$/.exec(key);
  return m && +m[2] >= 1 && +m[2] <= +m[3] ? [m[1], +m[2], +m[3]] : undefined;
}

export const scenarioSchema = z
  .object({
    description: z.string().default(''),
    /** The lab builds at most 200 of each (its address plan); `bft2 plan` takes fleets of any size. */
    cachers: z.number().int().min(0).max(10_000),
    cinemas: z.number().int().min(1).max(100_000),
    dcp: z
      .object({
        reels: z.number().int().min(1).max(100),
        /** Picture essence of each reel, MB. */
        reelMB: z.number().positive().max(1_000_000),
        /** Sound essence of each reel, MB; 0 = no sound files. */
        soundMB: z.number().min(0).max(1_000_000).default(0),
      })
      .strict(),
    /** bt:obs:cdn of the task. */
    split: ratio,
    /** The task's seed time, hours. */
    seedtimeH: z.number().positive().default(1),
    /** Fetch the CDN share through the edge once before the delivery (a pre-warmed CDN). */
    cdnPrewarm: z.boolean().default(false),
    /** Seconds between handing the task to the cachers and to the cinemas. */
    cacherLeadS: z.number().min(0).max(3600).default(0),
    /**
     * Link shapes by host name, by range of hosts (`cinema1-20`: a tier), by group
     * (`cachers`, `cinemas`) or `default`; the most specific wins.
     */
    links: z.record(z.string(), shapeSchema).default({}),
    events: z.array(eventSchema).default([]),
    /** Bound of the delivery (from handing out the task to the last cinema's DCP). */
    timeoutS: z.number().int().positive().max(24 * 3600).default(600),
    /**
     * config.json keys for the daemons, by host name, range, group (`cachers`, `cinemas`) or
     * `default`; the most specific wins (e.g. `{"cinemas": {"rebalance": "off"}}`). The keys
     * that wire the lab together are the lab's and cannot be set here.
     */
    config: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /** config.json `tuning` of every bft2 daemon (docs/config.md `tuning.*`), over the lab's own. */
    tuning: z.record(z.string(), z.unknown()).default({}),
    /** `embedded`: the centre's own tracker; `opentracker`: Debian's opentracker on the centre, whitelist kept by the centre (trackerwhitelist, trackerreload). */
    tracker: z.enum(['embedded', 'opentracker']).default('embedded'),
    /** Who made the DCP's torrent: bft2's gentask, or the old system's `ctorrent -t` (its file order), which gentask adopts (`usetorrent`): one swarm for both fleets. */
    torrent: z.enum(['bft2', 'ctorrent']).default('bft2'),
    /** A cinema's BitTorrent client by host name or `cinemas` (the most specific wins): `bft2` (default), `ctorrent` (the old system), `transmission`. */
    clients: z.record(z.string(), z.enum(CLIENTS)).default({}),
    /** Cinemas whose firewall lets BitTorrent connections in (an old cinema with its port open); the others drop every new inbound connection. */
    inbound: z.array(z.string()).default([]),
    /** `lab/lab bench`: run the scenario once per split. */
    benchSplits: z.array(ratio).min(1).optional(),
    /** `bft2 plan`: price per GB (1024^3 bytes) received from each method, as config.json's btprice...; absent: the config's. */
    prices: z.object({ bt: price.optional(), obs: price.optional(), cdn: price.optional(), currency: z.string().min(1).max(16).optional() }).strict().optional(),
    /** `bft2 plan`: when every cinema must have the DCP, "YYYY-MM-DD HH:MM" local time. */
    deadline: localMinute.optional(),
    /** `bft2 plan`: when the task is handed out, "YYYY-MM-DD HH:MM" local time (default: now). */
    start: localMinute.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = hostNames(s.cachers, s.cinemas);
    const named = new Set(names);
    const groups = `default, cachers, cinemas, a range such as cinema1-${s.cinemas}`;
    const rangeProblem = (key: string): string | undefined => {
      const r = parseHostRange(key);
      if (!r) return undefined;
      const count = r[0] === 'cacher' ? s.cachers : s.cinemas;
      return r[2] > count ? `the range ends after ${r[0]}${count}, the last ${r[0]} of this scenario` : undefined;
    };
    const isKey = (key: string, hosts: (n: string) => boolean) => ['default', 'cachers', 'cinemas'].includes(key) || (named.has(key) && hosts(key)) || parseHostRange(key) !== undefined;
    const hostList = (hosts: string[]) => (hosts.length > 12 ? `${hosts.slice(0, 5).join(', ')}, ... ${hosts.at(-1)}` : hosts.join(', '));
    for (const key of Object.keys(s.links)) {
      if (!isKey(key, () => true)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['links', key], message: `no such host or group; this scenario has ${groups} and ${hostList(names)}` });
      } else if (rangeProblem(key)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['links', key], message: rangeProblem(key)! });
    }
    const cinemaNames = names.filter((n) => n.startsWith('cinema'));
    for (const key of Object.keys(s.clients)) {
      if (key !== 'cinemas' && !cinemaNames.includes(key)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['clients', key], message: `only cinemas choose their client; this scenario has cinemas, ${hostList(cinemaNames)}` });
    }
    s.inbound.forEach((n, i) => {
      if (!cinemaNames.includes(n)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['inbound', i], message: `no such cinema "${n}"; this scenario has ${hostList(cinemaNames)}` });
    });
    const foreign = new Set(cinemaNames.filter((n) => (s.clients[n] ?? s.clients.cinemas ?? 'bft2') !== 'bft2'));
    const isDaemon = (n: string) => n !== 'obs' && n !== 'cdn' && !foreign.has(n);
    for (const [key, values] of Object.entries(s.config)) {
      if (!isKey(key, isDaemon)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['config', key], message: `no daemon host or group; this scenario has ${groups} and ${hostList(names.filter(isDaemon))}` });
      else if (rangeProblem(key)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['config', key], message: rangeProblem(key)! });
      for (const k of Object.keys(values)) {
        if (LAB_CONFIG_KEYS.includes(k)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['config', key, k], message: 'set by the lab (it wires the hosts together)' });
      }
    }
    const killed = new Set<string>();
    [...s.events.entries()]
      .sort(([, a], [, b]) => a.at - b.at)
      .forEach(([i, e]) => {
        if ('link' in e) {
          if (!named.has(e.link)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['events', i, 'link'], message: `no such host "${e.link}"; this scenario has ${hostList(names)}` });
        } else {
          const key = 'kill' in e ? 'kill' : 'restart';
          const host = eventHost(e);
          const receivers = names.filter((n) => /^(cacher|cinema)\d+$/.test(n));
          if (!receivers.includes(host)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['events', i, key], message: `no cacher or cinema "${host}" (only their daemons can be killed and restarted); this scenario has ${hostList(receivers)}` });
          else if ('kill' in e && killed.has(host)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['events', i, key], message: `${host} is killed already at that time (restart it first)` });
          else if ('restart' in e && !killed.has(host)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['events', i, key], message: `${host} is not killed at that time (a restart follows a kill)` });
          if ('kill' in e) killed.add(host);
          else killed.delete(host);
        }
        if (e.at > s.timeoutS) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['events', i, 'at'], message: `after the scenario's timeoutS (${s.timeoutS})` });
      });
  });

export type Scenario = z.output<typeof scenarioSchema> & { name: string; file: string };

export class ScenarioError extends Error {}

/** Reads and validates a scenario file; a ScenarioError lists every problem with its field. */
export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ScenarioError(`scenario ${file}: cannot read it (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(`scenario ${file}: not JSON (${(err as Error).message})`);
  }
  return parseScenario(raw, file);
}

export function parseScenario(raw: unknown, file: string): Scenario {
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new ScenarioError(`scenario ${file} is invalid:\n${lines.join('\n')}`);
  }
  return { ...r.data, name: path.basename(file).replace(/\.json$/, ''), file };
}

// ----- the host plan -----

export type Role = 'centre' | 'obs' | 'cdn' | 'cacher' | 'cinema';

export interface LinkShape {
  /** Bytes/s host → bridge; null = unshaped. */
  upBps: number | null;
  /** Bytes/s bridge → host; null = unshaped. */
  downBps: number | null;
  delayMs: number;
  lossPct: number;
}

/** A host of the scenario: its role, link shape and daemon config. */
export interface HostSpec {
  name: string;
  role: Role;
  shape: LinkShape;
  /** Runs a bft2 daemon (centre, cachers, bft2 cinemas). */
  daemon: boolean;
  /** Its BitTorrent client (a cinema's may be foreign; everyone else runs bft2). */
  client: Client;
  /** A cinema whose firewall lets BitTorrent connections in. */
  inbound: boolean;
  /** The scenario's config.json keys for its daemon (default < group < range < host). */
  config: Record<string, unknown>;
}

/** A host as the lab builds it: its spec and addresses. */
export interface HostPlan extends HostSpec {
  /** Address on the data bridge (shaped link, 198.18.0.0/16). */
  data: string;
  /** Address on the control bridge (API only, 198.19.0.0/16); daemons' hosts only. */
  ctl?: string;
}

function hostNames(cachers: number, cinemas: number): string[] {
  return ['centre', 'obs', 'cdn', ...range(cachers).map((i) => `cacher${i}`), ...range(cinemas).map((i) => `cinema${i}`)];
}
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The keys of `record` that apply to host `name` of `group`, least specific first. */
function layersOf<T>(record: Record<string, T>, name: string, group?: string): T[] {
  const ranges = Object.keys(record)
    .map((key) => ({ key, r: parseHostRange(key) }))
    .filter(({ r }) => r && group && `${r[0]}s` === group && +name.slice(r[0].length) >= r[1] && +name.slice(r[0].length) <= r[2])
    // A narrower range is the more specific one.
    .sort((a, b) => b.r![2] - b.r![1] - (a.r![2] - a.r![1]))
    .map(({ key }) => record[key]);
  return [record.default, group ? record[group] : undefined, ...ranges, record[name]].filter((l): l is T => l !== undefined);
}

/** Every host of the scenario with its resolved link shape and config: centre, obs, cdn, cachers, cinemas. */
export function resolveHosts(s: Scenario): HostSpec[] {
  const shapeOf = (name: string, group?: string): LinkShape => {
    let up: string | undefined;
    let down: string | undefined;
    let delayMs = 0;
    let lossPct = 0;
    for (const l of layersOf(s.links, name, group)) {
      if (l.rate !== undefined) up = down = l.rate;
      if (l.up !== undefined) up = l.up;
      if (l.down !== undefined) down = l.down;
      if (l.delayMs !== undefined) delayMs = l.delayMs;
      if (l.lossPct !== undefined) lossPct = l.lossPct;
    }
    return { upBps: up ? parseRate(up) : null, downBps: down ? parseRate(down) : null, delayMs, lossPct };
  };
  const host = (name: string, role: Role, group?: string): HostSpec => {
    const node = role === 'centre' || role === 'cacher' || role === 'cinema';
    const client: Client = role === 'cinema' ? (s.clients[name] ?? s.clients.cinemas ?? 'bft2') : 'bft2';
    const daemon = node && client === 'bft2';
    return { name, role, shape: shapeOf(name, group), daemon, client, inbound: s.inbound.includes(name), config: daemon ? Object.assign({}, ...layersOf(s.config, name, group)) : {} };
  };
  return [
    host('centre', 'centre'),
    host('obs', 'obs'),
    host('cdn', 'cdn'),
    ...range(s.cachers).map((i) => host(`cacher${i}`, 'cacher', 'cachers')),
    ...range(s.cinemas).map((i) => host(`cinema${i}`, 'cinema', 'cinemas')),
  ];
}

/** The most cachers and cinemas the lab's address plan holds. */
export const LAB_MAX_HOSTS_PER_ROLE = 200;

/**
 * Centre, OBS and CDN in 198.18.0.0/24, cachers in .1.0/24, cinemas in .2.0/24 (at most
 * 200 of each). The control address mirrors the data address in 198.19.0.0/16. Both
 * halves of the benchmarking range 198.18.0.0/15 (RFC 2544).
 */
export function planHosts(s: Scenario): HostPlan[] {
  if (s.cachers > LAB_MAX_HOSTS_PER_ROLE || s.cinemas > LAB_MAX_HOSTS_PER_ROLE) {
    throw new ScenarioError(`scenario ${s.file}: the lab builds at most ${LAB_MAX_HOSTS_PER_ROLE} cachers and ${LAB_MAX_HOSTS_PER_ROLE} cinemas (its address plan); this one has ${s.cachers} and ${s.cinemas} (bft2 plan models any number)`);
  }
  const octets = (h: HostSpec) => {
    if (h.role === 'centre') return '0.1';
    if (h.role === 'obs') return '0.2';
    if (h.role === 'cdn') return '0.3';
    return `${h.role === 'cacher' ? 1 : 2}.${h.name.replace(/^\D+/, '')}`;
  };
  // Foreign cinemas get a control address too: the lab drives their clients through it.
  return resolveHosts(s).map((h) => ({ ...h, data: `198.18.${octets(h)}`, ctl: h.daemon || h.client !== 'bft2' ? `198.19.${octets(h)}` : undefined }));
}

/** The DCP's files: per reel a picture (and a sound) essence, then the small XML files. */
export function dcpFiles(s: Scenario): { file: string; size: number }[] {
  const MB = 1e6;
  const files: { file: string; size: number }[] = [];
  for (let r = 1; r <= s.dcp.reels; r++) {
    files.push({ file: `reel${r}_picture.mxf`, size: Math.round(s.dcp.reelMB * MB) });
    if (s.dcp.soundMB > 0) files.push({ file: `reel${r}_sound.mxf`, size: Math.round(s.dcp.soundMB * MB) });
  }
  files.push({ file: 'ASSETMAP.xml', size: 1466 }, { file: 'PKL.xml', size: 2957 }, { file: 'CPL.xml', size: 5100 }, { file: 'VOLINDEX.xml', size: 155 });
  return files;
}
