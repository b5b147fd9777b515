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
 *
 * `connect({ transport: 'udp', … })` makes a UDP client instead: a connect()ed
 * socket with one session (src/transport/udp/connect-udp.ts, docs/udp.md).
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
import { connectUdp } from './udp/connect-udp.js';
import type { UdpClient, UdpConnectOptions } from './udp/client-options.js';

/**
 * What {@link ClientHandler.reconnecting} is told before each retry.
 * @category Listen and connect
 */
export interface ReconnectInfo {
  /** 1 for the first retry after a loss or failure, counting up until a connection opens. */
  attempt: number;
  /** ms until the retry, after back-off and jitter (see {@link ReconnectOptions}). */
  delayMs: number;
  /** Why the last connection ended, when it had opened; absent when the attempt failed to connect. */
  reason?: CloseReason;
  /** The error behind the loss or failure (refused, timed out, reset, a TLS error …), if any. */
  error?: Error;
}

/**
 * A client's handler: the listener's {@link Handler} methods, called for every
 * connection the client makes, plus `reconnecting`.
 * @typeParam D - the type of `conn.data`.
 * @category Listen and connect
 */
export interface ClientHandler<D = unknown> extends Handler<D> {
  /**
   * With `reconnect`: a retry is scheduled, `info.delayMs` from now. Called
   * after the lost connection's `close` (a connection that never opened gets
   * neither `open` nor `close`) and before the next one's `open`. It is not
   * called when the client stops trying: after `client.close()`, or once
   * `maxAttempts` retries in a row have failed. A throw is logged and the retry
   * goes ahead.
   */
  reconnecting?(info: ReconnectInfo): void;
}

/**
 * TLS settings of {@link connect} (and of `conn.startTls()` on a client).
 * @category TLS
 */
