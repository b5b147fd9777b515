/**
 * `connect`: a client connection with the same codec and handler model as a
 * listener, a connect timeout, and optional reconnection with exponential
 * back-off and jitter.
 *
 * ```ts
 * const client = await connect({ port: 7000, codec: lengthPrefixed(), handler: {
 *   message(conn, frame) { console.log(frame.toString()); },
 * }});
 * client.send('hello');
 * await client.close();
 * ```
 *
 * With `reconnect`, a connection lost for any reason other than `client.close()`
 * is retried; each retry is reported to `handler.reconnecting`. `open` and
 * `close` are called for every underlying connection, in order.
 *
 * `connect({ url: 'ws://host:port/path' })` opens a WebSocket client on the
 * same loop (src/websocket/client.ts).
 */
import type { ConnectionOptions } from 'node:tls';
import type { Codec } from '../codecs/codec.js';
import type { CloseReason } from '../connection/close-reason.js';
import type { Filter } from '../pipeline/filter.js';
import type { Connection } from '../connection/connection.js';
import type { Handler } from '../connection/handler.js';
import { capstanError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ListenerStats } from '../metrics/listener-counters.js';
import type { TimerWheel } from '../timers/timer-wheel.js';
import { connectWebSocket, type WebSocketClient, type WebSocketConnectOptions } from '../websocket/client.js';
import { ClientLoop } from './client-loop.js';
import { ConnectOptionsSchema, validateOptions, type LimitsOptions, type ReconnectOptions } from './options-schema.js';
import type { Transport } from './listen.js';

/** What `handler.reconnecting` is told before each retry. */
export interface ReconnectInfo {
  /** 1 for the first retry after a loss or failure, counting up until a connection opens. */
  attempt: number;
  /** How long until the retry. */
  delayMs: number;
  /** Why the last connection ended, when it had opened. */
  reason?: CloseReason;
  /** The error behind the failure, if any. */
  error?: Error;
}

export interface ClientHandler<D = unknown> extends Handler<D> {
  /** A retry is scheduled. */
  reconnecting?(info: ReconnectInfo): void;
}

export interface ClientTlsOptions {
  ca?: ConnectionOptions['ca'];
  key?: ConnectionOptions['key'];
  cert?: ConnectionOptions['cert'];
  pfx?: ConnectionOptions['pfx'];
  passphrase?: string;
  /** SNI name; default the host when it is a name. */
  servername?: string;
  /** Verify the server's certificate. Default `true`. */
  rejectUnauthorized?: boolean;
  alpnProtocols?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface ConnectOptions<D = unknown> {
  /** `tcp` (default), `tls` (implied by `tls`) or `unix` (implied by `path`). */
  transport?: Transport;
  /** Default `127.0.0.1`. */
  host?: string;
  port?: number;
  path?: string;
  /** Source address to connect from. */
  localAddress?: string;
  /** Default `true`. */
  noDelay?: boolean;
  /** Time allowed for TCP connect plus TLS handshake. Default 10,000 ms. */
  connectTimeoutMs?: number;
  tls?: ClientTlsOptions;
  /** Retry lost or failed connections: `true` for the defaults, or tune the back-off. */
  reconnect?: boolean | ReconnectOptions;
  codec?: Codec;
  /** Filters between the socket (after TLS) and the codec, in order from the socket, as on a listener. */
  filters?: Filter[];
  handler: ClientHandler<D>;
  /** Connection limits (timeouts, buffers, frame size); connection-count limits do not apply. */
  limits?: LimitsOptions;
  logger?: Logger;
  timerWheel?: TimerWheel;
}

/** A client: the current connection, plus the reconnect loop around it. */
export interface Client<D = unknown> {
  /** The open connection, or `null` while (re)connecting or after close. */
  readonly connection: Connection<D> | null;
  /** Sends on the current connection; `false` when there is none. */
  send(frame: Buffer | string): boolean;
  /** Stops reconnecting, ends the connection gracefully; resolves once it is closed. */
  close(): Promise<void>;
  /** Counters over every connection this client made. */
  stats(): ListenerStats;
}

/**
 * Connects. Resolves once the first connection is open; rejects with
 * `ERR_CONNECT_FAILED`/`ERR_CONNECT_TIMEOUT` (or `ERR_RECONNECT_EXHAUSTED` when
 * reconnecting gave up) if none opens.
 *
 * Given a `url` (`ws://…`, `wss://…`) instead of a host and port, it opens a
 * WebSocket client instead: see {@link connectWebSocket} (and
 * `ERR_WS_HANDSHAKE` when the server's answer to the upgrade is wrong).
 */
export function connect<D = unknown>(options: WebSocketConnectOptions<D>): Promise<WebSocketClient<D>>;
export function connect<D = unknown>(options: ConnectOptions<D>): Promise<Client<D>>;
export function connect<D = unknown>(options: ConnectOptions<D> | WebSocketConnectOptions<D>): Promise<Client<D> | WebSocketClient<D>> {
  if (typeof options === 'object' && options !== null && 'url' in options) return connectWebSocket(options);
  validateOptions('connect', ConnectOptionsSchema, options);
  const transport: Transport = options.transport ?? (options.path !== undefined ? 'unix' : options.tls !== undefined ? 'tls' : 'tcp');
  if (transport === 'unix' ? options.path === undefined : options.port === undefined) {
    throw capstanError('ERR_INVALID_OPTION', `connect: transport ${transport} needs option ${transport === 'unix' ? 'path' : 'port'}`, {
      path: transport === 'unix' ? 'path' : 'port',
    });
  }
  return new ClientLoop<D>(options, transport).start();
}
