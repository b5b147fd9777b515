/**
 * The client loop behind `connect`: dials, wraps each socket in a
 * {@link Connection}, and redials with exponential back-off and jitter when a
 * connection is lost or fails. A protocol on top (the WebSocket client) reuses
 * it whole, telling it through a {@link ClientProtocol} when a connection is
 * ready for the user and how to end one politely.
 *
 * ```
 *   dial ─► TCP/TLS up ─► [protocol handshake] ─► ready ─► … ─► released
 *     ▲                                            attempt = 0      │
 *     └──── delay = min(max, initial × factor^(attempt-1)) × (1 - jitter × rand) ◄─┘
 * ```
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Codec } from '../codecs/codec.js';
import { raw } from '../codecs/raw.js';
import { EventLog } from '../connection/event-log.js';
import { Connection, type ConnectionContext } from '../connection/connection.js';
import { resolveLimits, type Limits } from '../connection/limits.js';
import { capstanError, isCapstanError, type CapstanError } from '../errors.js';
import { defaultLogger } from '../logger.js';
import { ListenerCounters, type ListenerStats } from '../metrics/listener-counters.js';
import { sharedTimerWheel } from '../timers/timer-wheel.js';
import type { ReconnectOptions } from './options-schema.js';
import type { Transport } from './listen.js';
import type { Client, ConnectOptions, ReconnectInfo } from './connect.js';

/**
 * @internal What a protocol spoken over the client's connections tells the
 * loop. Without one, a connection is ready as soon as TCP (and TLS) is up.
 */
export interface ClientProtocol {
  /** Names the target in logs and errors (`ws://host:port/path`). */
  readonly where: string;
  /** Ends an open connection gracefully at the protocol level (a close handshake) instead of `conn.end()`. */
  end(conn: Connection<any>): void;
}

/**
 * The loop itself. With a {@link ClientProtocol}, the protocol calls
 * {@link ClientLoop.ready} once its own handshake is done: only then does the
 * first `connect` resolve and the back-off start again from the first delay,
 * so a server that accepts TCP but refuses the protocol is retried with
 * growing delays, not hammered.
 */
export class ClientLoop<D> implements Client<D> {
  private readonly ctx: ConnectionContext;
  private readonly counters = new ListenerCounters();
  private readonly backoff: Required<ReconnectOptions> | null;
  private current: Connection<D> | null = null;
  /** The current connection has been ready (reported to the user). */
  private currentReady = false;
  private attempt = 0;
  private stopped = false;
  private everOpened = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private settleFirst: { resolve: (c: ClientLoop<D>) => void; reject: (e: CapstanError) => void } | null = null;
  private closed: Promise<void> | null = null;
  private onClosed: (() => void) | null = null;
  private readonly where: string;

  constructor(
    private readonly options: ConnectOptions<D>,
    private readonly transport: Transport,
    private readonly protocol: ClientProtocol | null = null,
  ) {
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const limits: Limits = { ...resolveLimits(options.limits as Partial<Limits> | undefined), handshakeTimeoutMs: connectTimeoutMs };
    let codec: Codec = options.codec ?? raw();
    if (limits.maxFrameBytes !== undefined) codec = codec.withMaxFrameBytes(limits.maxFrameBytes);
    this.where = protocol?.where ?? (transport === 'unix' ? `unix:${options.path}` : `${transport}://${options.host ?? '127.0.0.1'}:${options.port}`);
    const logger = (options.logger ?? defaultLogger()).child({ client: this.where });
    const r = options.reconnect;
    this.backoff =
      r === undefined || r === false
        ? null
        : {
            initialDelayMs: (r === true ? undefined : r.initialDelayMs) ?? 100,
            maxDelayMs: (r === true ? undefined : r.maxDelayMs) ?? 30_000,
            factor: (r === true ? undefined : r.factor) ?? 2,
            jitter: (r === true ? undefined : r.jitter) ?? 0.5,
            maxAttempts: (r === true ? undefined : r.maxAttempts) ?? 0,
          };
    const wheel = options.timerWheel ?? sharedTimerWheel();
    this.ctx = {
      handler: options.handler,
      codec,
      limits,
      counters: this.counters,
      wheel,
      logger,
      log: new EventLog(logger, wheel),
      latency: null,
      logFailedOpens: false,
      resettable: transport === 'tcp',
      filters: options.filters !== undefined && options.filters.length > 0 ? [...options.filters] : null,
      startTls: transport === 'unix' ? null : { side: 'client', host: options.host ?? '127.0.0.1', defaults: options.tls ?? {} },
      release: (conn) => this.released(conn as Connection<D>),
    };
  }

  get connection(): Connection<D> | null {
    return this.current !== null && this.currentReady && this.current.writable ? this.current : null;
  }

  send(frame: Buffer | string): boolean {
    const c = this.connection;
    return c === null ? false : c.send(frame);
  }

  stats(): ListenerStats {
    return this.counters.snapshot(this.current?.bufferedBytes ?? 0);
  }

