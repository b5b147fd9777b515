/**
 * `listen`: a running server for TCP (IPv4/IPv6), TLS or Unix sockets, in one call.
 *
 * ```ts
 * const server = await listen({
 *   port: 7000,
 *   codec: lengthPrefixed(),
 *   handler: { message(conn, frame) { conn.send(frame); } },
 * });
 * ```
 *
 * Options are validated before anything binds. At accept, the listener applies
 * the connection limits and the process's descriptor budget (refusing with a
 * counter and a log line before EMFILE can happen), survives EMFILE/ENFILE all
 * the same (libuv sheds the pending connection; the listener keeps serving as
 * descriptors free up) and, for TLS, runs the handshake under `handshakeTimeoutMs`.
 */
import cluster from 'node:cluster';
import { existsSync, unlinkSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import type { Codec } from '../codecs/codec.js';
import { raw } from '../codecs/raw.js';
import type { CloseReason } from '../connection/close-reason.js';
import { EventLog } from '../connection/event-log.js';
import { Connection, type ConnectionContext, type LatencyRecorder } from '../connection/connection.js';
import type { Handler } from '../connection/handler.js';
import { resolveLimits, type Limits } from '../connection/limits.js';
import { capstanError } from '../errors.js';
import { defaultLogger, type Logger } from '../logger.js';
import { ListenerCounters, type ListenerStats, type RefuseReason } from '../metrics/listener-counters.js';
import { sharedTimerWheel, type TimerWheel } from '../timers/timer-wheel.js';
import { listenUdp } from './udp/listen-udp.js';
import type { UdpListenOptions, UdpServer } from './udp/options.js';
import { checkHandler, ListenOptionsSchema, TlsSchema, validateOptions, type LimitsOptions, type TlsServerOptions } from './options-schema.js';
import { startAccept, type AcceptPlan } from '../pipeline/accept-stage.js';
import { isTrusted, resolveProxyPolicy, type ProxyProtocolOption } from '../pipeline/proxy-policy.js';
import { TlsAcceptor } from '../pipeline/tls-acceptor.js';
import type { Filter } from '../pipeline/filter.js';
import { F_ADDRESS_COUNTED } from '../connection/flags.js';
import { websocket, type WebSocketServer } from '../websocket/server.js';
import type { WebSocketServerOptions } from '../websocket/options.js';
import { bindFailed } from './bind-error.js';
import { descriptorLimit, descriptorUse, recountDescriptors, returnDescriptor, takeDescriptor } from './descriptor-budget.js';

/**
 * How a listener or client reaches its peers: TCP over IPv4/IPv6, TLS over TCP,
 * or a Unix domain socket.
 * @category Listen and connect
 */
export type Transport = 'tcp' | 'tls' | 'unix';

/**
 * Every transport a listener may have: the stream ones and `udp`.
 * @category Listen and connect
 */
export type ListenerTransport = Transport | 'udp';

/**
 * Options of {@link listen}.
 *
 * Only `handler` is required: the rest default to a raw-bytes TCP listener on
 * 127.0.0.1 with a free port and the {@link DEFAULT_LIMITS}. Checked against
 * {@link ListenOptionsSchema} before anything binds; a bad or unknown key
 * rejects with `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` naming it.
 * @typeParam D - the type of `conn.data`, the per-connection state the handler keeps.
 * @category Listen and connect
 */
export interface ListenOptions<D = unknown> {
  /** `tcp` (default), `tls` (implied by `tls`) or `unix` (implied by `path`). */
  transport?: Transport;
  /** Name used in logs and metrics. Default `<transport>:<port or path>`. */
  name?: string;
  /** Address to bind. Default `127.0.0.1`; `::` binds every IPv6 and IPv4 address. */
  host?: string;
  /** Port; 0 (default) picks a free one (read it from `server.address`). */
  port?: number;
  /** Unix socket path (transport `unix`). A stale socket file is replaced; a live one is an error. */
  path?: string;
  /** Length of the kernel's queue of connections not yet accepted. Default 511. */
  backlog?: number;
  /** Bind IPv6 only (no IPv4-mapped addresses) when host is `::`. Default `false`. */
  ipv6Only?: boolean;
  /** Share the port with other processes (SO_REUSEPORT) where Node supports it (22.12+ on Linux, see {@link supportsReusePort}); ignored elsewhere. Default `false`. */
  reusePort?: boolean;
  /** Disable Nagle's algorithm (TCP and TLS). Default `true`: Capstan batches each turn's writes itself, so Nagle would only add delay. */
  noDelay?: boolean;
  /** TCP keep-alive probe delay in ms; 0 (default) leaves keep-alive off. */
  keepAliveMs?: number;
  /**
   * TLS settings; giving them makes the transport `tls`. `tls.key` and
   * `tls.cert` (PEM text or bytes, see {@link TlsServerOptions}) or `tls.pfx`
   * are required, or `tls.sni` entries; client certificates (`ca`,
   * `clientCertificate`), ALPN, versions and ciphers are optional, and
   * `plaintext: true` serves plaintext on the same port too. Replace them on a
   * running listener with {@link Server.updateTls}.
   */
  tls?: TlsServerOptions;
  /**
   * Read the PROXY protocol header (v1 or v2) a load balancer sends ahead of
   * each connection, before TLS: `conn.remoteAddress` then names the client,
   * and the per-address limit and logs use it. `'optional'` or `'required'`,
   * or an object with the trusted proxies' addresses (default loopback), a
   * header timeout and a size bound. Default `'off'`.
   */
  proxyProtocol?: ProxyProtocolOption;
  /**
   * TLS settings for `conn.startTls()` on this plaintext listener (STARTTLS:
   * SMTP, IMAP, XMPP …): key and cert or pfx, as `tls` takes.
   */
  startTls?: TlsServerOptions;
  /**
   * Filters between the socket (after TLS) and the codec, in order from the
   * socket: `compression(…)`, `passThrough()`, or your own (see `Filter`).
   */
  filters?: Filter[];
  /** How bytes become frames and frames bytes, shared by every connection. Default `raw()`: each read is one frame. */
  codec?: Codec;
  /** What to do with connections and frames: one object of optional methods shared by every connection (see {@link Handler}). Required unless `websocket` is given, which brings its own. */
  handler?: Handler<D>;
  /**
   * Serve WebSocket (RFC 6455) on this listener: endpoints by path with their
   * handlers, or a server made with `websocket()` (to read its stats). Takes
   * the place of `codec` and `handler`. See docs/websocket.md.
   */
  websocket?: WebSocketServerOptions<any> | WebSocketServer;
  /** Bounds on each connection and on the listener; each one left out takes its default (see {@link LimitsOptions}). */
  limits?: LimitsOptions;
  /**
   * Where the listener logs (refusals, accept failures, closes for abnormal
   * reasons, handler errors; rate-limited per kind): any pino logger, or an
   * object with pino's `error`/`warn`/`info`/`debug`/`child`. The listener logs
   * through `logger.child({ listener: name })`. Default: pino on stderr at
   * `warn`; {@link silentLogger} logs nothing.
   */
  logger?: Logger;
  /** The timer wheel that runs this listener's timeouts. Default: the process-wide wheel (100 ms ticks); tests pass their own with a {@link ManualClock}. */
  timerWheel?: TimerWheel;
  /**
   * Records handler latency: for one in eight read batches that produced
   * replies, the microseconds from decoding the batch's first frame to
   * flushing its replies to the socket. Pass `latencyRecorder(name)` to see it
   * in the listener's snapshot, `/metrics` and the dashboard, or any object
   * with `record(µs)`. Default: off, and then free.
   */
  latency?: LatencyRecorder;
}

/**
 * Options of {@link Server.close}.
 * @category Listen and connect
 */
export interface CloseOptions {
  /** ms from the `close` call until connections still open are destroyed (close reason `shutdown`, counted in `forced`). Default 10,000. */
  graceMs?: number;
  /** ms a connection must have received nothing, with nothing left to send, before it is ended (`conn.end()`, reason `shutdown`). Default 250. */
  quietMs?: number;
}

/**
 * What {@link Server.close} resolves with.
 * @category Listen and connect
 */
export interface CloseResult {
  /** Connections that closed before the grace deadline: by themselves, after the handler's `shutdown`, or once quiet. */
  ended: number;
  /** Connections destroyed at the grace deadline (`graceMs`). */
  forced: number;
}

/**
 * A running listener, as {@link listen} resolves it.
 * @typeParam D - the type of `conn.data` on its connections.
 * @category Listen and connect
 */
export interface Server<D = unknown> {
  /** The listener's name in logs and metrics: `options.name`, or `<transport>:<port or path>`. */
  readonly name: string;
  /** The transport it serves. */
  readonly transport: Transport;
  /** Where it listens: host and port, or the Unix socket path. */
  readonly address:
    | {
        /** The bound address, e.g. `127.0.0.1` or `::`. */
        host: string;
        /** The bound port (the one the kernel picked for port 0). */
        port: number;
        /** `IPv4` or `IPv6`. */
        family: string;
      }
    | {
        /** The Unix socket's path. */
        path: string;
      };
  /** Where it listens as a URL: `tcp://127.0.0.1:7000`, `tls://[::1]:7443`, `unix:///run/app.sock`. */
  readonly url: string;
  /** Open connections. */
  readonly connectionCount: number;
  /** The open connections (for broadcast or inspection). */
  connections(): IterableIterator<Connection<D>>;
  /** A snapshot of the listener's counters. */
  stats(): ListenerStats;
  /** True once `close` was called. */
  readonly closing: boolean;
  /**
   * True while the listening socket is open: from `listen` until `close` has taken what waits in
   * the accept queue and shut the socket (its connections may still be draining after that).
   */
  readonly listening: boolean;
  /**
   * Replaces the TLS settings for handshakes from now on (certificate
   * rotation): the whole set, key, certificate and `sni` entries included, as
   * `listen`'s `tls` takes it. Open connections keep the session they have.
   * Every key pair is loaded before anything changes, so a bad PEM or a key
   * that does not match its certificate throws and the old settings stay.
   * `plaintext` is fixed at `listen` and not changed here. Counted in
   * `stats().tls.reloads` and `reloadFailures`; {@link watchCertificates} calls
   * it when certificate files change.
   * @throws CapstanError `ERR_INVALID_OPTION` (not a TLS listener, or a value
   *   of the wrong type), `ERR_UNKNOWN_OPTION`, or `ERR_TLS_CONFIG` (key
   *   material that does not load).
   */
  updateTls(tls: TlsServerOptions): void;
  /**
   * Graceful shutdown. The listener stops accepting (connections the kernel
   * had already completed are still taken from its queue and drained, for up
   * to a quarter of `graceMs` and at most 1 s), calls each open connection's handler
   * `shutdown` so it can say goodbye, ends each connection once it has been
   * quiet for `quietMs` with nothing left to send, and destroys those still
   * open `graceMs` after the call (reason `shutdown`). Connections still in a
   * TLS handshake are destroyed at once.
   *
   * Resolves when every connection has closed and the socket is shut. Calling
   * it again returns the same promise (the first call's options apply).
   * @param options - the grace period and the quiet interval; both have defaults.
   */
  close(options?: CloseOptions): Promise<CloseResult>;
}

/**
 * Whether `listen({ reusePort: true })` shares the port here: Linux with Node
 * 22.12 or later.
 *
 * Elsewhere the option is ignored, and only one process (or the cluster
 * primary) can bind a port.
 * @category Listen and connect
 */
export function supportsReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return process.platform === 'linux' && (major > 22 || (major === 22 && minor >= 12));
}

