/**
 * The logging contract: pino's calling convention, so any pino logger (or a
 * child of one) can be passed as it is, and code written against pino
 * (`log.info('started')`, `log.warn({ port }, 'port %d taken', port)`)
 * compiles against it. The default is a pino logger on stderr at `warn`.
 */
import { format } from 'node:util';
import { pino } from 'pino';

/**
 * pino's level names, most severe last.
 * @category Errors and logging
 */
export const LOG_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/**
 * One of pino's level names.
 * @category Errors and logging
 */
export type LogMethod = (typeof LOG_METHODS)[number];

/**
 * One level's method, in pino's two forms: a message with printf-style
 * arguments (`%s`, `%d`, `%o`), or an object of fields first (an `Error` is
 * logged as the `err` field) and then the message.
 * @category Errors and logging
 */
export interface LogFn {
  /** Logs `msg`, with `args` filling its `%s`, `%d`, `%o` placeholders: `logger.info('listening on %s', url)`. */
  (msg: string, ...args: unknown[]): void;
  /** Logs the fields of `obj` (an `Error` as the `err` field) with an optional message: `logger.warn({ peer }, 'refused')`. */
  (obj: object, msg?: string, ...args: unknown[]): void;
}

/**
 * What Capstan logs through and hands to plugins as `ctx.logger`: any pino
 * logger (or child of one) fits, and so does an adapter to another library.
 * @category Errors and logging
 */
export interface Logger {
  /** Finest detail, off at pino's default level. */
  trace: LogFn;
  /** Detail for debugging, off at pino's default level. */
  debug: LogFn;
  /** Lifecycle news: listening, reloaded, stopped. */
  info: LogFn;
  /** A peer or the system caused trouble: refused connections, abnormal closes, accept failures (rate-limited). */
  warn: LogFn;
  /** A failure in the server's own code that someone should look at (a handler threw). */
  error: LogFn;
  /** The process cannot go on. */
  fatal: LogFn;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
  /** The least severe level written (`info`, `silent` …); pino changes it on assignment. */
  level: string;
}

let fallback: Logger | null = null;

/** The logger used when none is given: pino at level `warn`, writing to stderr. */
export function defaultLogger(): Logger {
  if (fallback === null) fallback = pino({ level: 'warn', base: { name: 'capstan' } }, pino.destination(2));
  return fallback;
}

/**
 * One log line as {@link functionLogger} hands it over: the bindings and fields merged, the message formatted.
 * @category Errors and logging
 */
export interface LogLine {
  /** The level it was logged at. */
  level: LogMethod;
  /** The logger's bindings and the line's own fields, merged. */
  fields: Record<string, unknown>;
  /** The message with its printf arguments filled in, if there was one. */
  msg: string | undefined;
}

/**
 * A {@link Logger} that passes every line, at every level, to `write` (for
 * bridging to another thread or process, and for tests that look at what was
 * logged). It filters nothing: `level` is only reported.
 */
export function functionLogger(write: (line: LogLine) => void, bindings: Record<string, unknown> = {}, level = 'trace'): Logger {
  const method =
    (name: LogMethod): LogFn =>
    (first: unknown, ...rest: unknown[]) => {
      if (typeof first === 'string') return write({ level: name, fields: { ...bindings }, msg: rest.length === 0 ? first : format(first, ...rest) });
      const fields = first instanceof Error ? { ...bindings, err: first } : { ...bindings, ...(first as object) };
      const [msg, ...args] = rest;
      write({ level: name, fields, msg: msg === undefined ? undefined : args.length === 0 ? String(msg) : format(msg, ...args) });
    };
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    child: (more) => functionLogger(write, { ...bindings, ...more }, level),
    level,
  };
}

const noop = () => {};

/**
 * A logger that drops everything (for tests and embedding).
 * @category Errors and logging
 */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child() {
    return silentLogger;
  },
  level: 'silent',
};
