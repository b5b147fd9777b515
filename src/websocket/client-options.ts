/**
 * What a WebSocket client is configured with, its defaults, and the checks
 * made before anything is dialed: the URL, the headers (none may forge the
 * handshake's own), the subprotocols, and every bound.
 */
import { Type } from '@sinclair/typebox';
import type { CloseReason } from '../connection/close-reason.js';
import { capstanError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TimerWheel } from '../timers/timer-wheel.js';
import type { ClientTlsOptions, ReconnectInfo } from '../transport/connect.js';
import { ConnectOptionsSchema, validateOptions, type LimitsOptions, type ReconnectOptions } from '../transport/options-schema.js';
import type { ClientWebSocket } from './client-socket.js';
import { resolveDeflateOptions, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from './deflate-options.js';
import { headerLines, type HeaderMap } from './http-head.js';

/**
 * A client's handler: the server handler's methods, per underlying
 * connection (`open` once, `message` per whole message, `close` exactly once
 * and last), plus `reconnecting` between connections.
 * @typeParam D - the type of `ws.data`, the per-connection state.
 * @category WebSocket
 */
export interface WebSocketClientHandler<D = unknown> {
  /** The handshake is done; `ws.protocol` is the subprotocol the server chose. */
  open?(ws: ClientWebSocket<D>): void;
  /** One whole message; text arrives as a Buffer of validated UTF-8 with `isBinary` false. The buffer may be a view of received bytes. */
  message?(ws: ClientWebSocket<D>, data: Buffer, isBinary: boolean): void;
  /** A ping arrived (the pong has already been queued). */
  ping?(ws: ClientWebSocket<D>, payload: Buffer): void;
  /** A pong arrived. */
  pong?(ws: ClientWebSocket<D>, payload: Buffer): void;
  /** The outbound queue went above the high-water mark and has drained: send more. */
  drain?(ws: ClientWebSocket<D>): void;
  /**
   * The WebSocket is gone. `code` and `reason` are the server's close frame
   * (1005 when it had no code), else the one we sent, else 1006 (no close
   * frame); `cause` is the typed close reason of the connection.
   */
  close?(ws: ClientWebSocket<D>, code: number, reason: string, cause: CloseReason, error?: Error): void;
  /** A retry is scheduled (with `reconnect`); `info.error` says why the last attempt failed, an `ERR_WS_HANDSHAKE` for a refused upgrade. */
  reconnecting?(info: ReconnectInfo): void;
}

/**
 * Options of {@link connectWebSocket} (and of `connect` given a `ws://` or
 * `wss://` URL). Only `url` and `handler` are required. Checked before
 * anything is dialed: a bad or unknown key throws `ERR_INVALID_OPTION` or
 * `ERR_UNKNOWN_OPTION` naming it.
 * @typeParam D - the type of `ws.data`.
 * @category WebSocket
 */
export interface WebSocketConnectOptions<D = unknown> {
  /** `ws://host[:port]/path?query`, or `wss://…` for TLS. The port defaults to 80 (ws) or 443 (wss). */
  url: string;
  /** What to do with each connection's WebSocket and its messages (see {@link WebSocketClientHandler}). */
  handler: WebSocketClientHandler<D>;
  /**
   * Extra request headers (cookies, authorization; a list repeats the header).
   * `Host` may be given; the headers the handshake sets itself may not.
   */
  headers?: HeaderMap;
  /** Subprotocols to offer, in order of preference; the server may choose one of them or none. */
  protocols?: readonly string[];
  /** The `Origin` header, for servers that check it. Default: none. */
  origin?: string;
  /**
   * Offer permessage-deflate (RFC 7692): `true` for the defaults, or tune it
   * (the server… keys are what we ask of the server). Default off.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Bytes of one received message, fragments joined (after inflating). Default 1 MiB. */
  maxMessageBytes?: number;
  /** Frames of one received fragmented message. Default 1,024. */
  maxFragments?: number;
  /** After a close frame either way, wait this long for the rest of the close handshake (ms). Default 5,000. */
  closeTimeoutMs?: number;
  /** Time allowed for TCP connect, TLS handshake and the upgrade together (ms). Default 10,000. */
  connectTimeoutMs?: number;
  /** Retry lost or failed connections (refused upgrades too) with back-off: `true` for the defaults, or tune it. */
  reconnect?: boolean | ReconnectOptions;
  /** For `wss://`: CA, SNI name (default the URL's host when it is a name), `rejectUnauthorized` (default true), client certificate. */
  tls?: ClientTlsOptions;
  /** Source address to connect from. */
  localAddress?: string;
  /** Default `true`. */
  noDelay?: boolean;
  /** Connection limits (timeouts, buffers); as for `connect`. */
  limits?: LimitsOptions;
  /** Where the client logs, through `logger.child({ client: 'ws://host:port/path' })`. Default: pino on stderr at `warn`. */
  logger?: Logger;
  /** The timer wheel that runs the connection's timeouts (close, heartbeat, connect). Default: the process-wide wheel. */
  timerWheel?: TimerWheel;
}

const C = ConnectOptionsSchema.properties;
const TOKEN_PATTERN = "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$";

export const WebSocketConnectOptionsSchema = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    handler: C.handler,
    headers: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Array(Type.String())]))),
    protocols: Type.Optional(Type.Array(Type.String({ pattern: TOKEN_PATTERN }))),
    origin: Type.Optional(Type.String({ minLength: 1 })),
    // Checked by resolveDeflateOptions, which names the key that is wrong.
    perMessageDeflate: Type.Optional(Type.Unknown()),
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    maxFragments: Type.Optional(Type.Integer({ minimum: 1 })),
    closeTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    connectTimeoutMs: C.connectTimeoutMs,
    reconnect: C.reconnect,
    tls: C.tls,
    localAddress: C.localAddress,
    noDelay: C.noDelay,
    limits: C.limits,
    logger: C.logger,
    timerWheel: C.timerWheel,
  },
  { additionalProperties: false },
);

