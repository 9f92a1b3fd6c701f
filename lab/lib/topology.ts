// The lab's network: one namespace per host, a data bridge in a switch namespace of its
// own, and a control bridge in the driver's namespace. Nothing of it exists in the root
// namespace: every veth pair is created inside the switch or control namespace with its
// other end moved straight into the host's.
//
//   <prefix>-sw      bridge br0; ports v-<host> (the host's data link, shaped in both
//                    directions: egress of v-<host> = the host's downlink)
//   <prefix>-ctl     the driver; bridge brc (198.19.255.254/16); ports c-<host>
//   <prefix>-<host>  eth0 198.18.x.y/16 (data; egress = the host's uplink), ctl0
//                    198.19.x.y/16 (the daemon's API only), lo; no default route, no IPv6
//
// Owns: creating and deleting the run's namespaces and links, and the final sweep of any
// process left inside them. Must not touch a namespace without this run's prefix.
import { run, inNs } from './sh.ts';
import type { HostPlan } from './scenario.ts';

export const NS_PREFIX = 'bft2lab-';
export const DRIVER_CTL_ADDR = '198.19.255.254';

export interface Topology {
  runId: string;
  /** `bft2lab-<runId>` */
  prefix: string;
  sw: string;
  ctl: string;
  ns(host: string): string;
  /** The switch-side port of a host's data link. */
  port(host: string): string;
}

export function topology(runId: string): Topology {
  if (!/^[0-9a-z]+$/.test(runId)) throw new Error(`run id must be [0-9a-z]+, got ${JSON.stringify(runId)}`);
  const prefix = `${NS_PREFIX}${runId}`;
  return {
    runId,
    prefix,
    sw: `${prefix}-sw`,
    ctl: `${prefix}-ctl`,
    ns: (host) => `${prefix}-${host}`,
    port: (host) => `v-${host}`,
  };
}

const batch = (ns: string, lines: string[]) => run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });

/** No IPv6: its neighbour discovery and router solicitations would add noise to the byte counters. */
const noIpv6 = (ns: string) => inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);

export async function listRunNamespaces(t: Topology): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${t.prefix}-`));
}

/**
 * The switch namespace and its bridge, and the control bridge in the control namespace
 * (made by lab/lab, which runs the driver in it; a later run of the same driver — the
 * benchmarks — finds the bridge there already).
 */
export async function buildFabric(t: Topology): Promise<void> {
  const hasBrc = (await run('ip', ['-n', t.ctl, 'link', 'show', 'brc'], { allowFailure: true })).code === 0;
  if (!hasBrc) {
    await noIpv6(t.ctl);
    await batch(t.ctl, ['link set lo up', 'link add brc type bridge stp_state 0 forward_delay 0', 'link set brc up', `addr add ${DRIVER_CTL_ADDR}/16 dev brc`]);
  }
  await run('ip', ['netns', 'add', t.sw]);
  await noIpv6(t.sw);
  // Bridged frames stay out of the IP hooks (br_netfilter is built into some kernels and
  // would send them through conntrack in the switch: CPU for nothing).
  await inNs(t.sw, 'sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0'], { allowFailure: true });
  // No STP: ports forward as soon as they are up.
  await batch(t.sw, ['link set lo up', 'link add br0 type bridge stp_state 0 forward_delay 0', 'link set br0 up']);
}

export async function addHost(t: Topology, h: HostPlan, opts: { segmentPerPacket: boolean }): Promise<void> {
  const ns = t.ns(h.name);
  await run('ip', ['netns', 'add', ns]);
  await noIpv6(ns);
  await batch(t.sw, [`link add ${t.port(h.name)} type veth peer name eth0 netns ${ns}`, `link set ${t.port(h.name)} master br0 up`]);
  const host = ['link set lo up', `addr add ${h.data}/16 dev eth0`, 'link set eth0 up'];
  // With TSO a "packet" the firewall sees may carry 40 segments, so one random drop would
  // lose them all: a lossy scenario makes TCP hand over one segment per packet.
  if (opts.segmentPerPacket) host.push('link set eth0 gso_max_segs 1');
  if (h.ctl) {
    await batch(t.ctl, [`link add c-${h.name} type veth peer name ctl0 netns ${ns}`, `link set c-${h.name} master brc up`]);
    host.push(`addr add ${h.ctl}/16 dev ctl0`, 'link set ctl0 up');
  }
  await batch(ns, host);
}

/** A cut link: the switch port goes down (nothing passes either way); restored by bringing it up. */
export async function setLinkCut(t: Topology, host: string, cut: boolean): Promise<void> {
  await run('ip', ['-n', t.sw, 'link', 'set', t.port(host), cut ? 'down' : 'up']);
}

/**
 * Kills (SIGKILL, by pid) whatever still runs inside the run's host and switch namespaces,
 * then deletes them. The control namespace holds the driver itself: it is lab/lab's,
 * which deletes it after the driver has exited. Never throws: teardown goes on.
 */
export async function destroyAll(t: Topology, log: (s: string) => void = () => {}): Promise<void> {
  let names: string[] = [];
  try {
    names = (await listRunNamespaces(t)).filter((n) => n !== t.ctl);
  } catch (err) {
    log(`teardown: cannot list namespaces: ${(err as Error).message}`);
    return;
  }
  for (const ns of names) {
    try {
      const { stdout } = await run('ip', ['netns', 'pids', ns]);
      for (const pid of stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
          log(`teardown: killed leftover pid ${pid} in ${ns}`);
        } catch {
          // gone meanwhile
        }
      }
    } catch {
      // the namespace went meanwhile
    }
  }
  for (const ns of names) await run('ip', ['netns', 'delete', ns], { allowFailure: true });
}
