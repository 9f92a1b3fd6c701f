// Byte counters, read from the kernel: the honest figures of the lab's report.
// - Link bytes from the switch ports' interface counters (`ip -s -j link` in the switch
//   namespace; a veth counts on its two ends alike, so a port's tx is its host's rx):
//   Ethernet frames, headers included.
// - Bytes by peer and BitTorrent bytes from each host's nft counters (firewall.ts): IP
//   packets, headers included.
// A snapshot is taken after publishing (and the CDN warm-up) and again at the end; the
// report shows the difference, i.e. the delivery alone.
// Owns: reading and subtracting counters; changes nothing.
import { inNs, run } from './sh.ts';
import type { HostPlan } from './scenario.ts';
import type { Topology } from './topology.ts';

export interface Snapshot {
  /** Per host: bytes its data link carried to it (rx) and from it (tx). */
  link: Record<string, { rx: number; tx: number }>;
  /** Per host: nft counter name → bytes. */
  nft: Record<string, Record<string, number>>;
}

interface IpLink {
  ifname: string;
  stats64?: { rx: { bytes: number }; tx: { bytes: number } };
}

export async function snapshot(t: Topology, hosts: HostPlan[]): Promise<Snapshot> {
  const { stdout } = await run('ip', ['-n', t.sw, '-s', '-j', 'link', 'show']);
  const ports = new Map((JSON.parse(stdout) as IpLink[]).map((l) => [l.ifname, l]));
  const link: Snapshot['link'] = {};
  const nft: Snapshot['nft'] = {};
  await Promise.all(
    hosts.map(async (h) => {
      const p = ports.get(t.port(h.name));
      if (!p?.stats64) throw new Error(`no counters for switch port ${t.port(h.name)}`);
      link[h.name] = { rx: p.stats64.tx.bytes, tx: p.stats64.rx.bytes };
      const r = await inNs(t.ns(h.name), 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'lab']);
      const counters: Record<string, number> = {};
      for (const item of JSON.parse(r.stdout).nftables as { counter?: { name: string; bytes: number } }[]) {
        if (item.counter) counters[item.counter.name] = item.counter.bytes;
      }
      nft[h.name] = counters;
    }),
  );
  return { link, nft };
}

export function diff(after: Snapshot, before: Snapshot): Snapshot {
  const link: Snapshot['link'] = {};
  const nft: Snapshot['nft'] = {};
  for (const [h, v] of Object.entries(after.link)) link[h] = { rx: v.rx - (before.link[h]?.rx ?? 0), tx: v.tx - (before.link[h]?.tx ?? 0) };
  for (const [h, c] of Object.entries(after.nft)) {
    nft[h] = {};
    for (const [k, v] of Object.entries(c)) nft[h][k] = v - (before.nft[h]?.[k] ?? 0);
  }
  return { link, nft };
}
