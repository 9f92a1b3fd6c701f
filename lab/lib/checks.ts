// The lab's promises about its network, checked on every build before anything runs on
// it, so a figure is never measured on a network that is not the one described:
// - no host has a route out of the lab (a routing-table query: no packet is sent);
// - a cinema's firewall drops new inbound connections (a connect from the centre to each
//   cinema times out — neither answered nor refused); a cinema the scenario opens to
//   BitTorrent (`inbound`) answers on that port only;
// - the control bridge carries nothing between hosts (the centre cannot open a
//   connection to a cinema's API address).
// Owns: nothing; reads the network and throws naming the broken promise.
import { inNs } from './sh.ts';
import { API_PORT, BT_PORT } from './firewall.ts';
import type { HostPlan } from './scenario.ts';
import type { Topology } from './topology.ts';

/** 'dropped' (timed out), 'refused', 'open' or 'unreachable', from inside ns. */
async function probe(ns: string, addr: string, port: number): Promise<string> {
  const r = await inNs(ns, 'timeout', ['2', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port}`], { allowFailure: true, timeoutMs: 10_000 });
  if (r.code === 0) return 'open';
  if (r.code === 124) return 'dropped';
  if (/refused/i.test(r.stderr)) return 'refused';
  if (/unreachable/i.test(r.stderr)) return 'unreachable';
  return `exit ${r.code}: ${r.stderr.trim()}`;
}

export async function checkIsolation(t: Topology, hosts: HostPlan[]): Promise<string> {
  const problems: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      // 192.0.2.1 (TEST-NET-1) stands for "anywhere outside".
      const r = await inNs(t.ns(h.name), 'ip', ['route', 'get', '192.0.2.1'], { allowFailure: true });
      if (r.code === 0) problems.push(`${h.name} has a route out of the lab: ${r.stdout.trim()}`);
    }),
  );
  const centre = t.ns('centre');
  await Promise.all(
    hosts
      .filter((h) => h.role === 'cinema')
      .map(async (h) => {
        const [data, ctl, other] = await Promise.all([probe(centre, h.data, BT_PORT), probe(centre, h.ctl!, API_PORT), probe(centre, h.data, API_PORT)]);
        if (!h.inbound && data !== 'dropped') problems.push(`${h.name}'s firewall lets a connection from the centre in (${data})`);
        // Open to BitTorrent (nothing listens yet: refused), closed to the rest.
        if (h.inbound && (data === 'dropped' || other !== 'dropped')) problems.push(`${h.name} should accept BitTorrent connections only (port ${BT_PORT}: ${data}, port ${API_PORT}: ${other})`);
        if (ctl !== 'dropped' && ctl !== 'unreachable') problems.push(`the centre reaches ${h.name}'s API over the control bridge (${ctl})`);
      }),
  );
  if (problems.length) throw new Error(`the lab's network is not what it should be:\n  ${problems.join('\n  ')}`);
  const open = hosts.filter((h) => h.inbound).map((h) => h.name);
  return `no route out of the lab; cinemas drop inbound connections${open.length ? ` (${open.join(', ')}: except BitTorrent)` : ''}; the control bridge joins only the driver to the daemons`;
}
