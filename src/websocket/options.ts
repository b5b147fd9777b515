/**
 * What a WebSocket server is configured with: endpoints by path, each with its
 * handler, subprotocols, allowed origins, an `upgrade` hook and bounds; and,
 * for the whole port, the bounds on the upgrade request and a `request` hook
 * for plain HTTP. Every bound has a safe default (docs/websocket.md).
 */
import type { CloseReason } from '../connection/close-reason.js';
import { capstanError } from '../errors.js';
import { resolveDeflateOptions, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from './deflate-options.js';
import type { HeaderMap } from './http-head.js';
import type { WebSocket } from './socket.js';

/**
 * One endpoint's handler: optional methods, as for a plain connection. Per
 * WebSocket: `open` once, then `message` per whole message, then `close`
 * exactly once and last. After `close`, `send` returns false.
 */
export interface WebSocketHandler<D = unknown> {
  /** The handshake is done; `ws.data` holds what the `upgrade` hook gave. */
  open?(ws: WebSocket<D>): void;
  /**
   * One whole message. Text arrives as a Buffer of validated UTF-8 (call
   * `data.toString()` for a string) with `isBinary` false. The buffer may be a
   * view of received bytes: valid after the call, but it keeps its read chunk alive.
   */
  message?(ws: WebSocket<D>, data: Buffer, isBinary: boolean): void;
  /** A ping arrived (the pong has already been queued). */
  ping?(ws: WebSocket<D>, payload: Buffer): void;
  /** A pong arrived. */
  pong?(ws: WebSocket<D>, payload: Buffer): void;
  /** The outbound queue went above the high-water mark and has drained: send more. */
  drain?(ws: WebSocket<D>): void;
  /**
   * The WebSocket is gone. `code` and `reason` are the peer's close frame (1005
   * when it had no code), else the one we sent, else 1006 (no close frame);
   * `cause` is the typed close reason of the connection.
   */
  close?(ws: WebSocket<D>, code: number, reason: string, cause: CloseReason, error?: Error): void;
}

/** A request as the hooks see it. */
export interface HttpRequest {
  readonly method: string;
  /** The request target as sent (`/chat?room=1`). */
  readonly url: string;
  /** The target's path, without the query. */
  readonly path: string;
  /** The query string without `?`, or `''`. */
  readonly query: string;
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

/** The upgrade request as the `upgrade` hook sees it. */
export interface UpgradeRequest extends HttpRequest {
  readonly remotePort: number;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** The subprotocol the server chose from the endpoint's list, or `''`. */
  readonly protocol: string;
}

/** Refuse the upgrade with an HTTP status (≥ 400), optional headers and body. */
export interface UpgradeRefusal {
  readonly status: number;
  readonly headers?: HeaderMap;
  readonly body?: string | Buffer;
}

/** Accept the upgrade: the initial `ws.data`, a different subprotocol, extra response headers (cookies). */
export interface UpgradeAcceptance<D = unknown> {
  readonly data?: D;
  /** Overrides the chosen subprotocol; must be one the client offered. */
  readonly protocol?: string;
  readonly headers?: HeaderMap;
}

export type UpgradeDecision<D> = UpgradeRefusal | UpgradeAcceptance<D> | undefined | void;

/** The `request` hook's answer. */
export interface HttpResponse {
  /** Default 200. */
  readonly status?: number;
  readonly headers?: HeaderMap;
  readonly body?: string | Buffer;
}

export interface WebSocketEndpoint<D = unknown> {
  /** The request path (without the query) this endpoint serves, e.g. `/chat`; `*` serves every path. */
  path: string;
  handler: WebSocketHandler<D>;
  /** Subprotocols this endpoint speaks, in order of preference: the first one the client also offered is chosen. */
  protocols?: readonly string[];
  /** Browser origins allowed to connect (`https://app.example`); a request with another `Origin` gets 403. Default: any. */
  origins?: readonly string[];
  /** Sees every upgrade request before it is accepted; may refuse it or fill `ws.data`. Sync or async. */
  upgrade?(req: UpgradeRequest): UpgradeDecision<D> | Promise<UpgradeDecision<D>>;
  /**
   * permessage-deflate (RFC 7692) for clients that offer it: `true` for the
   * defaults, or tune it (docs/websocket.md). Default off.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Bytes of one message, fragments joined (after inflating, with permessage-deflate). Default 1 MiB (ws: 100 MiB). */
  maxMessageBytes?: number;
  /** Frames of one fragmented message. Default 1,024. */
  maxFragments?: number;
  /** Ping a peer that has sent nothing for this long (ms); 0 disables heartbeats. Default 30,000. */
  pingIntervalMs?: number;
  /** Close with `heartbeat-timeout` when nothing (a pong or anything else) arrives this long after a ping. Default 10,000. */
  pongTimeoutMs?: number;
  /** After our close frame, wait this long for the peer's before destroying (`close-timeout`). Default 5,000. */
  closeTimeoutMs?: number;
}

export interface WebSocketServerOptions<D = unknown> {
  /** Endpoints by path. Give either this or `path` + `handler` for a single endpoint. */
  endpoints?: WebSocketEndpoint<D>[];
  /** The single endpoint's path (default `*`: every path). */
  path?: string;
  /** The single endpoint's handler. */
  handler?: WebSocketHandler<D>;
  /** The single endpoint's settings (see {@link WebSocketEndpoint}). */
  protocols?: readonly string[];
  origins?: readonly string[];
  upgrade?: WebSocketEndpoint<D>['upgrade'];
  perMessageDeflate?: WebSocketEndpoint<D>['perMessageDeflate'];
  maxMessageBytes?: number;
  maxFragments?: number;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  closeTimeoutMs?: number;
  /** Answers plain HTTP requests (a health page, a client page); without it they get 426. Sync or async. */
  request?(req: HttpRequest): HttpResponse | Promise<HttpResponse>;
  /** Bytes of the upgrade request head. Default 8,192 (431 above). */
  maxHeaderBytes?: number;
  /** Bytes of the request line. Default 4,096 (414 above). */
  maxRequestLineBytes?: number;
  /** Header lines. Default 64 (431 above). */
  maxHeaders?: number;
  /** The upgrade request must be complete (and any async hook done) this long after connecting. Default 10,000 ms. */
  upgradeTimeoutMs?: number;
}

/** An endpoint with every default filled in. */
export interface ResolvedEndpoint<D = unknown> {
  readonly path: string;
  readonly handler: WebSocketHandler<D>;
  readonly protocols: readonly string[];
  readonly origins: ReadonlySet<string> | null;
  readonly upgrade: WebSocketEndpoint<D>['upgrade'] | null;
  /** null: off. */
  readonly perMessageDeflate: ResolvedDeflateOptions | null;
  readonly maxMessageBytes: number;
  readonly maxFragments: number;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly closeTimeoutMs: number;
}

const ENDPOINT_KEYS = ['path', 'handler', 'protocols', 'origins', 'upgrade', 'perMessageDeflate', 'maxMessageBytes', 'maxFragments', 'pingIntervalMs', 'pongTimeoutMs', 'closeTimeoutMs'];
const SERVER_KEYS = ['endpoints', 'request', 'maxHeaderBytes', 'maxRequestLineBytes', 'maxHeaders', 'upgradeTimeoutMs', ...ENDPOINT_KEYS];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function bad(path: string, expected: string): never {
  throw capstanError('ERR_INVALID_OPTION', `websocket: option ${path} must be ${expected}`, { path: `websocket.${path}` });
}

function int(o: Record<string, unknown>, key: string, path: string, dflt: number, min: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(path, `an integer ≥ ${min}`);
  return v;
}

function checkKeys(o: object, allowed: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw capstanError('ERR_UNKNOWN_OPTION', `websocket: unknown option ${at}${k} (known: ${allowed.join(', ')})`, { path: `websocket.${at}${k}` });
  }
}

export function resolveEndpoint<D>(e: WebSocketEndpoint<D>, at: string): ResolvedEndpoint<D> {
  const o = e as unknown as Record<string, unknown>;
  checkKeys(e, ENDPOINT_KEYS, at);
  if (typeof e.path !== 'string' || (e.path !== '*' && !e.path.startsWith('/'))) bad(`${at}path`, "a path beginning with '/' (or '*')");
  if (typeof e.handler !== 'object' || e.handler === null) bad(`${at}handler`, 'an object of handler methods');
  const protocols = e.protocols ?? [];
  if (!Array.isArray(protocols) || protocols.some((p) => typeof p !== 'string' || !TOKEN.test(p))) bad(`${at}protocols`, 'a list of subprotocol tokens');
  const origins = e.origins;
  if (origins !== undefined && (!Array.isArray(origins) || origins.some((p) => typeof p !== 'string'))) bad(`${at}origins`, 'a list of origins');
  if (e.upgrade !== undefined && typeof e.upgrade !== 'function') bad(`${at}upgrade`, 'a function');
  return {
    path: e.path,
    handler: e.handler,
    protocols,
    origins: origins === undefined ? null : new Set(origins.map((x) => x.toLowerCase())),
    upgrade: e.upgrade ?? null,
    perMessageDeflate: resolveDeflateOptions(e.perMessageDeflate, `${at}perMessageDeflate`, 'websocket', 'websocket.'),
    maxMessageBytes: int(o, 'maxMessageBytes', `${at}maxMessageBytes`, 1024 * 1024, 1),
    maxFragments: int(o, 'maxFragments', `${at}maxFragments`, 1024, 1),
    pingIntervalMs: int(o, 'pingIntervalMs', `${at}pingIntervalMs`, 30_000, 0),
    pongTimeoutMs: int(o, 'pongTimeoutMs', `${at}pongTimeoutMs`, 10_000, 1),
    closeTimeoutMs: int(o, 'closeTimeoutMs', `${at}closeTimeoutMs`, 5_000, 1),
  };
}

export interface ResolvedServerOptions<D> {
  readonly endpoints: readonly ResolvedEndpoint<D>[];
  readonly request: WebSocketServerOptions<D>['request'] | null;
  readonly maxHeaderBytes: number;
  readonly maxRequestLineBytes: number;
  readonly maxHeaders: number;
  readonly upgradeTimeoutMs: number;
}

export function resolveServerOptions<D>(options: WebSocketServerOptions<D>): ResolvedServerOptions<D> {
  if (typeof options !== 'object' || options === null) bad('', 'an object');
  checkKeys(options, SERVER_KEYS, '');
  const o = options as unknown as Record<string, unknown>;
  let endpoints: ResolvedEndpoint<D>[];
  if (options.endpoints !== undefined) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) bad('endpoints', 'a non-empty list of endpoints');
    for (const k of ENDPOINT_KEYS) if (o[k] !== undefined) bad(k, 'given per endpoint when endpoints is given');
    endpoints = options.endpoints.map((e, i) => resolveEndpoint(e, `endpoints[${i}].`));
    const seen = new Set<string>();
    for (const e of endpoints) {
      if (seen.has(e.path)) bad('endpoints', `a list with one endpoint per path (${e.path} twice)`);
      seen.add(e.path);
    }
  } else {
    if (options.handler === undefined) bad('handler', 'an object of handler methods (or give endpoints)');
    const single: Record<string, unknown> = {};
    for (const k of ENDPOINT_KEYS) if (o[k] !== undefined) single[k] = o[k];
    single['path'] ??= '*';
    endpoints = [resolveEndpoint(single as unknown as WebSocketEndpoint<D>, '')];
  }
  if (options.request !== undefined && typeof options.request !== 'function') bad('request', 'a function');
  return {
    endpoints,
    request: options.request ?? null,
    maxHeaderBytes: int(o, 'maxHeaderBytes', 'maxHeaderBytes', 8192, 64),
    maxRequestLineBytes: int(o, 'maxRequestLineBytes', 'maxRequestLineBytes', 4096, 16),
    maxHeaders: int(o, 'maxHeaders', 'maxHeaders', 64, 1),
    upgradeTimeoutMs: int(o, 'upgradeTimeoutMs', 'upgradeTimeoutMs', 10_000, 0),
  };
}
