// nftables in the lab: each host's firewall and byte counters, and the random packet
// loss of lossy links.
//
// Host table `inet lab` (in the host's namespace):
// - control interface ctl0: only the driver's connections to the daemon's API come in;
//   hosts cannot reach each other over the control bridge, so it carries no data;
// - a cinema drops every new inbound connection on eth0 (a cinema firewall): it reaches
//   out to the centre, cachers, OBS and CDN, but no peer can connect to it — except, for a
//   cinema listed in the scenario's `inbound`, to its BitTorrent port;
// - counters of the data link by peer (`rx_<peer>`, `tx_<peer>`: IP bytes, headers
//   included) and of BitTorrent traffic (`bt_rx`, `bt_tx`: TCP port 6881 at either end,
//   so both connections it accepted and connections it opened are counted), and the
//   BitTorrent connections the host opened: `bt_dials` (SYNs it sent to port 6881, a
//   retransmitted SYN counted again) and `bt_opened` (SYN-ACKs it received from port 6881:
//   connections a peer answered).
// Switch table `bridge lab` (in the switch namespace): drops lossPct of the frames a
// lossy host sends or receives, as a lossy wire would (the sender's TCP sees a loss,
// not a local send error as a drop in its own output hook would give it).
// Owns: the `lab` tables. Counters are read in counters.ts.
import { inNs } from './sh.ts';
import type { HostPlan } from './scenario.ts';
import { DRIVER_CTL_ADDR, type Topology } from './topology.ts';

export const API_PORT = 8191;
export const BT_PORT = 6881;

export function hostRuleset(h: HostPlan, all: HostPlan[]): string {
  const peers = all.filter((p) => p.name !== h.name);
  const counters = peers.flatMap((p) => [`  counter rx_${p.name} { }`, `  counter tx_${p.name} { }`]);
  const map = (key: 'rx' | 'tx') => `{ ${peers.map((p) => `${p.data} : "${key}_${p.name}"`).join(', ')} }`;
  const input: string[] = [];
  if (h.ctl) {
    input.push(`iifname "ctl0" ip saddr ${DRIVER_CTL_ADDR} tcp dport ${API_PORT} accept`, 'iifname "ctl0" ct state established,related accept', 'iifname "ctl0" drop');
  }
  // A cinema's firewall; an old cinema with its port open lets BitTorrent connections in.
  if (h.role === 'cinema') input.push(h.inbound ? `iifname "eth0" ct state new tcp dport != ${BT_PORT} drop` : 'iifname "eth0" ct state new drop');
  input.push(
    `iifname "eth0" counter name ip saddr map ${map('rx')}`,
    `iifname "eth0" tcp sport ${BT_PORT} counter name "bt_rx"`,
    `iifname "eth0" tcp dport ${BT_PORT} counter name "bt_rx"`,
    `iifname "eth0" tcp sport ${BT_PORT} tcp flags & (syn | ack) == syn | ack counter name "bt_opened"`,
  );
  const output = [
    `oifname "eth0" counter name ip daddr map ${map('tx')}`,
    `oifname "eth0" tcp sport ${BT_PORT} counter name "bt_tx"`,
    `oifname "eth0" tcp dport ${BT_PORT} counter name "bt_tx"`,
    `oifname "eth0" tcp dport ${BT_PORT} tcp flags & (syn | ack) == syn counter name "bt_dials"`,
  ];
  return [
    'table inet lab {',
    ...counters,
    '  counter bt_rx { }',
    '  counter bt_tx { }',
    '  counter bt_dials { }',
    '  counter bt_opened { }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...input.map((l) => `    ${l}`),
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    ...output.map((l) => `    ${l}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function installHostFirewall(t: Topology, h: HostPlan, all: HostPlan[]): Promise<void> {
  await inNs(t.ns(h.name), 'nft', ['-f', '-'], { input: hostRuleset(h, all) });
}

export function switchRuleset(t: Topology, hosts: HostPlan[]): string | undefined {
  const lossy = hosts.filter((h) => h.shape.lossPct > 0);
  if (lossy.length === 0) return undefined;
  const rules = lossy.flatMap((h) => {
    const n = Math.round(h.shape.lossPct * 10_000); // per million
    return [`iifname "${t.port(h.name)}" numgen random mod 1000000 < ${n} drop`, `oifname "${t.port(h.name)}" numgen random mod 1000000 < ${n} drop`];
  });
  return ['table bridge lab {', '  chain forward {', '    type filter hook forward priority filter; policy accept;', ...rules.map((r) => `    ${r}`), '  }', '}', ''].join('\n');
}

export async function installSwitchLoss(t: Topology, hosts: HostPlan[]): Promise<void> {
  const rules = switchRuleset(t, hosts);
  if (rules) await inNs(t.sw, 'nft', ['-f', '-'], { input: rules });
}