/**
 * Starts a listener and resolves once it is bound: TCP, TLS or Unix (a
 * {@link Server}), or UDP with `transport: 'udp'` (a {@link UdpServer},
 * sessions per peer: docs/udp.md).
 *
 * ```ts
 * const server = await listen<{ name: string }>({
 *   port: 7000,
 *   codec: lines(),
 *   handler: {
 *     open(conn) { conn.data = { name: 'guest' }; },
 *     message(conn, line) { conn.send(`${conn.data.name}: ${line}`); },
 *   },
 * });
 * ```
 *
 * @typeParam D - the type of `conn.data`, the per-connection state the handler
 *   keeps; set it in `open`.
 * @throws CapstanError (as a rejection) `ERR_INVALID_OPTION` or
 *   `ERR_UNKNOWN_OPTION` for bad options, before anything binds;
 *   `ERR_TLS_CONFIG` for TLS key material that does not load;
 *   `ERR_LISTEN_FAILED` when the address cannot be bound (in use, no
 *   permission, no such interface, a live Unix socket).
 * @category Listen and connect
 */
export async function listen<D = unknown>(options: UdpListenOptions<D>): Promise<UdpServer<D>>;
export async function listen<D = unknown>(options: ListenOptions<D>): Promise<Server<D>>;
export async function listen<D = unknown>(options: ListenOptions<D> | UdpListenOptions<D>): Promise<Server<D> | UdpServer<D>> {
  if (options.transport === 'udp') return listenUdp(options);
  let ws: WebSocketServer | null = null;
  if (options.websocket !== undefined) ({ options, ws } = withWebSocket(options));
  validateOptions('listen', ListenOptionsSchema, options);
  checkHandler(options.handler);
  const transport: Transport = options.transport ?? (options.path !== undefined ? 'unix' : options.tls !== undefined ? 'tls' : 'tcp');
  if (transport === 'unix' && options.path === undefined) {
    throw capstanError('ERR_INVALID_OPTION', 'listen: transport unix needs option path', { path: 'path' });
  }
  if (transport !== 'unix' && options.path !== undefined) {
    throw capstanError('ERR_INVALID_OPTION', `listen: option path is for transport unix, not ${transport}`, { path: 'path' });
  }
  if (transport === 'tls' && options.tls === undefined) {
    throw capstanError('ERR_INVALID_OPTION', 'listen: transport tls needs option tls with key and cert (or pfx)', { path: 'tls' });
  }
  const listener = new Listener<D>(options, transport, ws);
  await listener.start();
  return listener;
}

