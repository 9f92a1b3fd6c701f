// The bft2 daemons of the lab: one per centre, cacher and cinema, each the real launcher
// (`bin/bft2 --root <dir> daemon`) in its host's namespace with a root directory of its
// own. Writes each config (sender: origin, tracker, OBS, CDN edge URL; receivers and
// cachers: the OBS bucket's keys in obsbuckets.txt) and talks to each API over the
// control bridge (198.19.0.0/16), so API calls never touch the shaped links or their
// counters. The s3rver process of the OBS host starts here too (it is a node program).
// Owns: the daemons' roots and processes. Must not touch a daemon's spool except to
// read it (the report reads task files and markers, as a person with `ls` would).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startLong, waitFor, Fatal, type LongProcess } from './sh.ts';
import { API_PORT, BT_PORT } from './firewall.ts';
import { CDN_PORT } from './cdn-edge.ts';
import type { HostPlan } from './scenario.ts';
import type { Topology } from './topology.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BASESUBDIR = 'cfec-001';
export const BUCKET = BASESUBDIR;
export const ORIGIN_PORT = 8080;
export const TRACKER_PORT = 8000;
export const OBS_PORT = 9000;
const S3_KEY = 'S3RVER'; // s3rver's own key pair, the only one it accepts

export interface Daemon {
  host: HostPlan;
  root: string;
  proc: LongProcess;
  api(method: string, params: Record<string, unknown>): Promise<any>;
}

let messageId = 0;

export function apiClient(base: string) {
  return async (method: string, params: Record<string, unknown>): Promise<any> => {
    const body = JSON.stringify({ message_id: `lab-${++messageId}`, message_type: 'request', message_source: 'lab', method_name: method, method_params: params });
    const res = await request(`${base}/${method}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const text = await res.body.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${method} at ${base}: HTTP ${res.statusCode}, not JSON: ${text.slice(0, 300)}`);
    }
  };
}

export interface LabWiring {
  /** The centre's tracker: its embedded one, or opentracker beside it (opentracker.ts). */
  tracker: 'embedded' | 'opentracker';
}

export function daemonConfig(h: HostPlan, all: HostPlan[], wiring: LabWiring = { tracker: 'embedded' }, scenarioTuning: Record<string, unknown> = {}): Record<string, unknown> {
  const lab = labConfig(h, all, wiring);
  // The scenario's tuning keys go over the lab's, key by key, and a host's own over both.
  const tuning = { ...LAB_TUNING, ...scenarioTuning, ...((h.config.tuning as Record<string, unknown> | undefined) ?? {}) };
  return { ...lab, ...h.config, tuning };
}

function labConfig(h: HostPlan, all: HostPlan[], wiring: LabWiring): Record<string, unknown> {
  const addr = (role: string) => all.find((x) => x.role === role)!.data;
  const common = {
    machinetype: 'local',
    basedatapath: '/data/dcp',
    basesubdir: BASESUBDIR,
    priorpolicy: 'fulltime',
    apilisten: `${h.ctl}:${API_PORT}`,
    btport: BT_PORT,
    obssignature: 'v2',
    obspathstyle: true,
  };
  if (h.role === 'centre') {
    const centre = h.data;
    return {
      ...common,
      servertype: 'sender',
      senderid: 'centre',
      senderdomain: `http://${centre}:${ORIGIN_PORT}`,
      httporigin: `${centre}:${ORIGIN_PORT}`,
      tracker: `http://${centre}:${TRACKER_PORT}/announce`,
      // The centre's own tracker, or opentracker on the same address and port with the
      // whitelist the centre keeps (OPENTRACKER_DIR and its PID file are under its root).
      ...(wiring.tracker === 'opentracker'
        ? { embeddedtracker: '', trackerwhitelist: `/${OPENTRACKER_DIR}/whitelist.txt`, trackerreload: `/${OPENTRACKER_PID}` }
        : { embeddedtracker: `${centre}:${TRACKER_PORT}` }),
      // The task's CDN URL is the edge, which proxies this origin.
      cdnurl: `http://${addr('cdn')}:${CDN_PORT}`,
      obsurl: `obs://${BUCKET}`,
      obsak: S3_KEY,
      obssk: S3_KEY,
      obsendpoint: `http://${addr('obs')}:${OBS_PORT}`,
      autosend: true,
      uploadingnum: 2,
    };
  }
  return {
    ...common,
    // A cacher runs the cacher role (SPEC §5): it downloads the BT share and seeds it.
    servertype: h.role === 'cacher' ? 'cacher' : 'receiver',
    receiverid: h.name,
    avoidrepeat: false,
    receiverstoreplan: 'A',
    downloadingnum: 2,
    ...LAB_RECEIVER_KEYS,
  };
}

