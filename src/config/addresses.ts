// The addresses of config.json: what a listen address (`host:port`), a URL or an endpoint
// must look like, and which listen addresses of one node would take the same port. Pure
// checks that return the problem in words, or undefined; the schema (./schema.ts) applies
// the per-value ones, load-config.ts the clash check (it needs the roles of config-keys.ts).
// Owns: these rules. Must not touch: the network (nothing here resolves or binds).
import { isIPv4, isIPv6 } from 'node:net';

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function portProblem(port: string, what = 'port'): string | undefined {
  if (!/^\d{1,5}$/.test(port)) return `the ${what} must be a number from 1 to 65535`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `${what} ${n} is out of range: it must be from 1 to 65535`;
  return undefined;
}

/** A host to listen on: an IPv4 address or a host name (0.0.0.0 = every address of the machine). */
function hostProblem(host: string): string | undefined {
  if (host === '') return 'the host is missing';
  if (/^[\d.]+$/.test(host)) return isIPv4(host) ? undefined : `${host} is not an IPv4 address`;
  if (isIPv6(host) || host.startsWith('[')) return 'IPv6 addresses are not supported here: use an IPv4 address or a host name';
  return HOSTNAME.test(host) ? undefined : `${JSON.stringify(host)} is not a host name or an IPv4 address`;
}

/** `host:port` where a server of this node listens, e.g. `127.0.0.1:8191`. */
export function listenAddressProblem(value: string): string | undefined {
  const i = value.lastIndexOf(':');
  if (i < 0) return 'must be host:port, e.g. 127.0.0.1:8191';
  return hostProblem(value.slice(0, i)) ?? portProblem(value.slice(i + 1));
}

/** The parts of `host:port`. */
export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}

// Scheme, host (a `<placeholder>` of the install template passes here: checkconfig warns of
// it on its own), optional port, optional path.
const URL_RE = /^([a-z][a-z0-9+.-]*):\/\/([^/?#\s:@]+|\[[^\]\s]+\])(?::([^/?#\s]*))?([/?#]\S*)?$/i;

/** A URL of one of `schemes` (`http`, `https`, `udp`, ...), with a port in range when it names one. */
export function urlProblem(value: string, schemes: readonly string[], example: string): string | undefined {
  const m = URL_RE.exec(value);
  const names = schemes.map((s) => `${s}://`);
  const want = `must be ${names.length > 1 ? `a ${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : `a ${names[0]}`} URL, e.g. ${example}`;
  if (!m || !schemes.includes(m[1].toLowerCase())) return want;
  if (m[3] !== undefined) return portProblem(m[3], 'URL port');
  return undefined;
}

/** The OBS endpoint: a host name with an optional port, or an http(s) URL. */
export function endpointProblem(value: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return urlProblem(value, ['http', 'https'], 'obs.example-region.example.com');
  const m = /^([^/?#\s:]+)(?::([^/?#\s]*))?$/.exec(value);
  if (!m) return 'must be a host name with an optional :port, or an http:// or https:// URL';
  return m[2] !== undefined ? portProblem(m[2]) : undefined;
}

export interface ListenUse {
  /** The config key. */
  key: string;
  /** `host:port`, or a bare port for btport (which listens on every address). */
  value: string;
}

const everyAddress = (host: string) => host === '' || host === '0.0.0.0';
const sameHost = (a: string, b: string) => (a === 'localhost' ? '127.0.0.1' : a) === (b === 'localhost' ? '127.0.0.1' : b);

/**
 * Keys of one node that would listen on the same TCP port: each pair once, named by both
 * keys, e.g. `httporigin: port 8191 is taken by apilisten (127.0.0.1:8191) too`.
 */
export function listenClashes(uses: ListenUse[]): { key: string; problem: string }[] {
  const parsed = uses.map((u) => ({ ...u, ...(u.value.includes(':') ? splitHostPort(u.value) : { host: '', port: Number(u.value) }) }));
  const out: { key: string; problem: string }[] = [];
  for (let j = 1; j < parsed.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = parsed[i];
      const b = parsed[j];
      if (!a.port || a.port !== b.port) continue;
      if (!sameHost(a.host, b.host) && !everyAddress(a.host) && !everyAddress(b.host)) continue;
      out.push({ key: b.key, problem: `port ${b.port} is taken by ${a.key} (${a.value}) too: each server needs a port of its own` });
    }
  }
  return out;
}
