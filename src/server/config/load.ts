/**
 * Reading a config: from a file (YAML, or JSON), or the built-in default
 * that `capstan serve` runs with no `--config`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { capstanError } from '../../errors.js';
import { resolveConfig, type Overrides, type ResolvedConfig } from './resolve.js';
import { inMemorySource, parseConfigText, type ConfigSource } from './source.js';

/** What `capstan serve` runs without `--config`; docs/server.md shows it as YAML. */
export const DEFAULT_CONFIG = {
  listeners: [
    { name: 'echo-lp4', transport: 'tcp', port: 7000, codec: 'lp4', plugin: 'echo' },
    { name: 'echo-line', transport: 'tcp', port: 7001, codec: 'line', plugin: 'echo' },
    { name: 'echo-tls', transport: 'tls', port: 7443, codec: 'lp4', plugin: 'echo' },
    { name: 'echo-udp', transport: 'udp', port: 7002, plugin: 'echo' },
    { name: 'echo-ws', transport: 'tcp', port: 7080, websocket: { endpoints: [{ path: '*', plugin: 'echo', perMessageDeflate: true }] } },
  ],
  admin: { host: '127.0.0.1', port: 9100 },
} as const;

export const DEFAULT_CONFIG_NAME = '(built-in default)';

/** Reads and parses a config file; unreadable or unparsable files are `ERR_CONFIG`. */
export async function readConfigSource(file: string): Promise<ConfigSource> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw capstanError('ERR_CONFIG', `${file}: cannot read the config file: ${why}`, { path: '', cause: err });
  }
  return parseConfigText(file, dirname(path), text);
}

/** The built-in default config as a source (relative paths resolve against the working directory). */
export function defaultConfigSource(): ConfigSource {
  return inMemorySource(DEFAULT_CONFIG_NAME, process.cwd(), structuredClone(DEFAULT_CONFIG));
}

/** Reads, checks and resolves a config file (or the default when `file` is undefined). */
export async function loadConfig(file: string | undefined, overrides: Overrides = {}): Promise<ResolvedConfig> {
  const source = file === undefined ? defaultConfigSource() : await readConfigSource(file);
  return resolveConfig(source, overrides);
}
