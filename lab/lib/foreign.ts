// Cinemas of a mixed fleet that run another BitTorrent client than bft2 (scenario `clients`):
// - `ctorrent`, the old system's cinemas: at hand-out the cinema fetches the task's full
//   torrent (`bt.url`) over its own link with curl, as the old system's cinemas did, and
//   ctorrent downloads it into `<root>/data/dcp/<name>` and then seeds it;
// - `transmission`: a transmission-daemon per cinema, started with the lab; at hand-out its
//   RPC (on the cinema's control address, the port the firewall opens to the driver) is
//   told to add the torrent URL, which it fetches itself.
// Each is watched until its download is complete; the delivery then checks the files
// against the sender's sha1s, as for a bft2 cinema.
// Owns: the foreign clients' processes and directories under the cinema's root.
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { prepareCtorrentPeer } from '../../tools/harness/ctorrent.ts';
import { inNs, startLong, waitFor, Fatal, type LongProcess } from './sh.ts';
import { API_PORT, BT_PORT } from './firewall.ts';
import type { HostPlan } from './scenario.ts';
import type { Topology } from './topology.ts';

/** What a foreign cinema needs of the published task. */
export interface PublishedTorrent {
  /** The DCP's name (the torrent's directory). */
  name: string;
  /** The full torrent's URL on the centre's origin. */
  url: string;
  seedtimeH: number;
}

export interface ForeignCinema {
  host: HostPlan;
  root: string;
  /** Where the DCP lands: `<root>/data/dcp/<name>`. */
  dcpDir(name: string): string;
  /** Gives it the task's torrent; `accepted` false with the reason when it cannot start. */
  handOut(t: PublishedTorrent): Promise<{ accepted: boolean; desc: string }>;
  /** Complete, still going, or failed with the reason. */
  status(): Promise<{ complete: boolean; failed?: string }>;
  /** The last lines of its output, for a failed cinema. */
  tail(): Promise<string[]>;
  readonly proc?: LongProcess;
}

export function foreignCinema(t: Topology, h: HostPlan, root: string): ForeignCinema {
  if (h.client === 'ctorrent') return new CtorrentCinema(t, h, root);
  if (h.client === 'transmission') return new TransmissionCinema(t, h, root);
  throw new Error(`${h.name} runs bft2, not a foreign client`);
}

const lastLines = async (file: string, n = 25) => (await readFile(file, 'latin1').catch(() => '')).replace(/\r/g, '\n').trimEnd().split('\n').slice(-n);

/** What every foreign cinema has: its host, root, the DCP's place and its client's output file. */
abstract class ForeignBase {
  proc?: LongProcess;
  protected readonly out: string;

  constructor(
    protected readonly t: Topology,
    readonly host: HostPlan,
    readonly root: string,
  ) {
    this.out = path.join(root, `${host.client}.out`);
  }

  dcpDir(name: string): string {
    return path.join(this.root, 'data', 'dcp', name);
  }

  tail(): Promise<string[]> {
    return lastLines(this.out);
  }
}

class CtorrentCinema extends ForeignBase implements ForeignCinema {
  private marker = '';

  async handOut(p: PublishedTorrent): Promise<{ accepted: boolean; desc: string }> {
    const scratch = path.join(this.root, 'ctorrent');
    await mkdir(scratch, { recursive: true });
    const torrent = path.join(scratch, `${p.name}.torrent`);
    const got = await inNs(this.t.ns(this.host.name), 'curl', ['-sfS', '--max-time', '30', '-o', torrent, p.url], { allowFailure: true, timeoutMs: 40_000 });
    if (got.code !== 0) return { accepted: false, desc: `curl ${p.url}: ${got.stderr.trim() || `exit ${got.code}`}` };
    const { args, marker } = await prepareCtorrentPeer({ torrentFile: torrent, dataDir: this.dcpDir(p.name), ip: this.host.data, port: BT_PORT, seedHours: p.seedtimeH, scratch });
    this.marker = marker;
    this.proc = startLong(`${this.host.name} ctorrent`, 'ip', ['netns', 'exec', this.t.ns(this.host.name), 'ctorrent', ...args], { logFile: this.out, cwd: scratch });
    return { accepted: true, desc: `ctorrent started with ${p.url}` };
  }

  async status(): Promise<{ complete: boolean; failed?: string }> {
    if (this.marker && (await stat(this.marker).then(() => true, () => false))) return { complete: true };
    if (this.proc?.hasExited()) return { complete: false, failed: `ctorrent exited before the download was complete; see ${this.out}` };
    return { complete: false };
  }
}

/** transmission 3.00's RPC: JSON over HTTP, with the session id it hands out in a 409 first. */
class TransmissionCinema extends ForeignBase implements ForeignCinema {
  private session = '';
  private id?: number;
  /** Its own view at the last look (state, peers, tracker), for the report of a failed cinema. */
  private last = '';

  private get rpcUrl(): string {
    return `http://${this.host.ctl}:${API_PORT}/transmission/rpc`;
  }