/** Headers the handshake writes itself: giving them would forge or break it. */
const OWN_HEADERS = new Set(['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'sec-websocket-accept', 'origin']);

/** The options with the URL taken apart and every default filled in. */
export interface ResolvedClientOptions {
  readonly secure: boolean;
  /** For `net.connect`: no brackets around IPv6. */
  readonly host: string;
  readonly port: number;
  /** The Host header. */
  readonly hostHeader: string;
  /** Path and query. */
  readonly resource: string;
  /** The URL without its query, for logs and errors. */
  readonly where: string;
  readonly protocols: readonly string[];
  readonly origin: string | undefined;
  /** Serialised extra header lines. */
  readonly extra: string;
  /** null: not offered. */
  readonly perMessageDeflate: ResolvedDeflateOptions | null;
  readonly maxMessageBytes: number;
  readonly maxFragments: number;
  readonly closeTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

function invalid(path: string, message: string, actual?: unknown): never {
  throw capstanError('ERR_INVALID_OPTION', `connect: ${message}`, { path, actual });
}

/** Checks and resolves. @throws CapstanError `ERR_INVALID_OPTION` / `ERR_UNKNOWN_OPTION` naming the option. */
export function resolveClientOptions<D>(options: WebSocketConnectOptions<D>): ResolvedClientOptions {
  validateOptions('connect', WebSocketConnectOptionsSchema, options);
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    invalid('url', `url ${JSON.stringify(options.url)} is not a URL; write ws://HOST:PORT/PATH or wss://…`, options.url);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') invalid('url', `url ${JSON.stringify(options.url)} must begin with ws:// or wss://`, options.url);
  if (url.hash !== '') invalid('url', 'a WebSocket URL has no #fragment (RFC 6455 §3)', options.url);
  if (url.username !== '' || url.password !== '') invalid('url', 'credentials in the URL are not sent; give an Authorization header in headers', options.url);
  const secure = url.protocol === 'wss:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  if (options.tls !== undefined && !secure) invalid('tls', 'option tls is for wss:// URLs');
  const protocols = options.protocols ?? [];
  if (new Set(protocols).size !== protocols.length) invalid('protocols', 'each subprotocol may be offered once', protocols);
  for (const name of Object.keys(options.headers ?? {})) {
    if (OWN_HEADERS.has(name.toLowerCase())) invalid(`headers.${name}`, `header ${name} is set by the handshake itself${name.toLowerCase() === 'origin' ? ' (use option origin)' : name.toLowerCase() === 'sec-websocket-protocol' ? ' (use option protocols)' : ''}`);
  }
  let extra: string;
  try {
    extra = headerLines(options.headers);
  } catch (err) {
    invalid('headers', `${(err as Error).message}: header names must be tokens and values may not hold CR, LF or NUL`);
  }
  let hostHeader = url.host;
  if (options.headers !== undefined) {
    const given = Object.keys(options.headers).find((k) => k.toLowerCase() === 'host');
    if (given !== undefined) {
      // The caller's Host replaces ours rather than repeating it (servers refuse two).
      hostHeader = String(options.headers[given]);
      extra = headerLines(Object.fromEntries(Object.entries(options.headers).filter(([k]) => k !== given)));
    }
  }
  if (options.origin !== undefined && /[\r\n\0]/.test(options.origin)) invalid('origin', 'option origin may not hold CR, LF or NUL');
  return {
    secure,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    hostHeader,
    resource: `${url.pathname === '' ? '/' : url.pathname}${url.search}`,
    where: `${url.protocol}//${url.host}${url.pathname}`,
    protocols,
    origin: options.origin,
    extra,
    perMessageDeflate: resolveDeflateOptions(options.perMessageDeflate, 'perMessageDeflate', 'connect'),
    maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
    maxFragments: options.maxFragments ?? 1024,
    closeTimeoutMs: options.closeTimeoutMs ?? 5_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
  };
}
