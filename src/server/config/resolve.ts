/**
 * From a parsed config file to a {@link ResolvedConfig}: everything checked
 * and everything read, so nothing can fail for config reasons once binding
 * starts. The result is plain data (it crosses IPC to worker processes).
 *
 * ```
 *  source ─► schema check ─► defaults + overrides ─► cross-checks ─► per listener:
 *            (every issue,    (--workers, --log-level,  (names, ports,  plugin loaded and its options
 *             with line; the   --port-offset)            admin token)   checked, codec built, TLS read
 *             values it rejects
 *             are left out of what follows)
 * ```
 *
 * Every stage runs whatever the stages before it found, and every problem is
 * reported at once as one `ERR_CONFIG`, each line naming the file, the line
 * and column, the key path and what was expected.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { codecFromName } from '../../codecs/registry.js';
import { isCapstanError } from '../../errors.js';
import type { ListenerTransport } from '../../transport/listen.js';
import type { LimitsOptions, TlsServerOptions } from '../../transport/options-schema.js';
import type { UdpLimitsOptions } from '../../transport/udp/limits.js';
import { importPlugin, pluginSpecifier } from '../plugin-loader.js';
import type { Plugin } from '../plugin.js';
import type { ThreadPoolOptions } from '../threads.js';
import { expectation, explain, type ConfigIssue, type ConfigPath } from './explain.js';
import { overlaps, salvage, type Salvaged, type SalvagedListener } from './salvage.js';
import { ConfigSchema, PluginRefSchema, STREAM_LIMIT_KEYS, UDP_LIMIT_KEYS, type LogLevel, type PluginRef } from './schema.js';
import { configError, type ConfigSource } from './source.js';
import { loadTlsMaterial, type TlsMaterial } from './tls-material.js';
import { compression, type CompressionOptions } from '../../pipeline/compression.js';
import { resolveProxyPolicy, type ProxyProtocolOption } from '../../pipeline/proxy-policy.js';
import { checkWebSocket, pluginRefName, type ResolvedWebSocket } from './websocket.js';

/** A plugin as resolved: the reference given, where it loads from, its checked options. */
export interface ResolvedPlugin {
  ref: string;
  /** `builtin:echo` or a `file:` URL. */
  specifier: string;
  options: Record<string, unknown>;
}

export interface ResolvedListener {
  name: string;
  transport: ListenerTransport;
  /** Bind address (tcp, tls). */
  host?: string;
  port?: number;
  /** Absolute socket path (unix). */
  path?: string;
  backlog?: number;
  ipv6Only?: boolean;
  noDelay?: boolean;
  keepAliveMs?: number;
  /** Key material read from files or generated. */
  tls?: TlsServerOptions;
  /** The certificate was generated at start (no files configured). */
  selfSigned?: boolean;
  /** The codec the config names; absent: the plugin's codec, else raw. */
  codec?: { name: string; options: Record<string, unknown> };
  /** The connection handler's plugin; a websocket listener has one per endpoint instead. */
  plugin?: ResolvedPlugin;
  /** WebSocket endpoints, each with its plugin, in place of a codec and handler. */
  websocket?: ResolvedWebSocket;
  /** Stream limits, or for a udp listener the UDP ones (the resolver has checked which keys apply). */
  limits?: LimitsOptions | UdpLimitsOptions;
  /** `tls.watch`: the certificate files to poll. */
  tlsWatch?: TlsMaterial['watch'];
  proxyProtocol?: ProxyProtocolOption;
  /** Key material for `conn.startTls()` (tcp and unix listeners). */
  startTls?: TlsServerOptions;
  compression?: CompressionOptions;
}

export interface ResolvedConfig {
  /** The config file, or `(built-in default)`. */
  file: string;
  dir: string;
  workers: number;
  listeners: ResolvedListener[];
  admin: { host: string; port: number; token?: string } | null;
  logging: { level: LogLevel; destination: string };
  shutdown: { graceMs: number; quietMs: number };
  threads: ThreadPoolOptions;
  workerRestart: { initialDelayMs: number; maxDelayMs: number; stableMs: number };
}