function withWebSocket<D>(options: ListenOptions<D>): { options: ListenOptions<D>; ws: WebSocketServer } {
  const { websocket: given, ...rest } = options;
  if (rest.codec !== undefined || rest.handler !== undefined) {
    throw capstanError('ERR_INVALID_OPTION', 'listen: option websocket brings its own codec and handler; give neither', { path: rest.codec !== undefined ? 'codec' : 'handler' });
  }
  const ws = isWebSocketServer(given) ? given : websocket(given as WebSocketServerOptions<any>);
  return { options: { ...rest, codec: ws.codec, handler: ws.handler }, ws };
}

function isWebSocketServer(x: unknown): x is WebSocketServer {
  return typeof x === 'object' && x !== null && typeof (x as WebSocketServer).stats === 'function' && typeof (x as WebSocketServer).codec === 'object';
}

class Listener<D> implements Server<D> {
  readonly name: string;
  readonly transport: Transport;
  readonly ctx: ConnectionContext;
  private readonly server: net.Server;
  private readonly limits: Limits;
  private readonly counters = new ListenerCounters();
  private readonly live = new Set<Connection<D>>();
  private readonly perAddress = new Map<string, number>();
  private readonly tls: TlsAcceptor | null;
  /** The accept stage (PROXY header, TLS detection), or null for the plain accept path. */
  private readonly plan: AcceptPlan | null;
  private readonly logger: Logger;
  private readonly log: EventLog;
  private closePromise: Promise<CloseResult> | null = null;
  private onEmpty: (() => void) | null = null;
  private forced = 0;
  /** Connections released since close began. */
  private drained = 0;
  /** While closing: the quiet interval for connections still being taken from the accept queue; -1 once the listener is shut. */
  private drainQuietMs = -1;
  private boundAddress: Server<D>['address'] = { path: '' };
  isClosing = false;

