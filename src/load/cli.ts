/**
 * `capstan load TARGET [options]`: runs a load, shows progress each second on
 * stderr, prints the final table (or `--json`) on stdout, and exits 0 when the
 * run passes, 1 on errors or an exceeded threshold, 2 on a bad command line.
 * Ctrl-C ends the run early and still reports it; a second Ctrl-C quits.
 */
import { readFileSync } from 'node:fs';
import { usageError } from '../cli-args.js';
import { isCapstanError } from '../errors.js';
import { parseCommand, USAGE, type Command } from './args.js';
import { progressLine, resultTable, violations } from './report.js';
import { runLoad } from './run.js';

export async function main(argv: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
    if (command.caFile !== undefined) command.options.tls = { ...command.options.tls, ca: readFileSync(command.caFile, 'utf8') };
  } catch (err) {
    // A --ca file that cannot be read is a bad command line too.
    const message = isCapstanError(err, 'ERR_INVALID_OPTION') ? err.message : `--ca: ${(err as Error).message}`;
    return usageError('capstan load', message);
  }
  if (command.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('capstan load: stopping (Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const requested = command.options.connections ?? 10;
  try {
    const result = await runLoad(command.options, {
      signal: abort.signal,
      onProgress: command.quiet ? undefined : (p) => process.stderr.write(`${progressLine(p, requested)}\n`),
    });
    process.stdout.write(command.json ? `${JSON.stringify(result)}\n` : resultTable(result));
    const failed = violations(result, command.thresholds);
    for (const why of failed) process.stderr.write(`capstan load: FAIL: ${why}\n`);
    for (const [kind, sample] of Object.entries(result.errorSamples)) process.stderr.write(`capstan load: ${kind}: ${sample}\n`);
    return failed.length > 0 ? 1 : 0;
  } catch (err) {
    if (isCapstanError(err, 'ERR_INVALID_OPTION') || isCapstanError(err, 'ERR_UNKNOWN_OPTION')) {
      return usageError('capstan load', (err as Error).message.replace(/^load: /, ''));
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