export interface ClientTlsOptions {
  /** CA certificates (PEM) the server's certificate must chain to. Default: Node's bundled root CAs. */
  ca?: ConnectionOptions['ca'];
  /** The client certificate's private key (PEM), for servers that ask for one; needs `cert`. */
  key?: ConnectionOptions['key'];
  /** The client certificate chain (PEM), matching `key`. */
  cert?: ConnectionOptions['cert'];
  /** A PKCS#12 bundle with the client key and certificate, instead of `key` and `cert`. */
  pfx?: ConnectionOptions['pfx'];
  /** Passphrase of `key` or `pfx`. */
  passphrase?: string;
  /** Server name sent for SNI and checked against the certificate. Default: `host` when it is a name (an IP address sends none). */
  servername?: string;
  /** Verify the server's certificate (chain and name); `false` accepts any, for tests only. Default `true`. */
  rejectUnauthorized?: boolean;
  /** ALPN protocol names offered, most preferred first. Default: no ALPN. */
  alpnProtocols?: string[];
  /** Lowest TLS version accepted. Default `TLSv1.2`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * Options of {@link connect}. `handler` is required, and `port` (TCP, TLS) or
 * `path` (Unix). Checked against {@link ConnectOptionsSchema} first.
 * @typeParam D - the type of `conn.data`.
 * @category Listen and connect
 */
export interface ConnectOptions<D = unknown> {
  /** `tcp` (default), `tls` (implied by `tls`) or `unix` (implied by `path`). */
  transport?: Transport;
  /** Server host name or address. Default `127.0.0.1`. */
  host?: string;
  /** Server port (TCP and TLS; required there). */
  port?: number;
  /** Unix socket path (transport `unix`; required there). */
  path?: string;
  /** Local address to connect from (TCP and TLS). Default: the kernel chooses. */
  localAddress?: string;
  /** Disable Nagle's algorithm (plain TCP). Default `true`: writes are batched per turn already. */
  noDelay?: boolean;
  /** ms allowed for the TCP connect plus the TLS handshake; then the attempt fails (`ERR_CONNECT_TIMEOUT`). Replaces `limits.handshakeTimeoutMs`. Default 10,000. */
  connectTimeoutMs?: number;
  /**
   * TLS settings; giving them makes the transport `tls`. The server's
   * certificate is verified against `tls.ca` (default: Node's root CAs) and
   * `tls.servername` (default: `host`); `tls.key` and `tls.cert` (PEM) or
   * `tls.pfx` present a client certificate.
   */
  tls?: ClientTlsOptions;
  /**
   * Retry failed and lost connections with exponential back-off: `true` for
   * the defaults of {@link ReconnectOptions}, or an object to tune them. Each
   * retry is announced to `handler.reconnecting`. Default `false`: a lost
   * connection stays lost, and a failed first attempt rejects `connect`.
   */
  reconnect?: boolean | ReconnectOptions;
  /** How bytes become frames and frames bytes. Default `raw()`. */
  codec?: Codec;
  /** Filters between the socket (after TLS) and the codec, in order from the socket, as on a listener. */
  filters?: Filter[];
  /** What to do with the connection and its frames (see {@link ClientHandler}). Required. */
  handler: ClientHandler<D>;
  /** Connection limits (timeouts, buffers, frame size) as on a listener; `maxConnections` and `maxConnectionsPerAddress` do not apply, and `connectTimeoutMs` replaces `handshakeTimeoutMs`. */
  limits?: LimitsOptions;
  /** Where the client logs, through `logger.child({ client: url })`; see {@link ListenOptions.logger}. Default: pino on stderr at `warn`. */
  logger?: Logger;
  /** The timer wheel that runs the connection's timeouts. Default: the process-wide wheel. */
  timerWheel?: TimerWheel;
}

/**
 * A client, as {@link connect} resolves it: the current connection, and the
 * reconnect loop around it.
 * @typeParam D - the type of `conn.data`.
 * @category Listen and connect
 */
export interface Client<D = unknown> {
  /** The open connection, or `null` while (re)connecting, after a loss without `reconnect`, and after `close`. */
  readonly connection: Connection<D> | null;
  /** Sends on the current connection (see {@link Connection.send}); `false`, and the frame dropped, when there is none. */
  send(frame: Buffer | string): boolean;
  /** Stops reconnecting and ends the connection gracefully (a connection still connecting is destroyed); resolves once it is closed. */
  close(): Promise<void>;
  /** Counters summed over every connection this client made (accepted = connections opened). */
  stats(): ListenerStats;
}

/**
 * Connects, and resolves once the first connection is open.
 *
 * ```ts
 * const client = await connect({ port: 7000, codec: lengthPrefixed(), reconnect: true, handler: {
 *   message(conn, frame) { console.log(frame.toString()); },
 *   reconnecting({ attempt, delayMs }) { console.log(`retry ${attempt} in ${delayMs} ms`); },
 * }});
 * ```
 *
 * With `reconnect`, failures before the first connection are retried too, so
 * the promise waits until one opens (for ever with `maxAttempts` 0).
 *
 * @typeParam D - the type of `conn.data`, the per-connection state the handler keeps.
 * @throws CapstanError `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION`, thrown at
 *   once for bad options. Rejects with `ERR_CONNECT_FAILED` or
 *   `ERR_CONNECT_TIMEOUT` when no connection opens, or `ERR_RECONNECT_EXHAUSTED`
 *   once `maxAttempts` retries have failed.
 *
 * Given a `url` (`ws://…`, `wss://…`) instead of a host and port, it opens a
 * WebSocket client instead: see {@link connectWebSocket} (and
 * `ERR_WS_HANDSHAKE` when the server's answer to the upgrade is wrong).
 *
 * With `transport: 'udp'` it resolves with a {@link UdpClient} once the
 * socket is connected (docs/udp.md); it rejects with `ERR_CONNECT_FAILED` or
 * `ERR_MULTICAST` when binding, connecting or joining fails.
 * @category Listen and connect
 */
export function connect<D = unknown>(options: WebSocketConnectOptions<D>): Promise<WebSocketClient<D>>;
export function connect<D = unknown>(options: UdpConnectOptions<D>): Promise<UdpClient<D>>;
export function connect<D = unknown>(options: ConnectOptions<D>): Promise<Client<D>>;
export function connect<D = unknown>(options: ConnectOptions<D> | WebSocketConnectOptions<D> | UdpConnectOptions<D>): Promise<Client<D> | WebSocketClient<D> | UdpClient<D>> {
  if (typeof options === 'object' && options !== null && 'url' in options) return connectWebSocket(options);
  if (options.transport === 'udp') return connectUdp(options);
  validateOptions('connect', ConnectOptionsSchema, options);
  const transport: Transport = options.transport ?? (options.path !== undefined ? 'unix' : options.tls !== undefined ? 'tls' : 'tcp');
  if (transport === 'unix' ? options.path === undefined : options.port === undefined) {
    throw capstanError('ERR_INVALID_OPTION', `connect: transport ${transport} needs option ${transport === 'unix' ? 'path' : 'port'}`, {
      path: transport === 'unix' ? 'path' : 'port',
    });
  }
  return new ClientLoop<D>(options, transport).start();
}
