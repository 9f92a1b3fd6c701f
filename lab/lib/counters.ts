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
  /** Per host: nft counter name → packets (the connection counters count packets). */
  nftPackets: Record<string, Record<string, number>>;
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
  const nftPackets: Snapshot['nftPackets'] = {};
  await Promise.all(
    hosts.map(async (h) => {
      const p = ports.get(t.port(h.name));
      if (!p?.stats64) throw new Error(`no counters for switch port ${t.port(h.name)}`);
      link[h.name] = { rx: p.stats64.tx.bytes, tx: p.stats64.rx.bytes };
      const r = await inNs(t.ns(h.name), 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'lab']);
      const counters: Record<string, number> = {};
      const packets: Record<string, number> = {};
      for (const item of JSON.parse(r.stdout).nftables as { counter?: { name: string; bytes: number; packets: number } }[]) {
        if (!item.counter) continue;
        counters[item.counter.name] = item.counter.bytes;
        packets[item.counter.name] = item.counter.packets;
      }
      nft[h.name] = counters;
      nftPackets[h.name] = packets;
    }),
  );
  return { link, nft, nftPackets };
}

export function diff(after: Snapshot, before: Snapshot): Snapshot {
  const link: Snapshot['link'] = {};
  for (const [h, v] of Object.entries(after.link)) link[h] = { rx: v.rx - (before.link[h]?.rx ?? 0), tx: v.tx - (before.link[h]?.tx ?? 0) };
  const sub = (a: Snapshot['nft'], b: Snapshot['nft']) => {
    const out: Snapshot['nft'] = {};
    for (const [h, c] of Object.entries(a)) {
      out[h] = {};
      for (const [k, v] of Object.entries(c)) out[h][k] = v - (b[h]?.[k] ?? 0);
    }
    return out;
  };
  return { link, nft: sub(after.nft, before.nft), nftPackets: sub(after.nftPackets ?? {}, before.nftPackets ?? {}) };
}
