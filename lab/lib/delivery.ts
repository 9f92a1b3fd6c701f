// One delivery through a built lab, end to end through the API as a distribution centre
// and its TMS would drive it: the centre's DCP is generated, `gentask` makes the task
// (autosend publishes it: BT seeding, OBS upload, CDN origin), the edge is warmed if the
// scenario says so, then the task file is handed to each cacher and cinema (`recv`), the
// scenario's link events fire on time, every cinema is watched until its DCP is stored,
// and each stored DCP is checked file by file against the sender's sha1s. A cinema running
// another client (foreign.ts) is handed the task's full torrent instead and watched until
// its client has every piece; its files are checked the same way.
// Measures: time per cinema and cacher (from its `recv`), byte counters around the
// delivery (counters.ts), and bft2's own progress figures as a second view.
// With `torrent: "ctorrent"` the DCP's torrent is the old system's (ctorrent -t), which
// gentask adopts.
// Owns: the task's journey; reads the daemons' spools, never writes into them.
import { readFile, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { makeDcp, sha1File, type FileEntry } from '../../tools/harness/dcp-fixture.ts';
import { dcpFiles, type Scenario } from './scenario.ts';
import { sleep, waitFor, Fatal } from './sh.ts';
import { snapshot, diff, type Snapshot } from './counters.ts';
import { warmCdnEdge } from './cdn-edge.ts';
import { setLinkCut } from './topology.ts';
import { ResourceMonitor, type ResourceSummary } from './resources.ts';
import { eventHost, type ScenarioEvent } from '../../src/plan/scenario.ts';
import { BASESUBDIR, TRACKER_PORT, type Daemon } from './daemons.ts';
import { makeCtorrent, ctorrentFileOrder } from '../../tools/harness/ctorrent.ts';
import type { Lab } from './lab.ts';
import type { ForeignCinema } from './foreign.ts';

type Method = 'bt' | 'obs' | 'cdn';
const METHODS: Method[] = ['bt', 'obs', 'cdn'];

export interface ReceiverOutcome {
  host: string;
  role: 'cacher' | 'cinema';
  /** The `recv` answer's desc. */
  recv: string;
  accepted: boolean;
  /** Seconds from its `recv` to its share (cacher) or DCP (cinema) being complete; null if never. */
  timeS: number | null;
  /** The same moment, in seconds from the first hand-out of the task (a cacher's, when cachers lead). */
  fromFirstS?: number;
  /** verified | failed: <reason> | incomplete | complete (a cacher) | refused | sha1 mismatch ... */
  result: string;
  /** bft2's own view, from the last `progress` sample while downloading: bytes per method. */
  bft2?: Record<Method, number>;
  /**
   * Bytes whose method changed while downloading (progress `rebalancedbytes`, the engine's
   * count), from the last sample taken while the task was downloading: a move in the
   * last half second before the DCP was stored can be missing.
   */
  rebalanced?: number;
  /** What moved, in the engine's words (progress `rebalanced`: "bt took N bytes from cdn; ..."). */
  rebalancedText?: string;
  /** A cinema's progress samples while downloading: seconds since its recv, bytes per method (where the time goes). */
  timeline?: { t: number; bt: number; obs: number; cdn: number }[];
}

export interface DeliveryResult {
  task: string;
  split: string;
  dcp: { name: string; size: number; files: number };
  /** Planned bytes per method (the task's lists). */
  shares: Record<Method, number>;
  publishS: number;
  warmS: number | null;
  receivers: ReceiverOutcome[];
  /** Seconds the cachers were handed the task before the cinemas (the scenario's cacherLeadS; 0 without cachers). */
  cacherLeadS: number;
  /** The scenario's events as they happened: `what` names the host and the event ("cinema7 link cut", "cacher2 killed"). */
  events: { at: number; what: string; appliedAtS: number }[];
  counters: Snapshot;
  /** Memory and CPU of the daemons, and the machine's load, during the delivery. */
  resources: ResourceSummary;
  problems: string[];
}

const MB = 1e6;
/** The policy of the lab's tasks: no windows (a run lasts seconds; windows are HH:MM). */
export const LAB_POLICY = 'fulltime';

export async function deliver(lab: Lab, split: string): Promise<DeliveryResult> {
  const s: Scenario = lab.scenario;
  const log = lab.opts.log;
  const problems: string[] = [];
  const centre = lab.centre;
  const name = s.name.replace(/[^A-Za-z0-9_]/g, '_');
  const task = `${BASESUBDIR}-${name}`;
  const taskFile = `${task}.task.json`;

  // --- the DCP and its publication ---
  const dcps = path.join(centre.root, 'data', 'dcp', BASESUBDIR, 'dcps');
  const made = await makeDcp(dcps, name, dcpFiles(s));
  log(`dcp: ${name}, ${(made.size / MB).toFixed(1)} MB in ${made.filelist.length} files, generated on the centre`);
  const t0Publish = Date.now();
  const tmpTask = path.join(centre.root, 'data', 'sender', 'tmp', taskFile);
  const params: Record<string, string> = { dcppath: made.dir, taskfile: tmpTask, basesubdir: BASESUBDIR, btobscdn: split, policy: LAB_POLICY, seedtime: String(s.seedtimeH) };
  if (s.torrent === 'ctorrent') {
    // The old system's torrent of the DCP, files in directory order; gentask adopts it.
    const old = path.join(centre.root, 'oldsystem', `${name}.torrent`);
    await mkdir(path.dirname(old), { recursive: true });
    await makeCtorrent(made.dir, `http://${lab.host('centre').data}:${TRACKER_PORT}/announce`, old);
    params.usetorrent = old;
    log(`dcp: its torrent made by ctorrent -t (files in directory order: ${(await ctorrentFileOrder(old)).join(', ')}), adopted by gentask`);
  }
  const g = await centre.api('gentask', params);
  if (g.return_status !== 'true') throw new Error(`gentask refused: ${JSON.stringify(g.return_content)}`);
  // Publishing moves the OBS share over the centre's uplink: bounded by its size at 1 MB/s.
  const publishBound = 120_000 + made.size / 1000;
  let lastUp: unknown;
  await waitFor(
    async () => {
      const q = await centre.api('taskfilesquery', { dcppath: made.dir, taskfile: tmpTask });
      if (q.return_content?.status === 'error') throw new Fatal(`gentask failed: ${JSON.stringify(q.return_content)}`);
      const u = await centre.api('uploadprogress', { taskfile: taskFile });
      lastUp = u.return_content;
      if (u.return_content?.status === 'error') throw new Fatal(`publishing failed: ${JSON.stringify(u.return_content)}`);
      return u.return_content?.status === 'ready' ? true : undefined;
    },
    { timeoutMs: publishBound, intervalMs: 500, what: `the centre to publish ${task} (uploadprogress ready)` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last uploadprogress ${JSON.stringify(lastUp)}`);
  });
  const publishS = (Date.now() - t0Publish) / 1000;
  const published = JSON.parse(await readFile(path.join(centre.root, 'data', 'sender', 'uploaded', taskFile), 'utf8'));
  const shares = { bt: Number(published.btlistsize), obs: Number(published.obslistsize), cdn: Number(published.cdnlistsize) } as Record<Method, number>;
  log(`published in ${publishS.toFixed(1)} s: bt:obs:cdn ${split} = ${METHODS.map((m) => `${m} ${(shares[m] / MB).toFixed(1)} MB`).join(', ')}`);

  let warmS: number | null = null;
  const cdnList: string[] = (published.cdnlist as string[]).filter((f) => f !== '');
  if (s.cdnPrewarm && cdnList.length > 0) {
    const t0 = Date.now();
    await warmCdnEdge(lab.t.ns('cdn'), cdnList.map((f) => `${published.cdn.url}/${f.split('/').map(encodeURIComponent).join('/')}`), 30_000 + shares.cdn / 1000);
    warmS = (Date.now() - t0) / 1000;
    log(`cdn edge warmed in ${warmS.toFixed(1)} s (${(shares.cdn / MB).toFixed(1)} MB through the centre's uplink, before the delivery)`);
  }

  // --- hand-out ---
  const monitor = new ResourceMonitor(() => lab.pids());
  await monitor.sampleIdle();
  await monitor.start();
  const before = await snapshot(lab.t, lab.hosts);
  const outcomes = new Map<string, ReceiverOutcome>();
  const startedAt = new Map<string, number>();
  const handOut = async (d: Daemon) => {
    const incoming = path.join(d.root, 'incoming');
    await mkdir(incoming, { recursive: true });
    const copy = path.join(incoming, taskFile);
    await writeFile(copy, JSON.stringify(published, null, 2));
    startedAt.set(d.host.name, Date.now());
    const r = await d.api('recv', { taskfile: copy, reactive: 'false' });
    const desc = String(r.return_content?.desc ?? JSON.stringify(r));
    const accepted = r.return_status === 'true';
    outcomes.set(d.host.name, { host: d.host.name, role: d.host.role as 'cacher' | 'cinema', recv: desc, accepted, timeS: null, result: accepted ? 'incomplete' : `refused: ${desc}` });
    if (!accepted && d.host.role === 'cinema') problems.push(`${d.host.name}: recv refused: ${desc}`);
    if (!accepted && d.host.role === 'cacher') log(`${d.host.name}: recv refused: ${desc}`);
  };
  // A foreign client gets the full torrent (bt.url): the old system's cinemas took the whole DCP over BitTorrent.
  const handOutForeign = async (f: ForeignCinema) => {
    startedAt.set(f.host.name, Date.now());
    const r = await f.handOut({ name, url: String(published.bt.url), seedtimeH: s.seedtimeH });
    outcomes.set(f.host.name, { host: f.host.name, role: 'cinema', recv: r.desc, accepted: r.accepted, timeS: null, result: r.accepted ? 'incomplete' : `refused: ${r.desc}` });
    if (!r.accepted) problems.push(`${f.host.name} (${f.host.client}): ${r.desc}`);
  };
  const firstHandOut = Date.now();
  await Promise.all(lab.cachers.map(handOut));
  if (lab.cachers.length && s.cacherLeadS > 0) await sleep(s.cacherLeadS * 1000);
  const t0 = Date.now();
  await Promise.all([...lab.cinemas.map(handOut), ...lab.foreign.map(handOutForeign)]);
  const others = lab.foreign.length ? ` (and ${lab.foreign.map((f) => `${f.host.name}: ${f.host.client}`).join(', ')})` : '';
  log(`handed ${task} to ${lab.cachers.length} cacher(s) and ${lab.cinemas.length + lab.foreign.length} cinema(s)${others}`);

  // --- events ---
  const events: DeliveryResult['events'] = [];
  const apply = (e: ScenarioEvent): [string, Promise<void>] => {
    if ('link' in e) return [`${e.link} link ${e.cut ? 'cut' : 'restored'}`, setLinkCut(lab.t, e.link, e.cut)];
    if ('kill' in e) return [`${e.kill} killed`, lab.killDaemon(e.kill)];
    return [`${e.restart} restarted`, lab.restartDaemon(e.restart)];
  };
  // Timed from the end of the hand-out (which on a busy machine can take half a minute for
  // 40 cinemas), so that a cut lasts as long as the scenario says.
  const timers = s.events.map((e) =>
    setTimeout(() => {
      const [what, done] = apply(e);
      done.then(
        () => {
          const appliedAtS = (Date.now() - t0) / 1000;
          events.push({ at: e.at, what, appliedAtS });
          log(`t+${appliedAtS.toFixed(1)} s: ${what}`);
        },
        (err: Error) => problems.push(`event ${JSON.stringify(e)} (${eventHost(e)}): ${err.message}`),
      );
    }, e.at * 1000),
  );

  // --- watching ---
  const spool = (d: Daemon, state: string, file = taskFile) => path.join(d.root, 'data', 'receiver', state, file);
  const lastSample = new Map<string, { bytes: Record<Method, number>; rebalanced: number; rebalancedText: string }>();
  const timelines = new Map<string, { t: number; bt: number; obs: number; cdn: number }[]>();
  // Progress is sampled every 125 ms per cinema (at least 250 ms, at most 5 s): fine for a
  // few cinemas (the hybrid bench), coarse for many, where every `progress` answered costs
  // CPU on the cores the daemons share (a city sampled each second spent it 40 times a
  // second). A cinema's time comes from its daemon (below), not from these rounds.
  const sampleMs = Math.min(5000, Math.max(250, 125 * lab.cinemas.length));
  // A cacher's completion is asked for each second (4 of them in the city).
  const cacherMs = Math.min(sampleMs, 1000);
  let lastCacherPoll = 0;
  const deadline = t0 + s.timeoutS * 1000;
  let lastPoll = 0;
  const isOpen = (host: string) => {
    const o = outcomes.get(host);
    return o !== undefined && o.accepted && o.timeS === null && !o.result.startsWith('failed');
  };
  const pending = () => [...lab.cinemas, ...lab.cachers].filter((d) => isOpen(d.host.name));
  const foreignPending = () => lab.foreign.filter((f) => isOpen(f.host.name));
  const cinemasOpen = () => lab.cinemas.some((d) => isOpen(d.host.name)) || foreignPending().length > 0;
  let lastReport = Date.now();
  const sources = [centre.proc, lab.obs?.proc, lab.cdn?.proc, lab.tracker].filter((p) => p !== undefined);
  while (cinemasOpen() && Date.now() < deadline) {
    const gone = sources.find((p) => p.hasExited());
    if (gone) {
      problems.push(`${gone.name} exited during the delivery; see its log in the work directory (--keep)`);
      break;
    }
    const sampleNow = Date.now() - lastPoll >= sampleMs;
    if (sampleNow) lastPoll = Date.now();
    const cacherNow = Date.now() - lastCacherPoll >= cacherMs;
    if (cacherNow) lastCacherPoll = Date.now();
    for (const d of pending()) {
      const o = outcomes.get(d.host.name)!;
      // Killed by an event: its restart is on its way; or restarted since this round began
      // (`d` is then the killed process, the new one is polled next round).
      if (lab.down.has(d.host.name) || lab.daemons.get(d.host.name) !== d) continue;
      if (d.proc.hasExited()) {
        o.result = 'failed: the daemon exited';
        problems.push(`${d.host.name}: the daemon exited; see ${path.join(d.root, 'daemon.out')}`);
        continue;
      }
      const err = (await readFile(spool(d, 'downloading', `${task}.err`), 'utf8').catch(() => undefined)) ?? (await readFile(spool(d, 'queues', `${task}.err`), 'utf8').catch(() => undefined));
      if (err !== undefined) {
        o.result = `failed: ${err.split('\n')[0]}`;
        if (d.host.role === 'cinema') problems.push(`${d.host.name}: ${o.result}`);
        continue;
      }
      if (d.host.role === 'cinema') {
        const stored = await stat(spool(d, 'downloaded')).catch(() => undefined);
        if (stored) {
          // When the daemon wrote the finished task file, not when this round of polling came
          // to it (a round over 40 cinemas takes seconds; the daemons share this machine's clock).
          const at = Math.min(Date.now(), stored.mtimeMs);
          o.timeS = (at - startedAt.get(d.host.name)!) / 1000;
          o.fromFirstS = (at - firstHandOut) / 1000;
          o.result = 'stored';
          log(`${d.host.name}: DCP stored after ${o.timeS.toFixed(1)} s`);
        } else if (sampleNow) {
          const p = await d.api('progress', { taskfile: taskFile }).catch(() => undefined);
          const c = p?.return_content;
          if (c?.status === 'downloading') {
            const bytes = (pct: string) => (parseFloat(pct) / 100) * made.size;
            const b = { bt: bytes(c.btpercent), obs: bytes(c.obspercent), cdn: bytes(c.cdnpercent) };
            lastSample.set(d.host.name, { bytes: b, rebalanced: Number(c.rebalancedbytes ?? 0), rebalancedText: String(c.rebalanced ?? '') });
            const tl = timelines.get(d.host.name) ?? [];
            tl.push({ t: Math.round(Date.now() - startedAt.get(d.host.name)!) / 1000, ...b });
            timelines.set(d.host.name, tl);
          }
        }
      } else if (cacherNow) {
        // A cacher (SPEC §5): its share is complete when cprogress says seeding at 100%.
        const c = await d.api('cprogress', { taskfile: taskFile }).catch(() => undefined);
        const complete = c?.return_status === 'true' && c.return_content?.status === 'seeding' && c.return_content?.percent === '100.000%';
        if (complete) {
          o.timeS = (Date.now() - startedAt.get(d.host.name)!) / 1000;
          o.fromFirstS = (Date.now() - firstHandOut) / 1000;
          o.result = 'complete';
          log(`${d.host.name}: share complete after ${o.timeS.toFixed(1)} s`);
        }
      }
    }
    if (sampleNow) {
      for (const f of foreignPending()) {
        const o = outcomes.get(f.host.name)!;
        const st = await f.status().catch((err: Error) => ({ complete: false, failed: undefined, error: err.message }));
        if (st.failed) {
          o.result = `failed: ${st.failed}`;
          problems.push(`${f.host.name} (${f.host.client}): ${st.failed}`);
        } else if (st.complete) {
          o.timeS = (Date.now() - startedAt.get(f.host.name)!) / 1000;
          o.fromFirstS = (Date.now() - firstHandOut) / 1000;
          o.result = 'stored';
          log(`${f.host.name}: ${f.host.client} has the whole DCP after ${o.timeS.toFixed(1)} s`);
        }
      }
    }
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      log(`t+${((Date.now() - t0) / 1000).toFixed(0)} s: waiting for ${[...pending().map((d) => d.host.name), ...foreignPending().map((f) => f.host.name)].join(', ')}`);
    }
    await sleep(200);
  }
  for (const tm of timers) clearTimeout(tm);
  const after = await snapshot(lab.t, lab.hosts);
  const resources = await monitor.stop();
  for (const host of [...lab.cinemas, ...lab.foreign].map((x) => x.host.name)) {
    if (!isOpen(host)) continue;
    outcomes.get(host)!.result = 'failed: timed out';
    problems.push(`${host}: no DCP after ${s.timeoutS} s (timeoutS)`);
  }

  // --- verification: every cinema's DCP against the sender's sha1s ---
  for (const d of lab.cinemas) {
    const o = outcomes.get(d.host.name)!;
    if (o.result !== 'stored') continue;
    const v = await verifyStore(path.join(d.root, 'data', 'dcp'), name, made.filelist);
    o.result = v ?? 'verified';
    if (v) problems.push(`${d.host.name}: ${v}`);
  }
  for (const f of lab.foreign) {
    const o = outcomes.get(f.host.name)!;
    if (o.result !== 'stored') continue;
    // A foreign client writes no .finished marker; its files are what counts.
    const v = await verifyFiles(f.dcpDir(name), made.filelist);
    o.result = v ?? 'verified';
    if (v) problems.push(`${f.host.name} (${f.host.client}): ${v}`);
  }
  for (const o of outcomes.values()) {
    const b = lastSample.get(o.host);
    if (b) {
      o.bft2 = b.bytes;
      o.rebalanced = b.rebalanced;
      o.rebalancedText = b.rebalancedText;
      o.timeline = timelines.get(o.host);
    }
  }
  for (const d of lab.cinemas) {
    if (outcomes.get(d.host.name)?.result !== 'verified') problems.push(...(await tails(d)));
  }
  for (const f of lab.foreign) {
    if (outcomes.get(f.host.name)?.result !== 'verified') problems.push(`--- ${f.host.name}: last lines of its ${f.host.client} output ---`, ...(await f.tail()));
  }
  return {
    task,
    split,
    dcp: { name, size: made.size, files: made.filelist.length },
    shares,
    publishS,
    warmS,
    receivers: [...lab.cachers, ...lab.cinemas, ...lab.foreign].map((d) => outcomes.get(d.host.name)!).filter(Boolean),
    cacherLeadS: lab.cachers.length ? s.cacherLeadS : 0,
    events,
    counters: diff(after, before),
    resources,
    problems,
  };
}

/** null when the store holds exactly the DCP's files with their sha1s and the .finished marker. */
async function verifyStore(store: string, name: string, files: FileEntry[]): Promise<string | null> {
  if (!(await stat(path.join(store, `${name}.finished`)).then(() => true, () => false))) return `no ${name}.finished in ${store}`;
  return verifyFiles(path.join(store, name), files);
}

/** null when `dir` holds exactly the DCP's files with their sha1s. */
async function verifyFiles(dir: string, files: FileEntry[]): Promise<string | null> {
  const found = await listFiles(dir);
  const expected = new Set(files.map((f) => f.file));
  const extra = found.filter((f) => !expected.has(f));
  if (extra.length) return `unexpected files in the DCP: ${extra.join(', ')}`;
  for (const f of files) {
    const got = await sha1File(path.join(dir, f.file)).catch(() => 'missing');
    if (got !== f.hash) return `${f.file}: sha1 ${got}, the sender's is ${f.hash}`;
  }
  return null;
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

/** The last lines of a daemon's log, for a failed cinema. */
async function tails(d: Daemon): Promise<string[]> {
  const log = await readFile(path.join(d.root, 'var', 'log', 'bft2', 'bftv2.log'), 'utf8').catch(() => '');
  const lines = log.trimEnd().split('\n').slice(-25);
  return [`--- ${d.host.name}: last lines of its bftv2.log ---`, ...lines];
}
