/**
 * The server's structured logs: one pino logger per process, each line with
 * `worker` (`main` in single-process mode, `primary`, or the worker id) so the
 * lines of every process can share one stream and still be told apart.
 *
 * Writes are synchronous: the server logs events (starts, stops, abnormal
 * closes, rate-limited), not traffic, and a line must not be lost when a
 * worker exits right after writing it. Each line is one write, so lines from
 * several processes on one pipe or file do not interleave.
 */
import { pino } from 'pino';
import type { Logger } from '../logger.js';
import type { LogLevel } from './config/schema.js';

export interface LoggingOptions {
  level: LogLevel;
  /** `stderr`, `stdout`, or a file path (appended to). */
  destination: string;
}

/** A pino logger for this process; assigning its `level` changes it (SIGHUP applies a new `logging.level` this way). */
export function createServerLogger(options: LoggingOptions, worker: string): Logger {
  const dest =
    options.destination === 'stderr' || options.destination === 'stdout'
      ? pino.destination({ dest: options.destination === 'stderr' ? 2 : 1, sync: true })
      : pino.destination({ dest: options.destination, append: true, mkdir: true, sync: true });
  return pino({ level: options.level, base: { name: 'capstan', pid: process.pid, worker } }, dest);
}
