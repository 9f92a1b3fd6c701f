// winston loggers: the daemon's bftv2.log (and the console with `daemon --console`), the
// hash watcher's mhashtable.log. Nothing else opens log files.
import winston from 'winston';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { formatLocalTime } from '../util/time.ts';

export type Logger = winston.Logger;

const line = winston.format.printf((info) => `${formatLocalTime(new Date())} ${info.level}: ${info.message}`);

export function createLogger(file: string, opts: { console?: boolean; level?: string } = {}): Logger {
  mkdirSync(path.dirname(file), { recursive: true });
  const transports: winston.transport[] = [new winston.transports.File({ filename: file })];
  if (opts.console) transports.push(new winston.transports.Console());
  return winston.createLogger({ level: opts.level ?? process.env.BFT2_LOG_LEVEL ?? 'info', format: line, transports });
}

/** A logger that drops everything (for commands that need no log). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** Ends a logger once its file is flushed (at most `waitMs`), without holding the process open longer. */
export function closeLogger(log: Logger, waitMs = 500): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    log.on('finish', () => {
      clearTimeout(timer);
      resolve();
    });
    log.end();
  });
}
