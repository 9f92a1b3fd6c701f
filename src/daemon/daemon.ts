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
import { watchAnnounces } from '../transfer/bt/patches/announce-events.ts';
import { AnnounceRetry } from '../transfer/bt/announce-retry.ts';
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
import { CrashGuard } from '../spool/crash-guard.ts';
import { setTuning } from '../config/tuning.ts';
import { usingConfigKey, probeTcpPort } from './config-failures.ts';
import { splitHostPort } from '../config/addresses.ts';
import { planReload, reloadLogLine, reloadAnswer } from '../config/reload-plan.ts';


export interface RunningDaemon {
  stop(): Promise<void>;
  /**
   * An exception no task caught: logged with its stack, then the process ends (exit 70) and
   * systemd starts it again; the crash guard sets aside a task that does this twice in a row.
   */
  fatal(kind: string, err: unknown): void;
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
  setTuning(config.tuning);
  const store = paths.basedata(config);
  for (const dir of paths.allDirs(config)) {
    // The store's path comes from config.json (basedatapath); the rest is the root's fixed layout.
    const ofStore = dir === store || dir.startsWith(store + path.sep);
    await (ofStore ? usingConfigKey('basedatapath', config.basedatapath, `cannot create ${dir}`, () => mkdir(dir, { recursive: true })) : mkdir(dir, { recursive: true }));
  }
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
  const guard = await CrashGuard.open(path.dirname(paths.lockDir), log);

  const scheduler = new WindowScheduler({ onError: (err, key) => log.error(`window scheduler (${key}): ${messageOf(err)}`) });
  const caps = new TransferCaps(() => config, log);
  caps.reconfigure();
  const hashLog = createLogger(paths.hashLog, { console: opts.console });
  const version = await readVersion();
  // ----- observability (src/observe): metrics, recent log lines; routes wired below -----
  const observe = new Observability({ paths, config: () => config, version, log, moreLogs: { mhashtable: hashLog } });
  warnUnknownKeys(config, log);
  const ctx: DaemonContext = { paths, config: () => config, log, version, metrics: observe.metrics, trackers: observe.trackers, scheduler, caps, guard };
  const hashStore = new HashTableStore(paths, hashLog);
  const hashWatcher = new HashWatcher(paths.basedata(config), () => config, hashStore, hashWorkers, hashLog);
  // One BitTorrent client for the node: the sender seeds with it, the receiver downloads
  // and seeds. Made at start on a sender (it seeds what it publishes) or with `btatstart`,
  // else at first use (a download, or a stored DCP or cacher share to seed again at start):
  // an idle receiver or cacher does not carry webtorrent (docs/performance.md, "An idle
  // daemon"). A failed start (port in use) is tried again at the next use.
  let btClient: Promise<BtClient> | undefined;
  const bt = () =>
    (btClient ??= createBtClient({ port: config.btport, log, role: config.servertype }).then(
      (c) => {
        caps.attachBt(c);
        watchAnnounces(c, observe.trackers);
        watchAnnounces(c, new AnnounceRetry(c));
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
    tracker = await usingConfigKey('embeddedtracker', config.embeddedtracker, 'cannot listen there', () => startTracker({ host: t.host, port: t.port, log, intervalMs: 60_000 }), log);
  }
  // A receiver that seeds and a cacher make their client later (unless `btatstart`): its
  // port is tried now, so that a port in use is a start-up error naming the key, as on a sender.
  const btLater = cacher !== undefined || (receiver !== undefined && config.receiverseed);
  if (config.servertype !== 'sender' && config.btatstart) await usingConfigKey('btport', String(config.btport), 'cannot listen on it', bt, log);
  else if (btLater && config.servertype !== 'sender' && config.btport > 0) await usingConfigKey('btport', String(config.btport), 'cannot listen on it', () => probeTcpPort(config.btport), log);
  const sender = config.servertype === 'sender' ? new Sender(ctx, hashStore, await usingConfigKey('btport', String(config.btport), 'cannot listen on it', bt, log), createObsPublisher(ctx)) : undefined;

  // reloadconf: the keys marked `reload: 'restart'` in config-keys.ts keep their running
  // value (the parts read them once at start); a file that fails validation changes nothing.
  const reloadConfig = async (): Promise<string> => {
    let next: Config;
    try {
      next = await loadConfig(paths.configFile);
    } catch (err) {
      log.warn(`reloadconf refused, the running config stays in force: ${messageOf(err)}`);
      throw err;
    }
    const plan = planReload(config, next);
    config = plan.config;
    setTuning(config.tuning);
    caps.reconfigure();
    warnUnknownKeys(config, log);
    log.info(reloadLogLine(plan));
    return reloadAnswer(plan);
  };

  const generator = new TaskGenerator(ctx, hashStore);
  const apiDeps = { ctx, receiver: (cacher ?? receiver)!, cacher, sender, generator, reloadConfig, role: config.servertype };
  // ----- observability: /metrics, / and /status.json on the API address, or on metricslisten -----
  const observeHandler = observe.handler({ ask: createApiDispatcher(apiDeps), hashTable: hashStore });
  const api = createApiServer({ ...apiDeps, observe: config.metricslisten ? undefined : observeHandler });
  const { host, port } = splitHostPort(config.apilisten);
  await usingConfigKey('apilisten', config.apilisten, 'cannot listen there', () =>
    new Promise<void>((resolve, reject) => {
      api.once('error', reject);
      api.listen(port, host, () => {
        api.off('error', reject);
        resolve();
      });
    }), log);
  api.on('error', (err) => log.error(`api: ${err.message}`));
  if (config.metricslisten) await usingConfigKey('metricslisten', config.metricslisten, 'cannot listen there', () => observe.listen(config.metricslisten, observeHandler), log);

  let origin: { close(): Promise<void> } | undefined;
  if (config.httporigin) {
    const o = splitHostPort(config.httporigin);
    origin = await usingConfigKey('httporigin', config.httporigin, 'cannot listen there', () => startOrigin({ rootDir: paths.map('/data/dcp'), host: o.host, port: o.port, ...(sender ? { onServed: (p: string, n: number) => sender.servedByOrigin(p, n) } : {}) }), log);
    log.info(`http origin serving ${paths.map('/data/dcp')} at http://${config.httporigin}/dcp/`);
  }

  await hashWatcher.start();
  await receiver?.start();
  await cacher?.start();
  await sender?.start();
  log.info(`bft2 ${ctx.version} started: ${config.servertype} on root ${paths.root}, api ${config.apilisten}`);

  let stopping: Promise<void> | undefined;
  return {
    fatal: (kind, err) => {
      log.error(`${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; the daemon stops (a task running at two such stops in a row is set aside at the next start)`);
      void Promise.race([closeLogger(log), new Promise((r) => setTimeout(r, 1000))]).finally(() => process.exit(70));
    },
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
        await guard.close();
        await releaseDaemonLock().catch(() => {});
        await Promise.all([log, hashLog].map((l) => closeLogger(l)));
      })().catch((err) => {
        console.error(`error while stopping: ${messageOf(err)}`);
      })),
  };
}