  constructor(
    private readonly options: ListenOptions<D>,
    transport: Transport,
    /** The WebSocket server this listener serves, whose counters join the listener's. */
    private readonly ws: WebSocketServer | null,
  ) {
    this.transport = transport;
    this.limits = resolveLimits(options.limits as Partial<Limits> | undefined);
    this.name = options.name ?? `${transport}:${transport === 'unix' ? options.path : (options.port ?? 0)}`;
    this.logger = (options.logger ?? defaultLogger()).child({ listener: this.name });
    let codec = options.codec ?? raw();
    if (this.limits.maxFrameBytes !== undefined) codec = codec.withMaxFrameBytes(this.limits.maxFrameBytes);
    const wheel = options.timerWheel ?? sharedTimerWheel();
    this.log = new EventLog(this.logger, wheel);
    this.tls = transport === 'tls' ? new TlsAcceptor(options.tls as TlsServerOptions, this.counters, this.log) : null;
    const proxy = resolveProxyPolicy(options.proxyProtocol);
    const plaintext = options.tls?.plaintext === true;
    const live = this.live;
    const perAddress = this.perAddress;
    const counters = this.counters;
    this.ctx = {
      handler: options.handler as Handler<D>,
      codec,
      limits: this.limits,
      counters,
      wheel,
      logger: this.logger,
      log: this.log,
      latency: options.latency ?? null,
      logFailedOpens: true,
      resettable: transport === 'tcp',
      filters: options.filters !== undefined && options.filters.length > 0 ? [...options.filters] : null,
      startTls: options.startTls !== undefined ? { side: 'server', acceptor: new TlsAcceptor(options.startTls, counters, this.log) } : null,
      release: (conn) => {
        if (!live.delete(conn)) return;
        if (this.isClosing) this.drained++;
        returnDescriptor();
        counters.active--;
        const addr = conn.remoteAddress;
        if ((conn.flags & F_ADDRESS_COUNTED) !== 0 && addr !== '') {
          const n = (perAddress.get(addr) ?? 1) - 1;
          if (n === 0) perAddress.delete(addr);
          else perAddress.set(addr, n);
        }
        if (live.size === 0 && this.onEmpty !== null) this.onEmpty();
      },
    };
    this.plan =
      proxy !== null || plaintext
        ? {
            proxy,
            tls: this.tls,
            plaintext,
            counters,
            handshakeTimeoutMs: this.limits.handshakeTimeoutMs,
            admit: (conn) => this.admitClient(conn as Connection<D>),
          }
        : null;
    this.server = net.createServer({
      allowHalfOpen: true,
      noDelay: transport !== 'unix' && options.noDelay !== false,
      keepAlive: (options.keepAliveMs ?? 0) > 0,
      keepAliveInitialDelay: options.keepAliveMs ?? 0,
    });
    this.server.on('connection', (socket: Socket) => this.accept(socket));
  }