/** Command-line settings that override the file. */
export interface Overrides {
  workers?: number | 'auto';
  logLevel?: LogLevel;
  /** Added to every non-zero port (listeners and admin): runs a second copy beside the first. */
  portOffset?: number;
}

export const DEFAULT_ADMIN_PORT = 9100;
export const DEFAULT_GRACE_MS = 10_000;
export const DEFAULT_QUIET_MS = 250;

/**
 * Checks and resolves a config; throws one `ERR_CONFIG` listing every problem.
 * A value the schema rejects is left out of the later checks, which still run
 * on the rest: one bad key does not hide a duplicate name, an unknown codec or
 * a missing certificate file elsewhere.
 */
export async function resolveConfig(source: ConfigSource, overrides: Overrides = {}): Promise<ResolvedConfig> {
  const schemaIssues = explain(ConfigSchema, source.data);
  const salvaged = salvage(source.data, schemaIssues);
  if (salvaged === undefined) throw configError(source, schemaIssues);
  const config = salvaged.config;
  const issues: ConfigIssue[] = [];
  const offset = overrides.portOffset ?? 0;
  const shift = (port: number | undefined, path: ConfigPath): number | undefined => {
    if (port === undefined || port === 0 || offset === 0) return port;
    const shifted = port + offset;
    if (shifted < 1 || shifted > 65535) issues.push({ path, message: `port ${port} with --port-offset ${offset} gives ${shifted}, outside 1..65535` });
    return shifted;
  };

  const entries: Entry[] = [];
  salvaged.listeners.forEach((l, i) => {
    if (l !== undefined) entries.push({ index: i, config: l, out: baseListener(l, ['listeners', i], source.dir, shift, issues) });
  });
  checkUnique(entries, issues);
  const listeners = entries.map((e) => e.out);
  const admin = resolveAdmin(config, shift, issues);
  if (admin !== null && admin.port !== 0) {
    const clash = entries.find((e) => e.out.transport !== 'udp' && e.out.port === admin.port && sameHost(e.out.host, admin.host));
    if (clash !== undefined) issues.push({ path: ['admin', 'port'], message: `port ${admin.port} is also used by listeners[${clash.index}] (${clash.out.name})` });
  }
  const asked = overrides.workers ?? config.workers ?? 1;
  const workers = asked === 'auto' ? availableParallelism() : asked;
  await Promise.all(entries.map((e) => completeListener(e.config, e.out, ['listeners', e.index], source.dir, issues)));
  const all = [...schemaIssues, ...issues.filter((i) => !schemaIssues.some((s) => overlaps(s.path, i.path)))];
  if (all.length > 0) throw configError(source, all);

  return {
    file: source.file,
    dir: source.dir,
    workers,
    listeners,
    admin,
    logging: { level: overrides.logLevel ?? config.logging?.level ?? 'info', destination: config.logging?.destination ?? 'stderr' },
    shutdown: { graceMs: config.shutdown?.graceMs ?? DEFAULT_GRACE_MS, quietMs: config.shutdown?.quietMs ?? DEFAULT_QUIET_MS },
    threads: { ...config.threads },
    workerRestart: {
      initialDelayMs: config.workerRestart?.initialDelayMs ?? 100,
      maxDelayMs: config.workerRestart?.maxDelayMs ?? 30_000,
      stableMs: config.workerRestart?.stableMs ?? 30_000,
    },
  };
}

/** One listener on its way through the checks, with its position in the file. */
interface Entry {
  index: number;
  config: SalvagedListener;
  out: ResolvedListener;
}

