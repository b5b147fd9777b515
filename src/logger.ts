/**
 * The logging contract: the subset of pino's API Capstan calls. Pass any pino
 * logger (or a child of one); the default is a pino logger on stderr at `warn`.
 */
import { pino } from 'pino';

/**
 * What Capstan logs through: any pino logger (or child of one) fits, and so
 * does an adapter to another library.
 *
 * Each method takes the fields first and the message second, as pino does.
 * @category Errors and logging
 */
export interface Logger {
  /** A failure in the server's own code that someone should look at (a handler threw). */
  error(obj: object, msg?: string): void;
  /** A peer or the system caused trouble: refused connections, abnormal closes, accept failures (rate-limited). */
  warn(obj: object, msg?: string): void;
  /** Lifecycle news: listening, reloaded, stopped. */
  info(obj: object, msg?: string): void;
  /** Detail for debugging, off at pino's default levels. */
  debug(obj: object, msg?: string): void;
  /** A logger that adds `bindings` to every line (Capstan adds `listener`, `client`, `component`). */
  child(bindings: Record<string, unknown>): Logger;
}

let fallback: Logger | null = null;

/** The logger used when none is given: pino at level `warn`, writing to stderr. */
export function defaultLogger(): Logger {
  if (fallback === null) fallback = pino({ level: 'warn', base: { name: 'capstan' } }, pino.destination(2)) as unknown as Logger;
  return fallback;
}

/**
 * A logger that drops everything (for tests and embedding).
 * @category Errors and logging
 */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};
