// Link shaping with tc, per direction on each end of a host's veth: the host's eth0 egress
// is its uplink, the switch port's egress its downlink. Rate: one htb class (TESTBED:
// at high rates htb warns "quantum of class is big" unless quantum is set, and a burst of
// ~10 ms of traffic keeps it on its rate). Delay: a netem qdisc under that class, only
// where the kernel has netem (CONFIG_NET_SCH_NETEM; some VM kernels lack it — then a
// scenario asking for a delay is refused before anything is built). Loss is not here: it
// is a random drop in the host's firewall (firewall.ts), which works without netem.
// Owns: the qdiscs of eth0 in host namespaces and of the v-<host> ports in the switch.
import { run } from './sh.ts';
import type { HostPlan } from './scenario.ts';
import type { Topology } from './topology.ts';

/** Whether `tc qdisc ... netem` works here: tried on the loopback of the given namespace. */
export async function netemAvailable(ns: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { allowFailure: true });
  if (r.code !== 0) return false;
  await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { allowFailure: true });
  return true;
}

async function shapeDev(ns: string, dev: string, bps: number | null, delayMs: number): Promise<void> {
  const tc = (...args: string[]) => run('ip', ['netns', 'exec', ns, 'tc', ...args]);
  const netem = ['netem', 'delay', `${delayMs}ms`, 'limit', '100000'];
  if (bps !== null) {
    const bits = `${Math.round(bps * 8)}bit`;
    const burst = String(Math.max(64 * 1024, Math.round(bps / 100)));
    await tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1000');
    await tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', bits, 'ceil', bits, 'burst', burst, 'cburst', burst, 'quantum', '60000');
    if (delayMs > 0) await tc('qdisc', 'add', 'dev', dev, 'parent', '1:10', 'handle', '10:', ...netem);
  } else if (delayMs > 0) {
    await tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '10:', ...netem);
  }
}

export async function shapeLink(t: Topology, h: HostPlan): Promise<void> {
  await shapeDev(t.ns(h.name), 'eth0', h.shape.upBps, h.shape.delayMs);
  await shapeDev(t.sw, t.port(h.name), h.shape.downBps, h.shape.delayMs);
}

/** "30MB/s up, 120MB/s down, 5 ms, 0.1% loss" */
export function describeShape(h: HostPlan): string {
  const r = (b: number | null) => (b === null ? 'unshaped' : `${+(b / 1e6).toFixed(2)}MB/s`);
  const s = h.shape;
  const parts = [`up ${r(s.upBps)}`, `down ${r(s.downBps)}`];
  if (s.delayMs) parts.push(`${s.delayMs} ms`);
  if (s.lossPct) parts.push(`${s.lossPct}% loss`);
  return parts.join(', ');
}