function baseListener(
  l: SalvagedListener,
  at: ConfigPath,
  dir: string,
  shift: (port: number | undefined, path: ConfigPath) => number | undefined,
  issues: ConfigIssue[],
): ResolvedListener {
  const transport: ListenerTransport = l.transport ?? (l.path !== undefined ? 'unix' : l.tls !== undefined ? 'tls' : 'tcp');
  // A missing name is already a schema issue; the rest of the listener is still checked.
  const out: ResolvedListener = { name: l.name ?? '', transport };
  if (l.websocket !== undefined && transport !== 'udp') {
    const ws = checkWebSocket(l.websocket, l.plugin, [...at, 'websocket'], issues);
    if (ws !== undefined) out.websocket = ws;
    if (l.codec !== undefined) issues.push({ path: [...at, 'codec'], atKey: true, message: 'does not apply to a websocket listener: WebSocket brings its own framing' });
  } else if (l.plugin === undefined) issues.push({ path: [...at, 'plugin'], message: `is required (${expectation(PluginRefSchema)})` });
  else out.plugin = { ref: pluginRefName(l.plugin), specifier: '', options: {} };
  if (transport === 'unix') {
    if (l.path === undefined) issues.push({ path: [...at, 'path'], message: 'is required for transport unix (the socket file path)' });
    else out.path = resolve(dir, l.path);
    for (const key of ['host', 'port', 'tls', 'ipv6Only', 'keepAliveMs'] as const) {
      if (l[key] !== undefined) issues.push({ path: [...at, key], atKey: true, message: `does not apply to transport unix` });
    }
  } else {
    if (l.port === undefined) issues.push({ path: [...at, 'port'], message: `is required for transport ${transport} (0 picks a free port)` });
    if (l.path !== undefined) issues.push({ path: [...at, 'path'], atKey: true, message: `is for transport unix, not ${transport}` });
    if (l.tls !== undefined && transport !== 'tls') issues.push({ path: [...at, 'tls'], atKey: true, message: `needs transport tls, not ${transport}` });
    out.host = l.host ?? '127.0.0.1';
    const port = shift(l.port, [...at, 'port']);
    if (port !== undefined) out.port = port;
  }
  checkTransportKeys(l, transport, at, issues);
  if (l.startTls !== undefined && transport === 'tls') issues.push({ path: [...at, 'startTls'], atKey: true, message: 'is for a plaintext listener (tcp or unix) that upgrades mid-stream; transport tls is TLS from the first byte' });
  for (const key of ['backlog', 'ipv6Only', 'noDelay', 'keepAliveMs', 'limits', 'proxyProtocol'] as const) {
    if (l[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = l[key];
  }
  if (l.proxyProtocol !== undefined) {
    // The schema checks the shape; the trusted entries are checked as listen() checks them, before anything binds.
    try {
      resolveProxyPolicy(l.proxyProtocol);
    } catch (err) {
      if (!isCapstanError(err)) throw err;
      issues.push({ path: err.path === undefined ? [...at, 'proxyProtocol'] : [...at, ...err.path.split('.')], message: err.message.replace(/^listen: option \S+ /, '') });
    }
  }
  if (l.compression !== undefined) {
    const options: CompressionOptions = typeof l.compression === 'string' ? { algorithm: l.compression } : l.compression;
    try {
      compression(options);
      out.compression = options;
    } catch (err) {
      if (!isCapstanError(err)) throw err;
      issues.push({ path: typeof l.compression === 'string' || err.path === undefined ? [...at, 'compression'] : [...at, 'compression', err.path], message: err.message });
    }
  }
  return out;
}

/** Stream settings on a udp listener, and limits of the other kind of transport, are mistakes worth naming. */
function checkTransportKeys(l: SalvagedListener, transport: ListenerTransport, at: ConfigPath, issues: ConfigIssue[]): void {
  const udp = transport === 'udp';
  if (udp) {
    for (const key of ['backlog', 'noDelay', 'keepAliveMs', 'startTls', 'compression', 'websocket'] as const) {
      if (l[key] !== undefined) issues.push({ path: [...at, key], atKey: true, message: 'does not apply to transport udp' });
    }
  }
  const foreign = udp ? STREAM_LIMIT_KEYS : UDP_LIMIT_KEYS;
  for (const key of Object.keys(l.limits ?? {})) {
    if (foreign.includes(key)) issues.push({ path: [...at, 'limits', key], atKey: true, message: udp ? 'is a limit of stream transports (tcp, tls, unix), not udp' : `is a limit of transport udp, not ${transport}` });
  }
}

function checkUnique(entries: readonly Entry[], issues: ConfigIssue[]): void {
  entries.forEach(({ index, config, out: l }, i) => {
    const earlier = entries.slice(0, i);
    const named = config.name === undefined ? undefined : earlier.find((e) => e.config.name === config.name);
    if (named !== undefined) issues.push({ path: ['listeners', index, 'name'], message: `duplicate name ${JSON.stringify(l.name)} (also listeners[${named.index}])` });
    const clash =
      l.transport === 'unix'
        ? earlier.find((e) => e.out.path !== undefined && e.out.path === l.path)
        : l.port === undefined || l.port === 0
          ? undefined
          : earlier.find((e) => (e.out.transport === 'udp') === (l.transport === 'udp') && e.out.port === l.port && sameHost(e.out.host, l.host));
    if (clash !== undefined) {
      const key = l.transport === 'unix' ? 'path' : 'port';
      const value = l.transport === 'unix' ? l.path : l.port;
      issues.push({ path: ['listeners', index, key], message: `${key} ${value} is also used by listeners[${clash.index}] (${clash.out.name})` });
    }
  });
}

/** Two bind addresses conflict on one port when either is a wildcard or they are equal. */
function sameHost(a: string | undefined, b: string | undefined): boolean {
  const wildcard = (h: string | undefined) => h === undefined || h === '0.0.0.0' || h === '::';
  return wildcard(a) || wildcard(b) || a === b;
}

function resolveAdmin(config: Salvaged['config'], shift: (port: number | undefined, path: ConfigPath) => number | undefined, issues: ConfigIssue[]): ResolvedConfig['admin'] {
  if (config.admin === false) return null;
  const a = config.admin ?? {};
  const host = a.host ?? '127.0.0.1';
  if (a.token === undefined && !isLoopback(host)) {
    issues.push({ path: ['admin', 'host'], message: `is not a loopback address, so admin.token is required (anyone who reaches ${host} could read the counters)` });
  }
  const port = shift(a.port ?? DEFAULT_ADMIN_PORT, ['admin', 'port']) as number;
  return { host, port, ...(a.token !== undefined ? { token: a.token } : {}) };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}

async function completeListener(l: SalvagedListener, out: ResolvedListener, at: ConfigPath, dir: string, issues: ConfigIssue[]): Promise<void> {
  if (out.websocket !== undefined) await completeEndpoints(l, out.websocket, at, dir, issues);
  let plugin = out.plugin === undefined ? undefined : await resolvePlugin(l.plugin as PluginRef, out.plugin, at, dir, issues);
  if (plugin !== undefined && out.transport === 'udp' && plugin.datagramHandler === undefined) {
    issues.push({ path: pluginAt(l.plugin as PluginRef, at), message: `plugin ${plugin.name} does not serve udp listeners (it has no datagramHandler)` });
    plugin = undefined;
  } else if (plugin !== undefined && out.transport !== 'udp' && plugin.handler === undefined) {
    const serves = plugin.websocket !== undefined ? 'it serves WebSocket: name it under websocket.endpoints' : 'it serves udp listeners only';
    issues.push({ path: pluginAt(l.plugin as PluginRef, at), message: `plugin ${plugin.name} has no handler(ctx) for connections; ${serves}` });
  }
  if (l.codec !== undefined) {
    const name = typeof l.codec === 'string' ? l.codec : l.codec.name;
    const options = typeof l.codec === 'string' ? {} : (l.codec.options ?? {});
    const codecAt = typeof l.codec === 'string' ? [...at, 'codec'] : [...at, 'codec', 'name'];
    if (tryCodec(() => codecFromName(name, options), codecAt, [...at, 'codec', 'options'], issues)) out.codec = { name, options };
  } else if (plugin?.codec !== undefined) {
    const codec = plugin.codec;
    tryCodec(() => codec((out.plugin as ResolvedPlugin).options), [...at, 'plugin'], [...at, 'plugin', 'options'], issues);
  }
  if (out.transport === 'tls') {
    const material = await loadTlsMaterial(l.tls, dir, [...at, 'tls'], issues);
    if (material !== undefined) {
      out.tls = material.tls;
      if (material.selfSigned) out.selfSigned = true;
      if (material.watch !== undefined) out.tlsWatch = material.watch;
    }
  }
  if (l.startTls !== undefined && out.transport !== 'tls') {
    const material = await loadTlsMaterial(l.startTls, dir, [...at, 'startTls'], issues);
    if (material !== undefined) {
      out.startTls = material.tls;
      if (material.selfSigned) out.selfSigned = true;
    }
  }
}

/** Each endpoint's plugin (its own, else the listener's) loaded, its options checked, and its `websocket` entry point present. */
async function completeEndpoints(l: SalvagedListener, ws: ResolvedWebSocket, at: ConfigPath, dir: string, issues: ConfigIssue[]): Promise<void> {
  await Promise.all(
    ws.endpoints.map(async (e, i) => {
      const own = l.websocket?.endpoints[i]?.plugin as PluginRef | undefined;
      const owner = own !== undefined ? [...at, 'websocket', 'endpoints', i] : at;
      const given = (own ?? l.plugin) as PluginRef;
      const plugin = await resolvePlugin(given, e.plugin, owner, dir, issues);
      if (plugin !== undefined && plugin.websocket === undefined) {
        issues.push({ path: pluginAt(given, owner), message: `plugin ${plugin.name} has no websocket(ctx) entry point, so it cannot answer a WebSocket endpoint` });
      }
    }),
  );
}

/** Where the module of a plugin reference is written, below the object `at` that holds its `plugin` key. */
function pluginAt(given: PluginRef, at: ConfigPath): ConfigPath {
  return typeof given === 'string' ? [...at, 'plugin'] : [...at, 'plugin', 'module'];
}

/** Loads the plugin `ref` names into `out`, checking its options; `at` holds the `plugin` key. */
async function resolvePlugin(ref: PluginRef, out: ResolvedPlugin, at: ConfigPath, dir: string, issues: ConfigIssue[]): Promise<Plugin | undefined> {
  const refAt = pluginAt(ref, at);
  const optionsAt = [...at, 'plugin', 'options'];
  const given = typeof ref === 'string' ? undefined : ref.options;
  let plugin: Plugin;
  try {
    out.specifier = pluginSpecifier(out.ref, dir);
    plugin = await importPlugin(out.specifier);
  } catch (err) {
    issues.push({ path: refAt, message: isCapstanError(err) ? err.message : String(err) });
    return undefined;
  }
  if (plugin.options === undefined) {
    if (given !== undefined && Object.keys(given).length > 0) issues.push({ path: optionsAt, message: `plugin ${plugin.name} takes no options` });
    return plugin;
  }
  const options = Value.Default(plugin.options, Value.Clone(given ?? {})) as Record<string, unknown>;
  const optionIssues = explain(plugin.options, options, optionsAt);
  if (optionIssues.length > 0) {
    issues.push(...optionIssues.map((i) => ({ ...i, message: `${i.message} (plugin ${plugin.name})` })));
    return undefined;
  }
  out.options = options;
  return plugin;
}

/** Builds a codec to prove its name and options are good; its error lands on the key it names. */
function tryCodec(build: () => unknown, nameAt: ConfigPath, optionsAt: ConfigPath, issues: ConfigIssue[]): boolean {
  try {
    build();
    return true;
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    const path = err.path === undefined || err.path === 'codec' || err.path === '' ? nameAt : [...optionsAt, ...err.path.split('.')];
    issues.push({ path, message: err.message });
    return false;
  }
}
