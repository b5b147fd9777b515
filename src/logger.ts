/**
 * The logging contract: the subset of pino's API Capstan calls. Pass any pino
 * logger (or a child of one); the default is a pino logger on stderr at `warn`.
 */
import { pino } from 'pino';

export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

let fallback: Logger | null = null;

/** The logger used when none is given: pino at level `warn`, writing to stderr. */
export function defaultLogger(): Logger {
  if (fallback === null) fallback = pino({ level: 'warn', base: { name: 'capstan' } }, pino.destination(2)) as unknown as Logger;
  return fallback;
}

/** A logger that drops everything (for tests and embedding). */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};
