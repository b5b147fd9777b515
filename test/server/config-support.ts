/** Resolving config text in tests, as if read from `capstan.yaml` in a directory. */
import assert from 'node:assert/strict';
import { isCapstanError } from '../../src/errors.js';
import { resolveConfig, type ResolvedConfig } from '../../src/server/config/resolve.js';
import { parseConfigText } from '../../src/server/config/source.js';

/** Resolves the config made of `lines`, with relative paths against `dir`. */
export function resolveLines(dir: string, lines: string[]): Promise<ResolvedConfig> {
  return resolveConfig(parseConfigText('capstan.yaml', dir, lines.join('\n')));
}

/** The lines of the `ERR_CONFIG` the config made of `lines` fails with (the test fails if it is accepted). */
export async function configProblems(dir: string, lines: string[]): Promise<string[]> {
  try {
    await resolveLines(dir, lines);
  } catch (err) {
    assert.ok(isCapstanError(err, 'ERR_CONFIG'), `expected ERR_CONFIG, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail('the config was accepted');
}
