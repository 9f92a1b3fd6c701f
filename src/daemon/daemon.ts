// The daemon: loads the config, takes the root's daemon lock, creates the spool tree and
// starts every part (receiver and sender spools, API, HTTP origin). Its only logic is the
// wiring and an orderly stop; everything else lives in the parts.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type http from 'node:http';
import lockfile from 'proper-lockfile';
import { Paths } from '../config/paths.ts';
import { loadConfig } from '../config/load-config.ts';
import type { Config } from '../config/schema.ts';
import { createLogger, closeLogger, reopenLogs, type Logger } from '../log/logger.ts';
import { unknownConfigKeys, describeUnknownKey } from '../config/config-keys.ts';
import { readVersion } from '../util/version.ts';
import { errors, messageOf } from '../errors/catalogue.ts';
import { Receiver } from '../roles/receiver/receiver.ts';
import { Cacher } from '../roles/cacher/cacher.ts';
import { WindowScheduler } from '../schedule/window-scheduler.ts';
import { Sender } from '../roles/sender/sender.ts';
import { TaskGenerator } from '../roles/sender/gentask.ts';
import { createObsPublisher } from '../roles/sender/obs-publisher.ts';
import { createBtClient, type BtClient } from '../transfer/bt/bt-client.ts';
import { startTracker, type RunningTracker } from '../transfer/bt/tracker.ts';
import { checkBtLibraries } from '../transfer/bt/patches/versions.ts';
import { createApiServer, createApiDispatcher } from '../api/server.ts';
import { startOrigin } from '../origin/http-origin.ts';
import { HashTableStore } from '../hashtable/hash-table.ts';
import { hashWorkers } from '../hashing/hash-workers.ts';
import { HashWatcher } from '../hashtable/hash-watcher.ts';
import type { DaemonContext } from './context.ts';
import { TransferCaps } from '../download/transfer-caps.ts';
import { Observability } from '../observe/observability.ts';
import { startGcGovernor, gcExposed } from './gc-governor.ts';


function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}

export interface RunningDaemon {
  stop(): Promise<void>;
  /** Reopens the log files (SIGHUP, after logrotate renamed them). */
  reopenLogs(): void;
}

/** One warning naming the keys the schema does not know (SPEC §3: not an error). */
function warnUnknownKeys(config: Config, log: Logger): void {
  const unknown = unknownConfigKeys(config as Record<string, unknown>);
  if (unknown.length) log.warn(`config.json: unknown keys, ignored: ${unknown.map(describeUnknownKey).join(', ')}`);
}