/**
 * Keys of every lab cacher and cinema that a scenario's `config` may still override (the
 * prediction models them too). btatstart: every daemon here gets the task at the same
 * instant on 2 shared cores; loading the BitTorrent libraries then (about 1 CPU-s each) held
 * every node's first byte back by 27-30 s in the city (45 daemons), a wait no fleet of
 * machines pays.
 */
export const LAB_RECEIVER_KEYS = { btatstart: true } as const;

/** Where the centre's opentracker keeps its whitelist (its chroot) and PID file, under the centre's root. */
export const OPENTRACKER_DIR = 'etc/opentracker';
export const OPENTRACKER_PID = 'run/opentracker.pid';

/**
 * Lab defaults of the tuning keys (config.json `tuning`, src/config/tuning.ts): quick
 * retries, so a cut link heals within seconds. A scenario's `config.<host>.tuning` goes over them.
 */
export const LAB_TUNING: Record<string, string> = {
  retrydelay: '1s',
  retrymaxdelay: '8s',
  stall: '15s',
  btstall: '30s',
  hashstable: '300ms',
  seedcheck: '5s',
};

export async function startDaemon(t: Topology, h: HostPlan, all: HostPlan[], root: string, tuning: Record<string, unknown>, wiring?: LabWiring): Promise<Daemon> {
  const etc = path.join(root, 'etc', 'bft2');
  await mkdir(etc, { recursive: true });
  await writeFile(path.join(etc, 'config.json'), JSON.stringify(daemonConfig(h, all, wiring, tuning), null, 2) + '\n');
  if (h.role !== 'centre') {
    const obs = all.find((x) => x.role === 'obs')!.data;
    await writeFile(path.join(etc, 'obsbuckets.txt'), `# bucket ak sk endpoint\n${BUCKET} ${S3_KEY} ${S3_KEY} http://${obs}:${OBS_PORT}\n`);
  }
  const proc = startLong(`${h.name} daemon`, 'ip', ['netns', 'exec', t.ns(h.name), path.join(REPO_ROOT, 'bin', 'bft2'), '--root', root, 'daemon'], {
    logFile: path.join(root, 'daemon.out'),
    env: process.env,
    cwd: REPO_ROOT,
  });
  const base = `http://${h.ctl}:${API_PORT}`;
  return { host: h, root, proc, api: apiClient(base) };
}

export async function waitHeartbeat(d: Daemon, timeoutMs: number): Promise<void> {
  const base = `http://${d.host.ctl}:${API_PORT}`;
  await waitFor(
    async () => {
      if (d.proc.hasExited()) {
        const out = (await readFile(path.join(d.root, 'daemon.out'), 'utf8').catch(() => '')).trim().split('\n').slice(-10).join('\n  ');
        throw new Fatal(`the ${d.host.name} daemon exited during start-up:\n  ${out}`);
      }
      const res = await request(`${base}/heartbeat`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      return res.statusCode === 200 ? true : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `the ${d.host.name} daemon's heartbeat at ${base}` },
  );
}

/** s3rver on the OBS host (obs-host.ts), with the task's bucket; resolves once it listens. */
export async function startObsHost(t: Topology, h: HostPlan, dir: string, timeoutMs = 30_000): Promise<{ proc: LongProcess; endpoint: string }> {
  await mkdir(path.join(dir, 'store'), { recursive: true });
  const logFile = path.join(dir, 'obs-host.out');
  const proc = startLong(
    'obs host (s3rver)',
    'ip',
    ['netns', 'exec', t.ns(h.name), process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'lab', 'lib', 'obs-host.ts'), h.data, String(OBS_PORT), path.join(dir, 'store'), BUCKET],
    { logFile, cwd: REPO_ROOT },
  );
  const endpoint = `http://${h.data}:${OBS_PORT}`;
  await waitFor(
    async () => {
      if (proc.hasExited()) throw new Fatal(`the OBS host exited during start-up; see ${logFile}`);
      return (await readFile(logFile, 'utf8')).includes('ready ') ? true : undefined;
    },
    { timeoutMs, intervalMs: 200, what: 'the OBS host (s3rver) to listen' },
  );
  return { proc, endpoint };
}
