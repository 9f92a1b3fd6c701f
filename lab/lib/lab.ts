// A built lab: the hosts of a scenario as namespaces with shaped links and firewalls, and
// their servers running — s3rver on the OBS host, nginx on the CDN edge, a bft2 daemon on
// the centre (and opentracker beside it when the scenario says so), each cacher and each
// cinema (or, for a cinema of another client, that client: foreign.ts). build() makes all of it; teardown() removes
// all of it (processes first, then namespaces, then the work directory) and is safe to
// call at any point, more than once, and from a signal handler.
// Owns: the run's namespaces, processes and work directory.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stopAll, startLong, inNs, run, waitFor, Fatal, type LongProcess } from './sh.ts';
import { opentrackerArgs, prepareOpentrackerDir } from '../../tools/harness/opentracker.ts';
import { foreignCinema, startForeign, type ForeignCinema } from './foreign.ts';
import { planHosts, type HostPlan, type Scenario } from './scenario.ts';
import { topology, buildFabric, addHost, destroyAll, type Topology } from './topology.ts';
import { shapeLink, netemAvailable } from './shaping.ts';
import { installHostFirewall, installSwitchLoss } from './firewall.ts';
import { startCdnEdge, type CdnEdge } from './cdn-edge.ts';
import { checkIsolation } from './checks.ts';
import { startDaemon, waitHeartbeat, startObsHost, ORIGIN_PORT, TRACKER_PORT, OPENTRACKER_DIR, OPENTRACKER_PID, type Daemon } from './daemons.ts';

export interface LabOptions {
  runId: string;
  /** The run's work directory (daemon roots, s3rver store, nginx cache, logs). */
  workDir: string;
  /** Keep the work directory after teardown (the namespaces always go). */
  keep: boolean;
  log: (line: string) => void;
}

export class Lab {
  readonly t: Topology;
  readonly hosts: HostPlan[];
  readonly daemons = new Map<string, Daemon>();
  /** Cinemas that run another BitTorrent client (the scenario's `clients`). */
  readonly foreign: ForeignCinema[] = [];
  /** opentracker on the centre, when the scenario's tracker is it. */
  tracker?: LongProcess;
  cdn?: CdnEdge;
  obs?: { proc: LongProcess; endpoint: string };
  /** Daemons killed by a scenario event and not restarted yet. */
  readonly down = new Set<string>();
  private torn?: Promise<void>;

  constructor(
    readonly scenario: Scenario,
    readonly opts: LabOptions,
  ) {
    this.t = topology(opts.runId);
    this.hosts = planHosts(scenario);
  }

  host(name: string): HostPlan {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }
  dir(host: string): string {
    return path.join(this.opts.workDir, host);
  }
  get centre(): Daemon {
    return this.daemons.get('centre')!;
  }
  get cinemas(): Daemon[] {
    return [...this.daemons.values()].filter((d) => d.host.role === 'cinema');
  }
  get cachers(): Daemon[] {
    return [...this.daemons.values()].filter((d) => d.host.role === 'cacher');
  }

  async build(): Promise<void> {
    const { t, hosts, opts } = this;
    const log = opts.log;
    await this.checkTools();
    await mkdir(opts.workDir, { recursive: true });
    await buildFabric(t);
    if (hosts.some((h) => h.shape.delayMs > 0) && !(await netemAvailable(t.ctl))) {
      const which = hosts.filter((h) => h.shape.delayMs > 0).map((h) => h.name);
      throw new Error(
        `links of ${which.join(', ')} ask for a delay, but this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): remove delayMs from the scenario or run on a kernel with netem`,
      );
    }
    const lossy = hosts.some((h) => h.shape.lossPct > 0);
    for (const h of hosts) {
      await addHost(t, h, { segmentPerPacket: lossy });
      await installHostFirewall(t, h, hosts);
      await shapeLink(t, h);
    }
    await installSwitchLoss(t, hosts);
    log(`network: ${hosts.length} hosts in namespaces ${t.prefix}-*, data bridge in ${t.sw}, control bridge in ${t.ctl}`);
    log(`checked: ${await checkIsolation(t, hosts)}`);

    for (const h of hosts) await mkdir(this.dir(h.name), { recursive: true });
    const tuning = this.scenario.tuning;
    if (this.scenario.tracker === 'opentracker') await this.startOpentracker();
    const wiring = { tracker: this.scenario.tracker };
    const starting = hosts.filter((h) => h.daemon).map((h) => startDaemon(t, h, hosts, this.dir(h.name), tuning, wiring));
    for (const d of await Promise.all(starting)) this.daemons.set(d.host.name, d);
    // Start-up of many daemons on a small machine is CPU-bound: generous bounds, for the
    // OBS host and the CDN edge (which start beside them) as for the daemons' heartbeats.
    const startBound = 60_000 + 5_000 * this.daemons.size;
    const [obs, cdn] = await Promise.all([
      startObsHost(t, this.host('obs'), this.dir('obs'), startBound),
      startCdnEdge({ ns: t.ns('cdn'), dir: this.dir('cdn'), address: this.host('cdn').data, origin: `${this.host('centre').data}:${ORIGIN_PORT}`, timeoutMs: startBound }),
    ]);
    this.obs = obs;
    this.cdn = cdn;
    await Promise.all([...this.daemons.values()].map((d) => waitHeartbeat(d, startBound)));
    for (const h of hosts.filter((x) => x.role === 'cinema' && x.client !== 'bft2')) this.foreign.push(foreignCinema(t, h, this.dir(h.name)));
    await Promise.all(this.foreign.map(startForeign));
    const others = this.foreign.map((f) => `${f.host.client} on ${f.host.name}`);
    log(`servers: s3rver on obs, nginx on cdn${this.tracker ? ', opentracker on centre' : ''}, bft2 daemons on ${[...this.daemons.keys()].join(', ')}${others.length ? `; ${others.join(', ')}` : ''}`);
  }