export async function startDaemon(root: string, opts: { console?: boolean } = {}): Promise<RunningDaemon> {
  // bft2 patches BitTorrent library internals written for exact versions: another install does not start.
  checkBtLibraries();
  const paths = new Paths(root);
  let config: Config = await loadConfig(paths.configFile);
  for (const dir of paths.allDirs(config)) await mkdir(dir, { recursive: true });
  const log: Logger = createLogger(paths.daemonLog, { console: opts.console });

  let releaseDaemonLock: () => Promise<void>;
  try {
    releaseDaemonLock = await lockfile.lock(path.join(paths.lockDir, 'daemon'), {
      realpath: false,
      lockfilePath: path.join(paths.lockDir, 'daemon.lock'),
      // After a kill -9 the old lock goes stale within 5 s; a restart waits that long rather
      // than failing, while a second live daemon (which keeps its lock fresh) is refused.
      stale: 5_000,
      update: 1_000,
      retries: { retries: 8, factor: 1, minTimeout: 1_000, maxTimeout: 1_000 },
      onCompromised: (err) => log.error(`daemon lock compromised: ${err.message}`),
    });
  } catch {
    throw errors.DAEMON_RUNNING(paths.root);
  }
  // Keeps the garbage V8 would let pile up within the RSS budget (needs --expose-gc: scripts/bft2).
  const gcGovernor = startGcGovernor();
  if (!gcExposed()) log.warn('node was started without --expose-gc (scripts/bft2 passes it): garbage is left to V8, which lets up to 64 MB of it pile up before it collects');

  const scheduler = new WindowScheduler({ onError: (err, key) => log.error(`window scheduler (${key}): ${messageOf(err)}`) });
  const caps = new TransferCaps(() => config, log);
  caps.reconfigure();
  const hashLog = createLogger(paths.hashLog, { console: opts.console });
  const version = await readVersion();
  // ----- observability (src/observe): metrics, recent log lines; routes wired below -----
  const observe = new Observability({ paths, config: () => config, version, log, moreLogs: { mhashtable: hashLog } });
  warnUnknownKeys(config, log);
  const ctx: DaemonContext = { paths, config: () => config, log, version, metrics: observe.metrics, scheduler, caps };
  const hashStore = new HashTableStore(paths, hashLog);
  const hashWatcher = new HashWatcher(paths.basedata(config), () => config, hashStore, hashWorkers, hashLog);
  // One BitTorrent client for the node: the sender seeds with it, the receiver downloads
  // and seeds. Made at start on nodes that are BitTorrent peers anyway (below), else on
  // first use; a failed start (port in use) is tried again at the next use.
  let btClient: Promise<BtClient> | undefined;
  const bt = () =>
    (btClient ??= createBtClient({ port: config.btport, log, role: config.servertype }).then(
      (c) => {
        caps.attachBt(c);
        return observe.metrics.watchBtClient(c);
      },
      (err: unknown) => {
        btClient = undefined;
        throw err;
      },
    ));
  // A cacher uses the receiver spool but runs its own pipeline (SPEC §5), never the receiver's.
  const cacher = config.servertype === 'cacher' ? new Cacher(ctx, bt) : undefined;
  const receiver = cacher ? undefined : new Receiver(ctx, hashStore, bt);
  let tracker: RunningTracker | undefined;
  if (config.embeddedtracker) {
    const t = splitHostPort(config.embeddedtracker);
    // Peers announce every minute, not every ten (the package's default): a cinema that first
    // heard only of the centre learns of the cachers soon after they join (SPEC §5).
    tracker = await startTracker({ host: t.host, port: t.port, log, intervalMs: 60_000 });
  }
  const sender = config.servertype === 'sender' ? new Sender(ctx, hashStore, await bt(), createObsPublisher(ctx)) : undefined;

  const reloadConfig = async () => {
    const next = await loadConfig(paths.configFile);
    const restartNeeded = (['servertype', 'receiverstoreplan', 'basedatapath', 'apilisten', 'httporigin', 'machinetype', 'btport', 'embeddedtracker', 'metricslisten'] as const).filter((k) => next[k] !== config[k]);
    config = next;
    caps.reconfigure();
    warnUnknownKeys(config, log);
    log.info(`config reloaded${restartNeeded.length ? `; ${restartNeeded.join(', ')} take effect after a restart` : ''}`);
  };

  const generator = new TaskGenerator(ctx, hashStore);
  const apiDeps = { ctx, receiver: (cacher ?? receiver)!, cacher, sender, generator, reloadConfig, role: config.servertype };
  // ----- observability: /metrics, / and /status.json on the API address, or on metricslisten -----
  const observeHandler = observe.handler({ ask: createApiDispatcher(apiDeps), hashTable: hashStore });
  const api = createApiServer({ ...apiDeps, observe: config.metricslisten ? undefined : observeHandler });
  if (config.metricslisten) await observe.listen(config.metricslisten, observeHandler);
  const { host, port } = splitHostPort(config.apilisten);
  await new Promise<void>((resolve, reject) => {
    api.once('error', reject);
    api.listen(port, host, () => resolve());
  });
  api.on('error', (err) => log.error(`api: ${err.message}`));

  let origin: { close(): Promise<void> } | undefined;
  if (config.httporigin) {
    const o = splitHostPort(config.httporigin);
    origin = await startOrigin({ rootDir: paths.map('/data/dcp'), host: o.host, port: o.port });
    log.info(`http origin serving ${paths.map('/data/dcp')} at http://${config.httporigin}/dcp/`);
  }

  await hashWatcher.start();
  await receiver?.start();
  await cacher?.start();
  // A cacher, and a receiver that seeds what it receives (receiverseed, the default), listen
  // for peers from their start, as a BitTorrent client does; and a task's BitTorrent share
  // then starts with its other methods: loading webtorrent took 0.4-0.9 s at the first task,
  // which in the lab's hybrid bench was BitTorrent starting that much after OBS and the CDN.
  if (cacher || (receiver && config.receiverseed)) bt().catch((err) => log.error(`bt: ${messageOf(err)}`));
  await sender?.start();
  log.info(`bft2 ${ctx.version} started: ${config.servertype} on root ${paths.root}, api ${config.apilisten}`);

  let stopping: Promise<void> | undefined;
  return {
    reopenLogs: () => {
      reopenLogs(log, hashLog);
      log.info('log files reopened');
    },
    stop: () =>
      (stopping ??= (async () => {
        log.info('bft2 stopping');
        await new Promise<void>((resolve) => (api as http.Server).close(() => resolve()));
        await observe.close();
        await origin?.close();
        await sender?.stop();
        await receiver?.stop();
        await cacher?.stop();
        scheduler.close();
        if (btClient) await (await btClient.catch(() => undefined))?.close();
        await tracker?.close();
        await hashWatcher.close();
        await hashWorkers.close();
        caps.close();
        await releaseDaemonLock().catch(() => {});
        gcGovernor?.stop();
        await Promise.all([log, hashLog].map((l) => closeLogger(l)));
      })().catch((err) => {
        console.error(`error while stopping: ${messageOf(err)}`);
      })),
  };
}