  get closing(): boolean {
    return this.isClosing;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get address(): Server<D>['address'] {
    return this.boundAddress;
  }

  updateTls(tls: TlsServerOptions): void {
    if (this.transport !== 'tls') throw capstanError('ERR_INVALID_OPTION', `updateTls: listener ${this.name} is not a TLS listener`, { path: 'tls' });
    validateOptions('updateTls', TlsSchema, tls);
    try {
      (this.tls as TlsAcceptor).update(tls);
    } catch (err) {
      this.counters.tls.reloadFailures++;
      throw err;
    }
    this.counters.tls.reloads++;
  }

  get url(): string {
    const a = this.boundAddress;
    if ('path' in a) return `unix://${a.path}`;
    const host = a.family === 'IPv6' ? `[${a.host}]` : a.host;
    return `${this.transport}://${host}:${a.port}`;
  }

  get connectionCount(): number {
    return this.live.size;
  }

  connections(): IterableIterator<Connection<D>> {
    return this.live.values();
  }

  stats(): ListenerStats {
    let buffered = 0;
    for (const c of this.live) buffered += c.bufferedBytes;
    const filters: Record<string, Record<string, number>> = {};
    for (const f of this.options.filters ?? []) if (f.stats !== undefined) filters[f.name] = f.stats();
    const stats = this.counters.snapshot(buffered, filters);
    if (this.ws !== null) stats.websocket = this.ws.stats();
    return stats;
  }

  async start(): Promise<void> {
    const o = this.options;
    if (this.transport === 'unix') await removeStaleSocket(o.path as string);
    const listenOptions: net.ListenOptions & { reusePort?: boolean } =
      this.transport === 'unix'
        ? { path: o.path as string, backlog: o.backlog ?? 511 }
        : { host: o.host ?? '127.0.0.1', port: o.port ?? 0, backlog: o.backlog ?? 511, ipv6Only: o.ipv6Only ?? false };
    if (o.reusePort === true && supportsReusePort()) listenOptions.reusePort = true;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        reject(bindFailed(this.name, this.transport === 'unix' ? `path ${o.path}` : `${listenOptions.host}:${listenOptions.port}`, err));
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(listenOptions);
    });
    const a = this.server.address();
    this.boundAddress = typeof a === 'string' || a === null ? { path: o.path ?? String(a) } : { host: a.address, port: a.port, family: a.family };
    // After binding, server errors are accept failures libuv reports (ENOBUFS, ENOMEM, EMFILE when it has no
    // spare descriptor to shed with): the listener stays armed, so counting and logging is the whole job.
    this.server.on('error', (err: NodeJS.ErrnoException) => this.acceptFailed(err));
  }

  private acceptFailed(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'UNKNOWN';
    const errors = this.counters.acceptErrors;
    const n = (errors[code] ?? 0) + 1;
    errors[code] = n;
    // Something besides connections took descriptors since the budget last counted them.
    if (code === 'EMFILE' || code === 'ENFILE') recountDescriptors();
    this.log.acceptFailed(
      code,
      { count: n, active: this.live.size },
      code === 'EMFILE' || code === 'ENFILE'
        ? 'accept failed: out of file descriptors; shedding new connections until descriptors free up (raise ulimit -n or lower limits.maxConnections)'
        : `accept failed: ${err.message}`,
    );
  }

  private refuse(socket: Socket, reason: RefuseReason): void {
    const counters = this.counters;
    const n = ++counters.refused[reason];
    if (reason !== 'closing') {
      const detail = reason === 'fd-limit' ? { refused: n, active: this.live.size, descriptors: descriptorUse() } : { refused: n, active: this.live.size };
      this.log.refused(`${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, reason, detail, REFUSAL_MESSAGES[reason](this.limits));
    }
    if (this.transport === 'tcp' && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }

  private accept(socket: Socket): void {
    if (this.isClosing && this.drainQuietMs < 0) return this.refuse(socket, 'closing');
    if (this.live.size >= this.limits.maxConnections) return this.refuse(socket, 'max-connections');
    const addr = socket.remoteAddress;
    const plan = this.plan;
    // A trusted proxy speaks for many clients: each is counted once its PROXY header names it.
    let proxied = false;
    if (plan !== null && plan.proxy !== null) {
      // Peers on a Unix socket are local processes the socket's permissions let in.
      proxied = this.transport === 'unix' || isTrusted(plan.proxy, addr);
      if (!proxied && plan.proxy.mode === 'required') return this.refuse(socket, 'proxy-untrusted');
    }
    const fromAddress = addr === undefined || proxied ? 0 : (this.perAddress.get(addr) ?? 0);
    if (fromAddress >= this.limits.maxConnectionsPerAddress) return this.refuse(socket, 'max-per-address');
    if (!takeDescriptor()) return this.refuse(socket, 'fd-limit');
    const counted = addr !== undefined && !proxied;
    if (counted) this.perAddress.set(addr, fromAddress + 1);
    this.counters.accepted++;
    this.counters.active++;
    if (plan !== null || this.tls !== null) {
      const conn = new Connection<D>(this.ctx, socket, true);
      if (counted) conn.flags |= F_ADDRESS_COUNTED;
      this.live.add(conn);
      if (this.isClosing) conn.destroy('shutdown');
      else if (plan !== null) startAccept(plan, conn, proxied);
      else (this.tls as TlsAcceptor).wrap(conn, socket);
      return;
    }
    const conn = new Connection<D>(this.ctx, socket, false);
    if (counted) conn.flags |= F_ADDRESS_COUNTED;
    this.live.add(conn);
    conn.open();
    if (this.isClosing) conn.beginDrain(this.drainQuietMs);
  }

  /** The PROXY header named the client (or the proxy spoke for itself): apply the per-address limit to it. */
  private admitClient(conn: Connection<D>): boolean {
    const addr = conn.remoteAddress;
    if (addr === '') return true;
    const n = this.perAddress.get(addr) ?? 0;
    if (n >= this.limits.maxConnectionsPerAddress) {
      const refused = ++this.counters.refused['max-per-address'];
      this.log.refused(`${addr}:${conn.remotePort}`, 'max-per-address', { refused, active: this.live.size, proxied: true }, REFUSAL_MESSAGES['max-per-address'](this.limits));
      conn.destroy('refused');
      return false;
    }
    this.perAddress.set(addr, n + 1);
    conn.flags |= F_ADDRESS_COUNTED;
    return true;
  }

  close(options: CloseOptions = {}): Promise<CloseResult> {
    if (this.closePromise !== null) return this.closePromise;
    this.isClosing = true;
    const graceMs = options.graceMs ?? 10_000;
    const quietMs = options.quietMs ?? 250;
    this.drainQuietMs = quietMs;
    this.closePromise = new Promise<CloseResult>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      let serverClosed: Promise<void> | null = null;
      const finish = () => {
        if (serverClosed === null) return; // still emptying the accept queue
        if (timer !== null) clearTimeout(timer);
        this.onEmpty = null;
        void serverClosed.then(() => resolve({ ended: this.drained - this.forced, forced: this.forced }));
      };
      this.onEmpty = finish;
      timer = setTimeout(() => {
        for (const c of [...this.live]) {
          this.forced++;
          c.destroy('shutdown' satisfies CloseReason);
        }
      }, graceMs);
      for (const c of [...this.live]) c.beginDrain(quietMs);
      // Clients whose connections the kernel completed before close may still wait in the accept
      // queue, and closing the listening socket would reset them. Node takes one connection from the
      // queue per event-loop turn, so keep turning until a turn accepts nothing (the queue is empty),
      // bounded by a quarter of the grace period; then the listener shuts.
      const acceptUntil = Date.now() + Math.min(1_000, graceMs / 4);
      let seen = this.counters.accepted + this.counters.refused.closing;
      const turn = () => {
        const now = this.counters.accepted + this.counters.refused.closing;
        if (now !== seen && Date.now() < acceptUntil) {
          seen = now;
          setImmediate(turn);
          return;
        }
        this.drainQuietMs = -1;
        serverClosed = new Promise<void>((r) => this.server.close(() => r()));
        if (this.live.size === 0) finish();
      };
      setImmediate(() => setImmediate(turn));
    });
    return this.closePromise;
  }
}

/** What a refusal's log line tells the operator to do. */
const REFUSAL_MESSAGES: Record<RefuseReason, (limits: Limits) => string> = {
  'max-connections': (l) => `refusing a connection: the listener holds limits.maxConnections (${l.maxConnections}) connections`,
  'max-per-address': (l) => `refusing a connection: that address holds limits.maxConnectionsPerAddress (${l.maxConnectionsPerAddress}) connections`,
  'fd-limit': () =>
    `refusing a connection: the process is near its file-descriptor limit (${descriptorLimit()}); raise ulimit -n, lower limits.maxConnections, or add worker processes`,
  closing: () => 'refusing a connection: the listener is closing',
  'proxy-untrusted': () => 'refusing a connection: proxyProtocol is required and the peer is not one of proxyProtocol.trusted',
};

/** A Unix socket file left by a dead server is removed; one a live server answers on is an error. */
export async function removeStaleSocket(path: string): Promise<void> {
  // In a cluster worker the primary binds and shares one socket among the workers: the primary
  // clears stale files before forking (the application server does), and a probe from here would
  // reach the shared socket and show up as a connection on it.
  if (cluster.isWorker || !existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw capstanError('ERR_LISTEN_FAILED', `listen: another server is listening on ${path}`, { path: 'path', actual: path });
  }
  try {
    unlinkSync(path);
  } catch (err) {
    throw capstanError('ERR_LISTEN_FAILED', `listen: cannot remove the stale socket file ${path}`, { cause: err });
  }
}
