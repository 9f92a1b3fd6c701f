// The CDN edge: nginx (the Debian package) as a caching reverse proxy in front of the
// centre's HTTP origin, in the CDN host's namespace. Range support comes from the slice
// module: the edge fetches and caches fixed slices of a file (each its own cache entry,
// concurrent misses of one slice collapsed by proxy_cache_lock), and serves any Range a
// receiver asks from them — so a resumed download is served from the cache, and each
// byte crosses the centre's uplink once however many cinemas fetch it.
// Owns: the edge's config, cache, logs and process, under its own directory.
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { startLong, inNs, waitFor, Fatal, type LongProcess } from './sh.ts';

export const CDN_PORT = 8080;
const SLICE = '4m';

export function nginxConfig(opts: { dir: string; listen: string; origin: string }): string {
  const d = opts.dir;
  return `# bft2 lab: CDN edge (generated; see lab/lib/cdn-edge.ts)
# Root only because the lab runs as root; the workers need to write the cache in the run's directory.
user root;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 1024; }
http {
  log_format edge '$remote_addr "$request" $status $body_bytes_sent range="$http_range" slice="$slice_range" cache=$upstream_cache_status';
  access_log ${d}/access.log edge;
  client_body_temp_path ${d}/tmp/client;
  proxy_temp_path ${d}/tmp/proxy;
  fastcgi_temp_path ${d}/tmp/fastcgi;
  uwsgi_temp_path ${d}/tmp/uwsgi;
  scgi_temp_path ${d}/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  proxy_cache_path ${d}/cache levels=1:2 keys_zone=dcp:16m max_size=200g inactive=1d use_temp_path=off;
  upstream origin {
    server ${opts.origin};
    keepalive 16;
  }
  server {
    listen ${opts.listen};
    location / {
      return 404;
    }
    location /dcp/ {
      slice ${SLICE};
      proxy_cache dcp;
      proxy_cache_key $uri$is_args$args$slice_range;
      proxy_set_header Range $slice_range;
      proxy_cache_valid 200 206 1d;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 120s;
      proxy_cache_lock_age 120s;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://origin;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`;
}

export interface CdnEdge {
  url: string;
  proc: LongProcess;
  accessLog(): Promise<string>;
}

export async function startCdnEdge(opts: { ns: string; dir: string; address: string; origin: string; timeoutMs?: number }): Promise<CdnEdge> {
  const d = opts.dir;
  for (const sub of ['cache', 'tmp/client', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) await mkdir(path.join(d, sub), { recursive: true });
  const conf = path.join(d, 'nginx.conf');
  await writeFile(conf, nginxConfig({ dir: d, listen: `${opts.address}:${CDN_PORT}`, origin: opts.origin }));
  await inNs(opts.ns, 'nginx', ['-t', '-q', '-c', conf, '-e', path.join(d, 'error.log')]);
  // daemon off: the master is our child, so stopping it (SIGTERM, then SIGKILL) is by pid.
  const proc = startLong('cdn edge (nginx)', 'ip', ['netns', 'exec', opts.ns, 'nginx', '-c', conf, '-e', path.join(d, 'error.log'), '-g', 'daemon off;'], {
    logFile: path.join(d, 'nginx.out'),
  });
  const url = `http://${opts.address}:${CDN_PORT}`;
  await waitFor(
    async () => {
      if (proc.hasExited()) throw new Fatal(`nginx exited: ${await readFile(path.join(d, 'error.log'), 'utf8').catch(() => '')}`);
      const r = await inNs(opts.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${url}/`], { allowFailure: true, timeoutMs: 5000 });
      return r.code === 0 ? true : undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 15_000, what: 'the CDN edge (nginx) to listen' },
  );
  return { url, proc, accessLog: () => readFile(path.join(d, 'access.log'), 'utf8').catch(() => '') };
}

/**
 * Fills the edge's cache with the given files by fetching each through it once, from the
 * CDN host itself (so only the edge ↔ centre link carries it): a pre-warmed CDN.
 */
export async function warmCdnEdge(ns: string, fileUrls: string[], timeoutMs: number): Promise<void> {
  for (const u of fileUrls) {
    await inNs(ns, 'curl', ['-sf', '-o', '/dev/null', u], { timeoutMs });
  }
}