  /** Dials the first connection; resolves once it is ready. */
  start(): Promise<ClientLoop<D>> {
    return new Promise<ClientLoop<D>>((resolve, reject) => {
      this.settleFirst = { resolve, reject };
      this.dial();
    });
  }

  close(): Promise<void> {
    if (this.closed !== null) return this.closed;
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const c = this.current;
    if (c === null || c.state === 'closed') {
      this.closed = Promise.resolve();
      return this.closed;
    }
    this.closed = new Promise<void>((resolve) => {
      this.onClosed = resolve;
    });
    if (!c.wasOpened) c.destroy('local-destroy');
    else if (this.protocol !== null) this.protocol.end(c);
    else c.end();
    return this.closed;
  }

  /** True once {@link close} was called: nothing will be redialed. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * The connection is ready for the user: the first `connect` resolves and the
   * back-off starts over. Called by the loop itself when there is no protocol.
   */
  ready(conn: Connection<D>): void {
    if (conn !== this.current) return;
    this.currentReady = true;
    this.attempt = 0;
    this.everOpened = true;
    if (this.settleFirst !== null) {
      this.settleFirst.resolve(this);
      this.settleFirst = null;
    }
  }

  private dial(): void {
    const o = this.options;
    const host = o.host ?? '127.0.0.1';
    let socket: net.Socket;
    if (this.transport === 'tls') {
      const t = o.tls ?? {};
      socket = tls.connect({
        host,
        port: o.port as number,
        localAddress: o.localAddress,
        servername: t.servername ?? (net.isIP(host) === 0 ? host : undefined),
        ca: t.ca,
        key: t.key,
        cert: t.cert,
        pfx: t.pfx,
        passphrase: t.passphrase,
        rejectUnauthorized: t.rejectUnauthorized ?? true,
        ALPNProtocols: t.alpnProtocols,
        minVersion: t.minVersion ?? 'TLSv1.2',
        allowHalfOpen: true,
      } as tls.ConnectionOptions);
    } else if (this.transport === 'unix') {
      socket = net.connect({ path: o.path as string, allowHalfOpen: true });
    } else {
      socket = net.connect({ host, port: o.port as number, localAddress: o.localAddress, allowHalfOpen: true, noDelay: o.noDelay !== false });
    }
    const conn = new Connection<D>(this.ctx, socket, true);
    this.current = conn;
    this.currentReady = false;
    socket.once(this.transport === 'tls' ? 'secureConnect' : 'connect', () => {
      this.counters.accepted++;
      this.counters.active++;
      conn.open();
      if (this.protocol === null && conn.wasOpened) this.ready(conn);
    });
  }

  private released(conn: Connection<D>): void {
    if (conn.wasOpened) this.counters.active--;
    const wasReady = this.current === conn ? this.currentReady : true;
    if (this.current === conn) {
      this.current = null;
      this.currentReady = false;
    }
    if (this.stopped) {
      this.onClosed?.();
      this.settleFirst?.reject(capstanError('ERR_CONNECT_FAILED', `connect ${this.where}: closed before connecting`));
      this.settleFirst = null;
      return;
    }
    const error = conn.closeError;
    const b = this.backoff;
    if (b === null || (b.maxAttempts > 0 && this.attempt >= b.maxAttempts)) {
      if (this.settleFirst !== null) {
        this.settleFirst.reject(this.failure(conn, b !== null));
        this.settleFirst = null;
      }
      return;
    }
    this.attempt++;
    const base = Math.min(b.maxDelayMs, b.initialDelayMs * b.factor ** (this.attempt - 1));
    const delayMs = Math.max(1, Math.round(base * (1 - b.jitter * Math.random())));
    const info: ReconnectInfo = { attempt: this.attempt, delayMs };
    if (wasReady) info.reason = conn.closeReason ?? undefined;
    if (error !== undefined) info.error = error;
    try {
      this.options.handler.reconnecting?.(info);
    } catch (err) {
      this.ctx.logger.error({ err }, 'handler.reconnecting threw');
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.dial();
    }, delayMs);
    // A client that only waits to reconnect should not keep the process alive once it has served.
    if (this.everOpened) this.retryTimer.unref();
  }

  private failure(conn: Connection<D>, exhausted: boolean): CapstanError {
    const error = conn.closeError;
    if (exhausted) {
      return capstanError('ERR_RECONNECT_EXHAUSTED', `connect ${this.where}: gave up after ${this.attempt} retries: ${error?.message ?? conn.closeReason}`, {
        cause: error,
      });
    }
    if (conn.closeReason === 'handshake-timeout') {
      return capstanError('ERR_CONNECT_TIMEOUT', `connect ${this.where}: no connection within ${this.ctx.limits.handshakeTimeoutMs} ms`, {
        limit: this.ctx.limits.handshakeTimeoutMs,
      });
    }
    // The transport was up and the protocol on top refused (a failed WebSocket handshake): its own error says more.
    if (conn.wasOpened && isCapstanError(error)) return error;
    return capstanError('ERR_CONNECT_FAILED', `connect ${this.where}: ${error?.message ?? conn.closeReason}`, { cause: error });
  }
}
