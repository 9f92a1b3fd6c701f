// Start-up failures that a valid config value causes (an address in use or not of this
// machine, a store path that cannot be created) become CONFIG_UNUSABLE naming the key, so
// `bft2 daemon` exits 78 and systemd does not restart it in a loop
// (RestartPreventExitStatus=78). Failures of any other kind pass unchanged (exit 1,
// restarted): a bug is not the operator's to fix in config.json.
// Owns: that classification and its words. Must not touch: what it wraps.
import net from 'node:net';
import { errors, messageOf } from '../errors/catalogue.ts';
import type { Logger } from '../log/logger.ts';

/** Error codes a config value explains, in words an operator acts on. */
const BECAUSE: Record<string, string> = {
  EADDRINUSE: 'another program listens there already (EADDRINUSE)',
  EADDRNOTAVAIL: 'not an address of this machine (EADDRNOTAVAIL)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  ENOTFOUND: 'the host name does not resolve (ENOTFOUND)',
  EAI_AGAIN: 'the host name does not resolve now (EAI_AGAIN)',
  ENOTDIR: 'a part of the path is a file, not a directory (ENOTDIR)',
  EROFS: 'the filesystem is read-only (EROFS)',
  ENOSPC: 'no space left on the device (ENOSPC)',
  EEXIST: 'a file of that name is in the way (EEXIST)',
  ELOOP: 'too many symbolic links (ELOOP)',
  ENAMETOOLONG: 'the path is too long (ENAMETOOLONG)',
};

/** The errno code of an error, also when a wrapper kept it only in its message. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string') return code;
  return /\b(E[A-Z_]{3,})\b/.exec(messageOf(err))?.[1];
}

/** The reason a config value cannot be used, or undefined when the error is not about it. */
export function configReason(err: unknown): string | undefined {
  const code = errnoOf(err);
  return code ? BECAUSE[code] : undefined;
}

/**
 * Runs `action` (a listen, a mkdir) that uses config `key`; a failure the value explains
 * is logged and thrown as CONFIG_UNUSABLE: `cannot start: config.json httporigin
 * "127.0.0.1:18080": cannot listen there: another program listens there already (EADDRINUSE)`.
 */
export async function usingConfigKey<T>(key: string, value: string, doing: string, action: () => Promise<T>, log?: Logger): Promise<T> {
  try {
    return await action();
  } catch (err) {
    const reason = configReason(err);
    if (!reason) throw err;
    const failure = errors.CONFIG_UNUSABLE(key, value, `${doing}: ${reason}`);
    log?.error(failure.message);
    throw failure;
  }
}

/**
 * Whether TCP `port` can be listened on at every address, as the BitTorrent client will
 * (it starts in the background on receivers and cachers, so its own failure would come
 * after the start and only reach the log). Rejects with the listen error.
 */
export function probeTcpPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, () => server.close(() => resolve()));
  });
}
