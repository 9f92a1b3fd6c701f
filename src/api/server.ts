// The JSON-over-HTTP API (SPEC §9) on `apilisten`. Translates requests into calls on the
// role pipelines and their errors into `false` answers; it never lets a request crash the
// daemon. Owns no state of its own. The GETs of src/observe (/metrics, /, /status.json)
// pass through here untouched when they share this address (`deps.observe`).
import http from 'node:http';
import { errors, isBft2Error, messageOf } from '../errors/catalogue.ts';
import { respond, parseRequest, requireParam, parseReactive } from './envelope.ts';
import { formatLocalTime } from '../util/time.ts';
import { formatShowSchedules, type ScheduledTask } from '../schedule/showschedules.ts';
import type { DaemonContext } from '../daemon/context.ts';
import type { Receiver } from '../roles/receiver/receiver.ts';
import type { Cacher } from '../roles/cacher/cacher.ts';
import type { TaskGenerator } from '../roles/sender/gentask.ts';
import type { Sender } from '../roles/sender/sender.ts';
import type { ObserveHandler } from '../observe/observe-http.ts';
import type { ApiResponse } from './envelope.ts';
import { reloadRefusedAnswer } from '../config/reload-plan.ts';
import path from 'node:path';
import { tuning } from '../config/tuning.ts';
import { watchMode, polledDirs } from '../spool/watch-health.ts';

export interface ApiDeps {
  ctx: DaemonContext;
  /** recv, progress and cancel: the receiver, or on a cacher node the cacher. */
  receiver: Pick<Receiver, 'progress' | 'cancel'> & { recv(taskfile: string, reactive: boolean): Promise<string>; schedules?(): Promise<ScheduledTask[]> };
  /** Only on a cacher: cprogress. */
  cacher?: Cacher;
  /** Only on a sender. */
  sender?: Sender;
  generator: TaskGenerator;
  /** Re-reads config.json; resolves to the answer's text (what changed), rejects when the file is refused. */
  reloadConfig(): Promise<string>;
  /** The servertype the daemon started with (a reload does not change the parts that run). */
  role: string;
  /** GET /metrics, / and /status.json (src/observe), when they are served on the API address. */
  observe?: ObserveHandler;
}

/** One API call answered in-process, exactly as `POST /<method>` would answer it. */
export type ApiDispatcher = (method: string, params: Record<string, unknown>, messageId?: string) => Promise<ApiResponse>;

/** The content of a `false` answer for this error. */
function falseContent(err: unknown): Record<string, unknown> {
  const content: Record<string, unknown> = { desc: messageOf(err) };
  if (isBft2Error(err) && err.code === 'UNKNOWN_TASK') content.status = 'unknown';
  return content;
}

/** A handler's answer; `ok: false` answers `return_status: "false"` with this content. */
type Handler = (params: Record<string, unknown>) => Promise<Record<string, unknown> & { ok?: boolean }>;

/** Seed methods that later issues provide; asked now they get a clear `false`. */
const NOT_YET: string[] = [];
const MAX_BODY = 1024 * 1024;
/** How much of a body over MAX_BODY is read and discarded, and for how long, before its answer goes out. */
const DRAIN_MAX = 16 * MAX_BODY;
const DRAIN_MS = 10_000;
/** Which roles serve a method (SPEC §1: a sender can also receive); the rest are for all. */
const ROLES_OF: Record<string, readonly string[]> = {
  gentask: ['sender'],
  taskfilesquery: ['sender'],
  send: ['sender'],
  uploadprogress: ['sender'],
  cprogress: ['cacher'],
};
/**
 * Slow or stuck clients must not hold connections forever: the headers within 10 s, the
 * whole request within 30 s, idle keep-alive sockets closed after 5 s.
 */
function apiTimeouts() {
  const headersTimeout = tuning().apiheaders;
  const requestTimeout = Math.max(headersTimeout, tuning().apirequest);
  // Node checks these only every connectionsCheckingInterval (30 s by default).
  return { headersTimeout, requestTimeout, keepAliveTimeout: 5_000, connectionsCheckingInterval: Math.min(1_000, headersTimeout) };
}

