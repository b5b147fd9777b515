/**
 * The command line of every `capstan` subcommand: Node's `parseArgs`, with a
 * mistake reported as one line a person can act on instead of Node's own
 * text, and a pointer to the command's help:
 *
 * ```
 * capstan serve: unknown option --confg (did you mean --config?)
 * Run "capstan serve --help" for the options.
 * ```
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Writable } from 'node:stream';
import { capstanError } from './errors.js';
import { didYouMean } from './suggest.js';

/** The flags a command takes, in `parseArgs` form. */
export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Exit status of a bad command line. */
export const USAGE_EXIT = 2;

/**
 * Parses `argv` against `flags`.
 * @throws CapstanError `ERR_INVALID_OPTION` whose message is the one line to show:
 * an unknown option (with the nearest known one), a missing or unwanted value,
 * or a positional argument where none is taken.
 */
export function parseFlags(argv: readonly string[], flags: FlagSpec, allowPositionals = false): ParsedFlags {
  // Lenient first, so every token is seen and named in our words; the strict pass below then cannot fail.
  const { tokens } = parseArgs({ args: [...argv], options: flags, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (!allowPositionals) throw bad(`unexpected argument ${JSON.stringify(t.value)}`);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec = Object.hasOwn(flags, t.name) ? flags[t.name] : undefined;
    if (spec === undefined) {
      const hint = t.rawName.startsWith('--') ? didYouMean(t.name, Object.keys(flags), (g) => `--${g}`).trimEnd() : '';
      throw bad(`unknown option ${t.rawName}${hint === '' ? '' : ` (${hint})`}`, t.name);
    }
    if (spec.type === 'string' && t.value === undefined) throw bad(`option --${t.name} needs a value`, t.name);
    if (spec.type === 'string' && t.inlineValue === false && t.value.startsWith('-')) {
      throw bad(`option --${t.name} needs a value, and ${t.value} looks like another option (write --${t.name}=${t.value} if it is the value)`, t.name);
    }
    if (spec.type === 'boolean' && t.inlineValue === true) throw bad(`option --${t.name} takes no value`, t.name);
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals });
    return { values: values as ParsedFlags['values'], positionals };
  } catch (err) {
    throw bad(((err as Error).message.split('\n')[0] as string).replace(/^\w/, (c) => c.toLowerCase()));
  }
}

function bad(message: string, path?: string) {
  return capstanError('ERR_INVALID_OPTION', message, path === undefined ? undefined : { path });
}

/**
 * Prints a bad command line as `<command>: <message>` and where the help is;
 * returns {@link USAGE_EXIT}. `command` is the command as typed, e.g. `capstan serve`.
 */
export function usageError(command: string, message: string, err: Writable = process.stderr): number {
  err.write(`${command}: ${message}\nRun "${command} --help" for the options.\n`);
  return USAGE_EXIT;
}
