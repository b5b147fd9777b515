/**
 * What the application server's commands share: the flags every one takes,
 * parsing with our one-line usage errors, and the overrides those flags make.
 */
import { readFileSync } from 'node:fs';
import { parseFlags, usageError, type FlagSpec, type ParsedFlags } from '../cli-args.js';
import { isCapstanError } from '../errors.js';
import type { Overrides } from './config/resolve.js';
import { LOG_LEVELS, type LogLevel } from './config/schema.js';
import { EXIT } from './serve.js';

export { EXIT };

/** Flags every config-reading command takes. */
export const COMMON: FlagSpec = {
  config: { type: 'string', short: 'c' },
  workers: { type: 'string', short: 'w' },
  'port-offset': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** The package version, from package.json. */
export function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Parsed flags; `_` holds the positional arguments joined by spaces. */
export type Values = ParsedFlags['values'] & { _: string };

/** Parses argv; a bad command line is reported (one line and where the help is) and yields `null`. */
export function parse(command: string, argv: string[], options: FlagSpec, positionals = false): Values | null {
  try {
    const { values, positionals: rest } = parseFlags(argv, options, positionals);
    return { ...values, _: rest.join(' ') };
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    usageError(`capstan ${command}`, err.message);
    return null;
  }
}

/** Turns the shared flags into config overrides; null (after printing why) when one is malformed. */
export function overridesFrom(command: string, v: Values): Overrides | null {
  const o: Overrides = {};
  const bad = (msg: string) => {
    usageError(`capstan ${command}`, msg);
    return null;
  };
  if (typeof v.workers === 'string') {
    if (v.workers === 'auto') o.workers = 'auto';
    else if (/^[1-9][0-9]{0,2}$/.test(v.workers) && Number(v.workers) <= 256) o.workers = Number(v.workers);
    else return bad(`--workers takes auto or a number from 1 to 256, not ${JSON.stringify(v.workers)}`);
  }
  if (typeof v['port-offset'] === 'string') {
    if (!/^-?[0-9]{1,5}$/.test(v['port-offset'])) return bad(`--port-offset takes a whole number, not ${JSON.stringify(v['port-offset'])}`);
    o.portOffset = Number(v['port-offset']);
  }
  if (typeof v['log-level'] === 'string') {
    if (!(LOG_LEVELS as readonly string[]).includes(v['log-level'])) return bad(`--log-level takes one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(v['log-level'])}`);
    o.logLevel = v['log-level'] as LogLevel;
  }
  return o;
}

/** Prints `text` on stdout (help, version); the exit status for it. */
export function help(text: string): number {
  process.stdout.write(text);
  return EXIT.ok;
}