/** The API's methods behind one call (the HTTP server's POSTs, and the status page's in-process questions). */
export function createApiDispatcher(deps: ApiDeps): ApiDispatcher {
  const { ctx, receiver } = deps;
  const handlers: Record<string, Handler> = {
    recv: async (p) => {
      const taskfile = requireParam(p, 'taskfile');
      // reactive true restarts a same-name task (a cacher: its seed clock).
      return { desc: await receiver.recv(taskfile, parseReactive(p, false)) };
    },
    cprogress: async (p) => deps.cacher!.cprogress(requireParam(p, 'taskfile')),
    progress: async (p) => receiver.progress(requireParam(p, 'taskfile')),
    cancel: async (p) => {
      // The seed: a download is cancelled first, else an upload.
      const taskfile = requireParam(p, 'taskfile');
      const task = path.basename(taskfile).replace(/\.task\.json$/, '');
      const desc = await receiver.cancel(taskfile);
      if (desc.startsWith('no need to cancel, not found task') && deps.sender) return { desc: (await deps.sender.cancel(task)) ?? desc };
      return { desc };
    },
    send: async (p) => {
      const taskfile = requireParam(p, 'taskfile');
      const reactive = parseReactive(p, true);
      return { desc: await deps.sender!.send(taskfile, reactive) };
    },
    uploadprogress: async (p) => deps.sender!.uploadprogress(requireParam(p, 'taskfile')),
    gentask: async (p) => ({ desc: await deps.generator.start(p) }),
    taskfilesquery: async (p) => deps.generator.query(p),
  };

  return async (method, params, messageId = '') => {
    try {
      const handler = handlers[method];
      if (!handler) throw NOT_YET.includes(method) ? errors.METHOD_NOT_READY(method) : errors.UNKNOWN_METHOD(method);
      const role = deps.role;
      const roles = ROLES_OF[method];
      if (roles && !roles.includes(role)) throw errors.METHOD_NOT_FOR_ROLE(method, role, roles.join(' or '));
      const { ok = true, ...content } = await handler(params);
      return respond(messageId, method, ok, content);
    } catch (err) {
      if (!isBft2Error(err)) ctx.log.error(`api ${method}: unexpected ${err instanceof Error ? err.stack : String(err)}`);
      return respond(messageId, method, false, falseContent(err));
    }
  };
}

export function createApiServer(deps: ApiDeps): http.Server {
  const { ctx } = deps;
  const dispatch = createApiDispatcher(deps);
  const getRoutes: Record<string, () => Promise<string>> = {
    '/heartbeat': async () => JSON.stringify(`${formatLocalTime()} is living.`),
    '/version': async () => ctx.version,
    // How the node watches its directories: `inotify`, or `polling (inotify limit)` with the polled directories.
    '/health': async () => JSON.stringify({ watching: watchMode(), polled: polledDirs() }),
    '/showschedules': async () => formatShowSchedules(new Date(ctx.scheduler.now()), (await deps.receiver.schedules?.()) ?? []),
    '/reloadconf': async () => {
      try {
        return JSON.stringify(await deps.reloadConfig());
      } catch (err) {
        return JSON.stringify(reloadRefusedAnswer(messageOf(err)));
      }
    },
  };

  const server = http.createServer({ ...apiTimeouts(), maxHeaderSize: 16 * 1024 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://api');
    const send = (status: number, body: string, type = 'application/json; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (deps.observe?.(req, res)) return;
    // GET routes; reloadconf also by POST (the seed's TMS integrations send either).
    if (req.method === 'GET' || (req.method === 'POST' && url.pathname === '/reloadconf')) {
      const route = getRoutes[url.pathname];
      if (!route) return send(404, JSON.stringify(`not found: ${url.pathname}`));
      req.resume();
      const plain = url.pathname === '/version' || url.pathname === '/showschedules';
      route().then((body) => send(200, body, plain ? 'text/plain; charset=utf-8' : undefined), (err) => send(500, JSON.stringify(messageOf(err))));
      return;
    }
    if (req.method !== 'POST') return send(405, JSON.stringify('use POST /<method> or GET /heartbeat, /version, /health, /reloadconf'));

    const pathMethod = url.pathname.replace(/^\/+/, '');
    const answerFalse = (messageId: string, method: string, err: unknown) => {
      send(200, JSON.stringify(respond(messageId, method, false, falseContent(err))));
    };
    // A body over the cap is refused without being kept: the rest is read and thrown away
    // (up to DRAIN_MAX bytes and DRAIN_MS), then the `false` answer goes out with
    // `Connection: close`. Answered while the client was still writing, the close made its
    // next write fail with ECONNRESET, and it never read the answer. Past those bounds
    // (a client streaming gigabytes) it is answered at once and the connection dropped.
    const declared = Number(req.headers['content-length'] ?? 0);
    const chunks: Buffer[] = [];
    let size = 0;
    let draining = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const answerTooLarge = () => {
      clearTimeout(drainTimer);
      if (res.headersSent) return;
      res.setHeader('connection', 'close');
      answerFalse('', pathMethod, errors.REQUEST_BAD_ENVELOPE(`body larger than ${MAX_BODY} bytes`));
    };
    const giveUp = () => {
      answerTooLarge();
      // Node closes the connection once the answer is written (Connection: close).
      req.pause();
    };
    const drain = () => {
      draining = true;
      chunks.length = 0;
      drainTimer = setTimeout(giveUp, DRAIN_MS);
    };
    res.once('close', () => clearTimeout(drainTimer));
    if (declared > DRAIN_MAX) return giveUp();
    if (declared > MAX_BODY) drain();
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (draining) {
        if (size > DRAIN_MAX) giveUp();
        return;
      }
      if (size <= MAX_BODY) return void chunks.push(c);
      drain();
    });
    req.on('error', () => res.destroy());
    req.on('end', async () => {
      if (draining) return answerTooLarge();
      let request;
      try {
        request = parseRequest(Buffer.concat(chunks).toString('utf8'), pathMethod);
      } catch (err) {
        return answerFalse('', pathMethod, err);
      }
      send(200, JSON.stringify(await dispatch(request.method, request.params, request.messageId)));
    });
  });
  return server;
}