  /** The programs this scenario runs beyond the lab's own (lab/lab checks those), named when missing. */
  private async checkTools(): Promise<void> {
    const want = new Set<string>();
    if (this.scenario.tracker === 'opentracker') want.add('opentracker');
    for (const h of this.hosts) if (h.client === 'ctorrent') want.add('ctorrent');
    for (const h of this.hosts) if (h.client === 'transmission') want.add('transmission-daemon');
    const missing: string[] = [];
    for (const tool of want) if ((await run('sh', ['-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) missing.push(tool);
    if (missing.length) throw new Error(`this scenario needs ${missing.join(', ')}: install them with tools/install-test-deps (as root)`);
  }

  /**
   * Debian's opentracker on the centre's address and the lab's tracker port, in whitelist
   * mode (its chroot and whitelist under the centre's root, where the centre's
   * `trackerwhitelist` points; its PID where `trackerreload` points).
   */
  private async startOpentracker(): Promise<void> {
    const centre = this.host('centre');
    const root = this.dir('centre');
    const dir = path.join(root, OPENTRACKER_DIR);
    await prepareOpentrackerDir(dir);
    const ns = this.t.ns('centre');
    const tracker = startLong('centre opentracker', 'ip', ['netns', 'exec', ns, 'opentracker', ...opentrackerArgs(dir, centre.data, TRACKER_PORT)], { logFile: path.join(root, 'opentracker.out') });
    this.tracker = tracker;
    await mkdir(path.dirname(path.join(root, OPENTRACKER_PID)), { recursive: true });
    await writeFile(path.join(root, OPENTRACKER_PID), `${tracker.proc.pid}\n`);
    // Up once it answers an announce (`stopped` is answered for any hash).
    const probe = `http://${centre.data}:${TRACKER_PORT}/announce?info_hash=${'%00'.repeat(20)}&peer_id=${'-'.repeat(20)}&port=1&uploaded=0&downloaded=0&left=0&event=stopped`;
    await waitFor(
      async () => {
        if (tracker.hasExited()) throw new Fatal(`opentracker on the centre exited at start; see ${path.join(root, 'opentracker.out')}`);
        const r = await inNs(ns, 'curl', ['-sf', '--max-time', '2', probe], { allowFailure: true });
        return r.code === 0 && r.stdout.startsWith('d') ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'opentracker on the centre to answer' },
    );
  }

  /** Each daemon's process id now, by host. */
  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, d] of this.daemons) if (!d.proc.hasExited() && d.proc.proc.pid !== undefined) out.set(name, d.proc.proc.pid);
    return out;
  }

  /** A scenario's kill event: SIGKILL, as a crash or a power cut would end it (no shutdown). */
  async killDaemon(name: string): Promise<void> {
    const d = this.daemons.get(name);
    if (!d) throw new Error(`no daemon on ${name}`);
    this.down.add(name);
    await d.proc.stop('SIGKILL', 0);
  }

  /** A scenario's restart event: the daemon starts again on its root; resolves when its API answers. */
  async restartDaemon(name: string): Promise<void> {
    const old = this.daemons.get(name);
    if (!old) throw new Error(`no daemon on ${name}`);
    const d = await startDaemon(this.t, old.host, this.hosts, old.root, this.scenario.tuning);
    this.daemons.set(name, d);
    await waitHeartbeat(d, 60_000);
    this.down.delete(name);
  }

  teardown(): Promise<void> {
    this.torn ??= (async () => {
      const log = this.opts.log;
      await stopAll(5000).catch((err) => log(`teardown: stopping processes: ${(err as Error).message}`));
      await destroyAll(this.t, log);
      if (!this.opts.keep) await rm(this.opts.workDir, { recursive: true, force: true }).catch(() => {});
      else log(`kept ${this.opts.workDir}`);
    })();
    return this.torn;
  }
}
