// winston loggers: the daemon's bftv2.log (and the console with `daemon --console`), the
// hash watcher's mhashtable.log. Nothing else opens log files.
// Log files are written by our own transport (below) for two reasons winston's File
// transport does not cover: `reopenLogs` (SIGHUP after logrotate renamed the file: the
// next line goes to a new file at the original path), and a size cap that holds even
// without logrotate, so a log can never fill the disk.
import winston from 'winston';
import type TransportStream from 'winston-transport';
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { formatLocalTime } from '../util/time.ts';
import { tuning } from '../config/tuning.ts';

export type Logger = winston.Logger;

const MESSAGE = Symbol.for('message');
const line = winston.format.printf((info) => `${formatLocalTime(new Date())} ${info.level}: ${info.message}`);

// winston exports the transport base class as `Transport`; its typings call it `transport`.
// (winston-transport is winston's own dependency: imported for its type only.)
const TransportBase = (winston as unknown as { Transport: typeof TransportStream }).Transport;

/**
 * Appends lines to one file with synchronous writes (a daemon logs a few lines a second;
 * synchronous writes keep lines whole and in order across a reopen). When the file grows
 * past `maxBytes` it becomes `<file>.old` (replacing the previous one) and a new file is
 * started: at most about twice the cap per log, with or without logrotate.
 */
export class ReopenableFileTransport extends TransportBase {
  private fd: number | undefined;
  private size = 0;
  constructor(
    readonly filename: string,
    readonly maxBytes: number,
  ) {
    super();
    this.open();
  }

  private open(): void {
    mkdirSync(path.dirname(this.filename), { recursive: true });
    this.fd = openSync(this.filename, 'a');
    this.size = fstatSync(this.fd).size;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }

  /** Closes the file and opens the path again: after a rename by logrotate, a new file. */
  reopen(): void {
    this.closeFd();
    this.open();
  }

  override log(info: Record<PropertyKey, unknown>, next: () => void): void {
    const text = `${String(info[MESSAGE] ?? info.message)}\n`;
    try {
      if (this.fd === undefined) this.open();
      const buf = Buffer.from(text);
      writeSync(this.fd!, buf);
      this.size += buf.length;
      if (this.size > this.maxBytes) {
        this.closeFd();
        renameSync(this.filename, `${this.filename}.old`);
        this.open();
      }
    } catch {
      // A full disk or a vanished directory must not take the daemon down with it;
      // the next line tries again from a fresh open.
      this.closeFd();
    }
    setImmediate(() => this.emit('logged', info));
    next();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeFd();
    callback();
  }

  override close(): void {
    this.closeFd();
  }
}

/** The size at which a log file is set aside as `<file>.old` (config tuning.logmax). */
export function logMaxBytes(): number {
  return tuning().logmax;
}

export function createLogger(file: string, opts: { console?: boolean; level?: string } = {}): Logger {
  const transports: winston.transport[] = [new ReopenableFileTransport(file, logMaxBytes())];
  if (opts.console) transports.push(new winston.transports.Console());
  return winston.createLogger({ level: opts.level ?? process.env.BFT2_LOG_LEVEL ?? 'info', format: line, transports });
}

/** Reopens every log file of these loggers (SIGHUP). */
export function reopenLogs(...loggers: Logger[]): void {
  for (const l of loggers) for (const t of l.transports) if (t instanceof ReopenableFileTransport) t.reopen();
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