  /** Its settings: peers on the data address and the lab's BitTorrent port, RPC for the driver alone, no DHT/LPD/uTP. */
  settings(): Record<string, unknown> {
    return {
      'download-dir': path.join(this.root, 'data', 'dcp'),
      'incomplete-dir-enabled': false,
      // Files keep their names while incomplete (no `.part`): the DCP directory is only ever the DCP's files.
      'rename-partial-files': false,
      'peer-port': BT_PORT,
      'peer-port-random-on-start': false,
      'port-forwarding-enabled': false,
      // TESTBED: set the IPv4 bind address and leave the IPv6 one alone (it becomes libcurl's interface).
      'bind-address-ipv4': this.host.data,
      'rpc-enabled': true,
      'rpc-bind-address': this.host.ctl,
      'rpc-port': API_PORT,
      'rpc-authentication-required': false,
      'rpc-whitelist-enabled': false,
      'rpc-host-whitelist-enabled': false,
      'dht-enabled': false,
      'lpd-enabled': false,
      'utp-enabled': false,
      'pex-enabled': true,
      // webtorrent speaks no message stream encryption: prefer plain connections.
      encryption: 0,
      'ratio-limit-enabled': false,
      'idle-seeding-limit-enabled': false,
      'speed-limit-up-enabled': false,
      'speed-limit-down-enabled': false,
      'start-added-torrents': true,
      'message-level': 2,
    };
  }

  /** Starts the daemon (with the lab, before the delivery) and waits for its RPC. */
  async start(): Promise<void> {
    const conf = path.join(this.root, 'transmission');
    await mkdir(conf, { recursive: true });
    await mkdir(path.join(this.root, 'data', 'dcp'), { recursive: true });
    await writeFile(path.join(conf, 'settings.json'), JSON.stringify(this.settings(), null, 2) + '\n');
    this.proc = startLong(`${this.host.name} transmission`, 'ip', ['netns', 'exec', this.t.ns(this.host.name), 'transmission-daemon', '-f', '-g', conf, '--log-info'], { logFile: this.out });
    await waitFor(
      async () => {
        if (this.proc!.hasExited()) throw new Fatal(`transmission-daemon on ${this.host.name} exited at start: ${(await this.tail()).join('\n  ')}`);
        await this.rpc('session-get', {});
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: `transmission-daemon's RPC on ${this.host.name}` },
    );
  }

  private async rpc(method: string, args: Record<string, unknown>): Promise<any> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await request(this.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-transmission-session-id': this.session },
        body: JSON.stringify({ method, arguments: args }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      if (res.statusCode === 409) {
        this.session = String(res.headers['x-transmission-session-id'] ?? '');
        continue;
      }
      if (res.statusCode !== 200) throw new Error(`transmission RPC ${method}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
      const answer = JSON.parse(text);
      if (answer.result !== 'success') throw new Error(`transmission RPC ${method}: ${answer.result}`);
      return answer.arguments;
    }
    throw new Error(`transmission RPC ${method}: no session id`);
  }

  async handOut(p: PublishedTorrent): Promise<{ accepted: boolean; desc: string }> {
    try {
      const a = await this.rpc('torrent-add', { filename: p.url, 'download-dir': path.join(this.root, 'data', 'dcp') });
      const added = a['torrent-added'] ?? a['torrent-duplicate'];
      this.id = added.id;
      return { accepted: true, desc: `transmission added ${added.name} (${added.hashString})` };
    } catch (err) {
      return { accepted: false, desc: (err as Error).message };
    }
  }

  async status(): Promise<{ complete: boolean; failed?: string }> {
    if (this.proc?.hasExited()) return { complete: false, failed: `transmission-daemon exited; see ${this.out}` };
    if (this.id === undefined) return { complete: false };
    const a = await this.rpc('torrent-get', { ids: [this.id], fields: ['percentDone', 'leftUntilDone', 'error', 'errorString', 'status', 'peersConnected', 'peersSendingToUs', 'peers', 'trackerStats'] });
    const tor = a.torrents?.[0];
    if (!tor) return { complete: false, failed: 'transmission no longer has the torrent' };
    const tracker = (tor.trackerStats ?? []).map((t: any) => `announce ${t.lastAnnounceSucceeded ? 'ok' : 'failed'} "${t.lastAnnounceResult}" ${t.lastAnnouncePeerCount} peers, next in ${Math.round(t.nextAnnounceTime - Date.now() / 1000)} s`);
    const peers = (tor.peers ?? []).map((p: any) => `${p.address}:${p.port} ${p.flagStr} ${p.clientName}`);
    this.last = `status ${tor.status}, ${(tor.percentDone * 100).toFixed(1)}%, error ${tor.error} "${tor.errorString}", ${tor.peersConnected} peers connected (${tor.peersSendingToUs} sending): ${peers.join('; ') || 'none'}; tracker: ${tracker.join('; ') || 'none'}`;
    // Its view over time, beside its log (kept with --keep): where a slow download's time went.
    await appendFile(path.join(this.root, 'transmission-view.log'), `${new Date().toISOString()} ${this.last}\n`).catch(() => undefined);
    // error 3 is a local error (disk, data); 1 and 2 are tracker warnings and errors it retries by itself.
    if (tor.error === 3) return { complete: false, failed: `transmission: ${tor.errorString}` };
    return { complete: tor.leftUntilDone === 0 && tor.percentDone === 1 };
  }

  override async tail(): Promise<string[]> {
    return [...(await super.tail()), `its own view at the last look: ${this.last || 'none'}`];
  }
}

/** Starts what must run before the delivery (transmission's daemon); ctorrent starts at hand-out. */
export async function startForeign(f: ForeignCinema): Promise<void> {
  if (f instanceof TransmissionCinema) await f.start();
}
