// The daemon's recent warnings and errors, kept in memory for the status page: a winston
// transport added to the daemon's loggers (bftv2.log, mhashtable.log) keeps the last lines
// of level warn and error in a small ring buffer, and counts them for /metrics.
// Owns: the ring buffer. Must not touch: the log files or the loggers' other transports.
import winston from 'winston';
import type TransportStream from 'winston-transport';
import type { Logger } from '../log/logger.ts';
import { formatLocalTime } from '../util/time.ts';

export interface RecentLine {
  /** Local time, `YYYY-MM-DD HH:MM:SS`. */
  time: string;
  level: 'warn' | 'error';
  /** The log it went to: `bftv2` (daemon) or `mhashtable` (hash watcher). */
  log: string;
  message: string;
}

const MAX_MESSAGE = 1000;
// winston exports the transport base class as `Transport`; its typings call it `transport`.
const TransportBase = (winston as unknown as { Transport: typeof TransportStream }).Transport;

class RingTransport extends TransportBase {
  constructor(
    private readonly sink: (line: RecentLine) => void,
    private readonly logName: string,
  ) {
    super({ level: 'warn' });
  }

  override log(info: Record<PropertyKey, unknown>, next: () => void): void {
    const level = info.level === 'error' ? 'error' : 'warn';
    let message = String(info.message ?? '');
    if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
    this.sink({ time: formatLocalTime(), level, log: this.logName, message });
    next();
  }
}

export class RecentLog {
  private readonly lines: RecentLine[] = [];
  private readonly listeners: ((line: RecentLine) => void)[] = [];

  constructor(private readonly capacity = 100) {}

  /** Keeps this logger's warn and error lines from now on. */
  attach(logger: Logger, logName: string): void {
    logger.add(new RingTransport((line) => this.push(line), logName));
  }

  /** Called for every kept line (the metrics count them). */
  onLine(listener: (line: RecentLine) => void): void {
    this.listeners.push(listener);
  }

  push(line: RecentLine): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
    for (const l of this.listeners) l(line);
  }

  /** Newest first. */
  recent(limit = this.capacity): RecentLine[] {
    return this.lines.slice(-limit).reverse();
  }
}
