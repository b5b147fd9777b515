/**
 * The listeners of one process, run from a resolved config: start them,
 * change them on reload, stop them on shutdown. The single-process server and
 * every worker process run one of these.
 *
 * Reload compares listeners by name:
 *
 * ```
 *  in both, only TLS  ─► first: Server.updateTls; new connections get the new certificate
 *                        and settings, the socket and open connections stay
 *  in new config only ─► started
 *  in both, same      ─► untouched: its connections never notice
 *  in both, changed   ─► old one stops accepting and drains; the new one binds in its place
 *  in old config only ─► stops accepting and drains (plugin shutdown hook, end when quiet,
 *                         force at the grace deadline), then teardown
 * ```
 *
 * A failure in any step before the removals (new TLS settings refused, a listener that
 * cannot start) rolls back the steps before it: the old set keeps running.
 */
import cluster from 'node:cluster';
import type { Codec } from '../codecs/codec.js';
import { raw } from '../codecs/raw.js';
import { codecFromName } from '../codecs/registry.js';
import { capstanError, isCapstanError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { latencyRecorder } from '../metrics/snapshot.js';
import { watchCertificates, type CertificateWatcher } from '../pipeline/certificate-watch.js';
import { compression } from '../pipeline/compression.js';
import { listen, type CloseResult, type ListenOptions, type Server } from '../transport/listen.js';
import type { UdpServer } from '../transport/udp/options.js';
import { websocket, type WebSocketServer } from '../websocket/server.js';
import type { PublishBackend } from '../pubsub/backend.js';
import type { LimitsOptions, TlsServerOptions } from '../transport/options-schema.js';
import type { UdpLimitsOptions } from '../transport/udp/limits.js';
import type { ResolvedListener, ResolvedPlugin } from './config/resolve.js';
import { importPlugin } from './plugin-loader.js';
import type { Plugin, PluginContext } from './plugin.js';
import { planReload } from './reload-plan.js';
import type { Threads } from './threads.js';
import { pluginEndpoints } from './websocket-endpoints.js';

export interface RuntimeOptions {
  /** `main` or the worker id. */
  worker: string;
  logger: Logger;
  threads: Threads;
  configDir: string;
  /** Bind with SO_REUSEPORT (worker processes that bind their own sockets). */
  reusePort?: boolean;
  /**
   * The pub/sub backend for a WebSocket listener's server, by listener name (a
   * worker's relay to the others); without it, publishes stay in this process.
   */
  pubsub?: (listener: string) => PublishBackend;
}

export interface DrainOptions {
  graceMs: number;
  quietMs: number;
}

/** Where a listener ended up listening, for the console and the primary. */
export interface ListenerAddress {
  name: string;
  transport: string;
  /** `127.0.0.1:7000`, `[::1]:7000` or a socket path. */
  address: string;
  codec: string;
  plugin: string;
  selfSigned: boolean;
}

/** What a reload changed. */
export interface ReloadResult {
  /** Listeners started: added ones and the replacements of changed ones. */
  started: ListenerAddress[];
  /** Listeners stopped: removed and replaced ones (their connections drain). */
  stopped: string[];
  /** Listeners that took new TLS settings in place, their connections untouched. */
  updated: string[];
  unchanged: string[];
}

/** A plugin serving a listener's connections, or one of its WebSocket endpoints. */
interface Instance {
  readonly plugin: Plugin;
  readonly ctx: PluginContext;
}

interface Running {
  readonly config: ResolvedListener;
  readonly server: Server | UdpServer;
  /** One per listener, or one per WebSocket endpoint. */
  readonly instances: readonly Instance[];
  readonly logger: Logger;
  readonly abort: AbortController;
  readonly codecName: string;
  /** Polls the certificate files (`tls.watch`). */
  readonly watcher: CertificateWatcher | null;
  /** The WebSocket server's pub/sub backend, closed once the listener has stopped. */
  readonly pubsub: PublishBackend | null;
}

interface Replacement {
  old: Running;
  fresh: Running | null;
}

const NO_CONNECTIONS: readonly never[] = [];
/** How long a replacement listener waits for its predecessor to release the address. */
const REBIND_RETRY_MS = 3_000;

export class Runtime {
  private readonly running = new Map<string, Running>();
  private readonly draining = new Set<Promise<CloseResult>>();

  constructor(private readonly options: RuntimeOptions) {}

  /** The running listeners by name (what a stats snapshot reads). */
  servers(): ReadonlyMap<string, Server | UdpServer> {
    return new Map([...this.running].map(([name, r]) => [name, r.server]));
  }

  addresses(): ListenerAddress[] {
    return [...this.running.values()].map(describe);
  }

  /** Starts every listener, or none: on a failure those already started are stopped again. */
  async start(listeners: readonly ResolvedListener[]): Promise<ListenerAddress[]> {
    const started: Running[] = [];
    try {
      for (const l of listeners) if (this.serves(l)) started.push(await this.startOne(l));
    } catch (err) {
      await Promise.all(started.map((r) => this.stopOne(r, { graceMs: 0, quietMs: 1 })));
      throw err;
    }
    for (const r of started) this.running.set(r.config.name, r);
    return started.map(describe);
  }

  /**
   * Moves to a new set of listeners (see the module comment). Throws, with the
   * old set still running, when a new listener cannot start or a listener
   * rejects its new TLS settings.
   */
  async apply(next: readonly ResolvedListener[], drain: DrainOptions): Promise<ReloadResult> {
    const plan = planReload(
      new Map([...this.running].map(([name, r]) => [name, r.config])),
      next.filter((l) => this.serves(l)),
    );
    const tlsBefore = this.updateTls(plan.tlsUpdated);
    let started: ListenerAddress[] = [];
    const replaced: Replacement[] = [];
    try {
      started = await this.start(plan.added);
      for (const l of plan.replaced) {
        const old = this.running.get(l.name) as Running;
        // The old listener must give up the address before the new one can bind it.
        this.running.delete(l.name);
        const step: Replacement = { old, fresh: null };
        replaced.push(step);
        this.stopInBackground(old, drain);
        // Under cluster the primary holds the socket and knows a worker's listeners on one address
        // by the order they were opened: a replacement opened while its predecessor still listens
        // would ask for a second socket on that address and be refused. Opened after, it takes the
        // predecessor's place on the primary's socket.
        if (cluster.isWorker) await stoppedListening(old.server);
        // The old listener takes what is already in its accept queue before it lets go of the
        // address (under a second), so the replacement retries while the address is busy.
        step.fresh = await this.startOne(l, REBIND_RETRY_MS);
        this.running.set(l.name, step.fresh);
      }
    } catch (err) {
      await this.rollBack(plan.added, replaced);
      this.restoreTls(tlsBefore);
      throw err;
    }
    const removed = plan.removed.map((name) => this.running.get(name) as Running);
    for (const r of removed) {
      this.running.delete(r.config.name);
      this.stopInBackground(r, drain);
    }
    return {
      started: [...started, ...replaced.map((s) => describe(s.fresh as Running))],
      stopped: [...plan.removed, ...plan.replaced.map((l) => l.name)],
      updated: plan.tlsUpdated.map((l) => l.name),
      unchanged: plan.unchanged,
    };
  }

  /**
   * Whether this process runs `l`. A UDP listener runs in one process only: workers
   * sharing one socket would each get some of a peer's datagrams and split its
   * session, and Node 20 cannot give each its own socket on the port with the
   * kernel keeping a peer on one of them (SO_REUSEPORT on datagram sockets).
   */
  private serves(l: ResolvedListener): boolean {
    const w = this.options.worker;
    return l.transport !== 'udp' || w === 'main' || w === '1';
  }

  /**
   * Gives listeners new TLS settings in place: connections accepted from now on
   * use them, open ones keep theirs. All or none: when one listener rejects its
   * settings, those already updated get their old ones back and the error is thrown.
   * Returns the listeners as they were, for {@link restoreTls}.
   */
  private updateTls(listeners: readonly ResolvedListener[]): Running[] {
    const before: Running[] = [];
    try {
      for (const l of listeners) {
        const r = this.running.get(l.name) as Running;
        try {
          (r.server as Server).updateTls(l.tls as TlsServerOptions);
        } catch (err) {
          const e = err as { code?: ErrorCode; message?: string };
          throw capstanError(e.code ?? 'ERR_TLS_CONFIG', `listener ${l.name}: the new TLS settings were refused: ${e.message ?? String(err)}`, { cause: err });
        }
        before.push(r);
        r.watcher?.close();
        this.running.set(l.name, { ...r, config: l, watcher: this.watch(l, r.server, r.logger) });
      }
    } catch (err) {
      this.restoreTls(before);
      throw err;
    }
    return before;
  }

  /** Puts back the TLS settings {@link updateTls} replaced (they were in use, so they load again). */
  private restoreTls(before: readonly Running[]): void {
    for (const r of before) {
      try {
        (r.server as Server).updateTls(r.config.tls as TlsServerOptions);
      } catch (err) {
        r.logger.error({ err: errorFields(err) }, 'reload rolled back, but the old TLS settings did not load again; new connections get the new ones');
        continue;
      }
      this.running.get(r.config.name)?.watcher?.close();
      this.running.set(r.config.name, { ...r, watcher: this.watch(r.config, r.server, r.logger) });
    }
  }

  /**
   * Undoes a reload that failed half way: listeners it added stop, listeners it
   * replaced go back to their old settings (their old connections are already
   * draining; new ones are accepted again).
   */
  private async rollBack(added: readonly ResolvedListener[], replaced: readonly Replacement[]): Promise<void> {
    const now = { graceMs: 0, quietMs: 1 };
    const undo = [...added.map((l) => this.running.get(l.name)), ...replaced.map((s) => s.fresh)].filter((r): r is Running => r !== undefined && r !== null);
    for (const r of undo) this.running.delete(r.config.name);
    await Promise.all(undo.map((r) => this.stopOne(r, now)));
    for (const { old } of replaced) {
      try {
        this.running.set(old.config.name, await this.startOne(old.config, REBIND_RETRY_MS));
      } catch (err) {
        this.options.logger.error({ listener: old.config.name, err: errorFields(err) }, 'reload rolled back, but this listener cannot start again as it was; it stays down');
      }
    }
  }

  /** Stops every listener gracefully; resolves once all connections (also of earlier reloads) are gone. */
  async stop(drain: DrainOptions): Promise<CloseResult> {
    const all = [...this.running.values()];
    this.running.clear();
    const results = await Promise.all([...all.map((r) => this.stopOne(r, drain)), ...this.draining]);
    return results.reduce((sum, r) => ({ ended: sum.ended + r.ended, forced: sum.forced + r.forced }), { ended: 0, forced: 0 });
  }

  /**
   * Starts a graceful stop that finishes in the background (`stop` waits for
   * it). The listening socket goes within moments, once the accept queue is
   * taken; the connections drain for up to the grace period.
   */
  private stopInBackground(r: Running, drain: DrainOptions): void {
    const p = this.stopOne(r, drain);
    this.draining.add(p);
    void p.finally(() => this.draining.delete(p));
  }

  private async startOne(l: ResolvedListener, busyRetryMs = 0): Promise<Running> {
    const o = this.options;
    const abort = new AbortController();
    let server: Server | UdpServer | undefined;
    const connections = () => (server !== undefined && server.transport !== 'udp' ? server.connections() : NO_CONNECTIONS.values()) as ReturnType<PluginContext['connections']>;
    const sessions = () => (server !== undefined && server.transport === 'udp' ? server.sessions() : NO_CONNECTIONS.values()) as ReturnType<PluginContext['sessions']>;
    const wanted = l.websocket === undefined ? [{ plugin: l.plugin as ResolvedPlugin, path: undefined }] : l.websocket.endpoints.map((e) => ({ plugin: e.plugin, path: e.settings.path as string }));
    // Built with the listener's WebSocket server below; until then (and on other listeners) a publish reaches no one.
    let wss: WebSocketServer | null = null;
    const publish: PluginContext['publish'] = (topic, data, options) => (wss === null ? 0 : wss.publish(topic, data, options));
    const subscribers = (topic: string) => (wss === null ? 0 : wss.subscribers(topic));
    const instances: Instance[] = [];
    let codec: Codec | null = null;
    try {
      for (const w of wanted) {
        const plugin = await importPlugin(w.plugin.specifier);
        const ctx: PluginContext = {
          options: w.plugin.options,
          listener: { name: l.name, transport: l.transport },
          ...(w.path !== undefined ? { endpoint: { path: w.path } } : {}),
          logger: o.logger.child({ listener: l.name, plugin: plugin.name, ...(w.path !== undefined ? { endpoint: w.path } : {}) }),
          worker: o.worker,
          configDir: o.configDir,
          threads: o.threads,
          signal: abort.signal,
          connections,
          sessions,
          publish,
          subscribers,
        };
        if (l.websocket === undefined) codec = listenerCodec(l, plugin, ctx.options);
        try {
          await plugin.setup?.(ctx);
        } catch (err) {
          throw capstanError('ERR_PLUGIN', `listener ${l.name}: plugin ${plugin.name} setup failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
        }
        instances.push({ plugin, ctx });
      }
    } catch (err) {
      await Promise.all(instances.map(runTeardown));
      throw err;
    }
    const logger = o.logger.child({ listener: l.name, plugin: pluginNames(instances) });
    let codecName = '';
    let bound: Server | UdpServer;
    const backend = l.websocket !== undefined && o.pubsub !== undefined ? o.pubsub(l.name) : null;
    try {
      if (l.transport === 'udp') {
        codecName = (codec as Codec).name;
        bound = await bindRetrying(busyRetryMs, () => this.listenUdp(l, instances[0] as Instance, codec as Codec));
      } else {
        const serving = serve(l, instances, codec, backend);
        codecName = serving.codecName;
        wss = serving.wss;
        bound = await bindRetrying(busyRetryMs, () => listen({
          name: l.name,
          transport: l.transport as Server['transport'],
          ...(l.transport === 'unix' ? { path: l.path } : { host: l.host, port: l.port }),
          ...pick(l, ['backlog', 'ipv6Only', 'noDelay', 'keepAliveMs', 'tls', 'proxyProtocol', 'startTls']),
          ...(l.limits !== undefined ? { limits: l.limits as LimitsOptions } : {}),
          ...(l.compression !== undefined ? { filters: [compression(l.compression)] } : {}),
          ...(o.reusePort === true && l.transport !== 'unix' ? { reusePort: true } : {}),
          ...serving.options,
          logger: o.logger,
          latency: latencyRecorder(l.name),
        }));
      }
    } catch (err) {
      backend?.close();
      await Promise.all(instances.map(runTeardown));
      throw err;
    }
    server = bound;
    const r: Running = { config: l, server: bound, instances, logger, abort, codecName, watcher: this.watch(l, bound, logger), pubsub: backend };
    const a = describe(r);
    logger.info({ transport: a.transport, address: a.address, codec: a.codec, selfSigned: a.selfSigned || undefined }, `listening on ${a.address}`);
    if (l.selfSigned === true) logger.warn({}, 'no certificate configured: serving a self-signed certificate for localhost (for trying things out, not for production)');
    return r;
  }

  private listenUdp(l: ResolvedListener, { plugin, ctx }: Instance, codec: Codec): Promise<UdpServer> {
    const handler = plugin.datagramHandler;
    // The config check refuses such a plugin on a udp listener; a module changed since is caught here.
    if (handler === undefined) return Promise.reject(capstanError('ERR_PLUGIN', `listener ${l.name}: plugin ${plugin.name} does not serve udp listeners (it has no datagramHandler)`));
    return listen({
      transport: 'udp',
      name: l.name,
      host: l.host as string,
      port: l.port as number,
      ...pick(l, ['ipv6Only', 'proxyProtocol']),
      ...(l.limits !== undefined ? { limits: l.limits as UdpLimitsOptions } : {}),
      codec,
      handler: handler(ctx),
      logger: this.options.logger,
    });
  }

  /**
   * `tls.watch`: polls the listener's certificate files and applies changes in
   * place. What it applied becomes the listener's config, so a reload that
   * rolls back restores the certificates in use, not the ones at start.
   */
  private watch(l: ResolvedListener, server: Server | UdpServer, logger: Logger): CertificateWatcher | null {
    const w = l.tlsWatch;
    if (w === undefined) return null;
    const target = {
      name: l.name,
      updateTls: (tls: TlsServerOptions) => {
        (server as Server).updateTls(tls);
        const r = this.running.get(l.name);
        if (r !== undefined && r.server === server) this.running.set(l.name, { ...r, config: { ...r.config, tls } });
      },
    };
    return watchCertificates(target, w.files, { settings: w.settings, intervalMs: w.intervalMs, logger });
  }

  private async stopOne(r: Running, drain: DrainOptions): Promise<CloseResult> {
    r.watcher?.close();
    r.abort.abort();
    const result = await r.server.close(drain);
    r.pubsub?.close();
    const logger = r.logger;
    if (result.forced > 0) logger.warn({ ended: result.ended, forced: result.forced }, `stopped: ${result.forced} connection(s) closed by force at the ${drain.graceMs} ms deadline`);
    else logger.info({ ended: result.ended }, 'stopped');
    await Promise.all(r.instances.map(runTeardown));
    return result;
  }
}

/** Resolves once `server` has shut its listening socket (bounded: a closing listener does within a second). */
async function stoppedListening(server: Server | UdpServer): Promise<void> {
  const until = Date.now() + REBIND_RETRY_MS;
  while (server.listening && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Runs `bind`, trying again every 25 ms for up to `retryMs` while the address is in use. */
async function bindRetrying<T>(retryMs: number, bind: () => Promise<T>): Promise<T> {
  const until = Date.now() + retryMs;
  for (;;) {
    try {
      return await bind();
    } catch (err) {
      const busy = isCapstanError(err, 'ERR_LISTEN_FAILED') && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
      if (!busy || Date.now() >= until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/**
 * What a listener serves: the codec and connection handler of its plugin, or
 * a WebSocket server whose endpoints' handlers and hooks are their plugins'
 * (in config order, as `instances` are; see websocket-endpoints.ts).
 */
function serve(
  l: ResolvedListener,
  instances: readonly Instance[],
  codec: Codec | null,
  backend: PublishBackend | null,
): { options: Pick<ListenOptions, 'codec' | 'handler' | 'websocket'>; codecName: string; wss: WebSocketServer | null } {
  const ws = l.websocket;
  if (ws !== undefined) {
    const built = instances.map(({ plugin, ctx }) => ({ plugin: plugin.name, handler: (plugin.websocket as NonNullable<Plugin['websocket']>)(ctx) }));
    const wss = websocket({ ...ws.server, ...pluginEndpoints(l.name, ws, built), ...(backend !== null ? { pubsub: { backend } } : {}) });
    return { options: { websocket: wss }, codecName: 'websocket', wss };
  }
  const { plugin, ctx } = instances[0] as Instance;
  const c = codec as Codec;
  return { options: { codec: c, handler: (plugin.handler as NonNullable<Plugin['handler']>)(ctx) }, codecName: c.name, wss: null };
}

function listenerCodec(l: ResolvedListener, plugin: Plugin, options: Record<string, unknown>): Codec {
  if (l.codec !== undefined) return codecFromName(l.codec.name, l.codec.options);
  if (plugin.codec !== undefined) return plugin.codec(options);
  return raw();
}

/** `echo`, or `echo,chat` for WebSocket endpoints served by different plugins. */
function pluginNames(instances: readonly Instance[]): string {
  return [...new Set(instances.map((i) => i.plugin.name))].join(',');
}

async function runTeardown({ plugin, ctx }: Instance): Promise<void> {
  try {
    await plugin.teardown?.(ctx);
  } catch (err) {
    ctx.logger.error({ err: errorFields(err) }, 'plugin teardown failed');
  }
}

function describe(r: Running): ListenerAddress {
  const a = r.server.address;
  const address = 'path' in a ? a.path : a.family === 'IPv6' ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  return {
    name: r.config.name,
    transport: r.config.transport,
    address,
    codec: r.codecName,
    plugin: pluginNames(r.instances),
    selfSigned: r.config.selfSigned === true,
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** An error as log fields: code and message, no stack for expected failures. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (isCapstanError(err)) return { code: err.code, message: err.message };
  if (err instanceof Error) return { message: err.message, stack: err.stack };
  return { message: String(err) };
}
