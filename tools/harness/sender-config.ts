// The config of a sender on loopback that publishes by every method — its own HTTP origin
// (also the CDN, unless the test puts one in front), an embedded tracker, and an s3rver
// bucket `cfec-001` for OBS — with free ports. The e2e tests and benches that need a real
// sender start it with startLoopbackSender and add what they test (autosend, windows, ...).
// Also `gentaskOn`: a task made on such a sender, waited for as far as a test needs.
// Owns nothing on disk but the daemon's root.
import path from 'node:path';
import { freePort, startDaemon, waitFor, type Daemon, type StartDaemonOptions } from './daemon.ts';

export interface LoopbackSender {
  config: Record<string, unknown>;
  /** http://127.0.0.1:<origin port>: the sender's origin, `senderdomain`. */
  origin: string;
}

export async function loopbackSender(s3: { ak: string; sk: string; endpoint: string }, over: Record<string, unknown> = {}): Promise<LoopbackSender> {
  const originPort = await freePort();
  const trackerPort = await freePort();
  const origin = `http://127.0.0.1:${originPort}`;
  return {
    origin,
    config: {
      servertype: 'sender',
      senderdomain: origin,
      cdnurl: origin,
      httporigin: `127.0.0.1:${originPort}`,
      embeddedtracker: `127.0.0.1:${trackerPort}`,
      tracker: `http://127.0.0.1:${trackerPort}/announce`,
      obsurl: 'obs://cfec-001',
      obsak: s3.ak,
      obssk: s3.sk,
      obsendpoint: s3.endpoint,
      obssignature: 'v2',
      obspathstyle: true,
      ...over,
    },
  };
}

/** A sender daemon with the loopback config; `config` adds to it or overrides it. */
export async function startLoopbackSender(
  s3: { ak: string; sk: string; endpoint: string },
  opts: Omit<StartDaemonOptions, 'config'> & { config?: Record<string, unknown> },
): Promise<{ sender: Daemon; origin: string }> {
  const loop = await loopbackSender(s3, opts.config);
  return { sender: await startDaemon({ ...opts, config: loop.config }), origin: loop.origin };
}

/**
 * A sender on loopback as the seed's fleet runs it: its own HTTP origin (also the CDN), no
 * embedded tracker but opentracker at `announceUrl`, whose whitelist it keeps — the tracker
 * started by tools/harness/opentracker.ts in `<root>/etc/opentracker` with its PID file in
 * `<root>/run`. `over` adds to the config or overrides it.
 */
export async function opentrackerSenderConfig(announceUrl: string, over: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const originPort = await freePort();
  return {
    servertype: 'sender',
    senderid: 'cfec',
    senderdomain: `http://127.0.0.1:${originPort}`,
    httporigin: `127.0.0.1:${originPort}`,
    cdnurl: `http://127.0.0.1:${originPort}`,
    tracker: announceUrl,
    trackerwhitelist: '/etc/opentracker/whitelist.txt',
    trackerreload: '/run/opentracker.pid',
    autosend: false,
    ...over,
  };
}

/**
 * gentask of `dcppath` (a DCP directory or a single file of the sender's store) into the
 * sender's `data/sender/tmp/<task>.task.json`, then waits: `made` until taskfilesquery says
 * finished (autosend off), `ready` until uploadprogress says ready (autosend on), `none`
 * not at all. Returns the task file where gentask wrote it.
 */
export async function gentaskOn(
  sender: Daemon,
  o: { dcppath: string; task: string; btobscdn: string; policy?: string; basesubdir?: string; until: 'made' | 'ready' | 'none'; timeoutMs?: number },
): Promise<string> {
  const taskfile = path.join(sender.root, `data/sender/tmp/${o.task}.task.json`);
  const g = await sender.api('gentask', { dcppath: o.dcppath, taskfile, basesubdir: o.basesubdir ?? 'cfec-001', btobscdn: o.btobscdn, policy: o.policy ?? 'fulltime' });
  if (g.return_status !== 'true') throw new Error(`gentask ${o.task}: ${JSON.stringify(g)}`);
  const timeoutMs = o.timeoutMs ?? 60_000;
  if (o.until === 'made') {
    await waitFor(async () => (await sender.api('taskfilesquery', { dcppath: o.dcppath, taskfile })).return_content.status === 'finished' || undefined, { timeoutMs, what: `${o.task} made` });
  } else if (o.until === 'ready') {
    await waitFor(async () => (await sender.api('uploadprogress', { taskfile: `${o.task}.task.json` })).return_content.status === 'ready' || undefined, { timeoutMs, what: `${o.task} ready\n${sender.output()}` });
  }
  return taskfile;
}
