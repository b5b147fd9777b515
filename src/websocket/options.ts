/**
 * What a WebSocket server is configured with: endpoints by path, each with its
 * handler, subprotocols, allowed origins, an `upgrade` hook and bounds; and,
 * for the whole port, the bounds on the upgrade request and a `request` hook
 * for plain HTTP. Every bound has a safe default (docs/websocket.md).
 */
import type { CloseReason } from '../connection/close-reason.js';
import { capstanError } from '../errors.js';
import { localBackend, type PublishBackend } from '../pubsub/backend.js';
import { resolveDeflateOptions, type PerMessageDeflateOptions, type ResolvedDeflateOptions } from './deflate-options.js';
import type { HeaderMap } from './http-head.js';
import type { WebSocket } from './socket.js';

/**
 * One endpoint's handler: optional methods, as for a plain connection. Per
 * WebSocket: `open` once, then `message` per whole message, then `close`
 * exactly once and last. After `close`, `send` returns false.
 *
 * A method that throws closes its own WebSocket with close reason
 * `handler-error` (sending close code 1011 first when `open` or `message`
 * threw); no other WebSocket notices.
 * @typeParam D - the type of `ws.data`, the per-socket state (first set by the `upgrade` hook).
 * @category WebSocket
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

/**
 * A request as the hooks see it: the `request` hook a plain HTTP request, the
 * `upgrade` hook an upgrade request (as an {@link UpgradeRequest}).
 * @category WebSocket
 */
export interface HttpRequest {
  /** The request method as sent, e.g. `GET` or `HEAD` (a HEAD request gets the response without its body). */
  readonly method: string;
  /** The request target as sent (`/chat?room=1`). */
  readonly url: string;
  /** The target's path, without the query. */
  readonly path: string;
  /** The query string without `?`, or `''`. */
  readonly query: string;
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The peer's address (the client's, behind a trusted PROXY header). */
  readonly remoteAddress: string;
}

/**
 * The upgrade request as the `upgrade` hook sees it, after the checks the
 * server makes itself (method, `Upgrade`, `Connection`, version 13, key, path,
 * `origins`).
 * @category WebSocket
 */
export interface UpgradeRequest extends HttpRequest {
  /** The peer's port (the client's, behind a trusted PROXY header). */
  readonly remotePort: number;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** The subprotocol the server chose from the endpoint's list, or `''`. */
  readonly protocol: string;
}

/**
 * What the `upgrade` hook returns to refuse the upgrade: an HTTP response,
 * sent with `Connection: close`, after which the connection ends. Counted in
 * `handshakesRefused` by status.
 * @category WebSocket
 */
export interface UpgradeRefusal {
  /** The HTTP status, 400 to 599; any other number is sent as 500. */
  readonly status: number;
  /** Extra response headers (a list repeats the header). A name or value with CR or LF turns the answer into a 500. */
  readonly headers?: HeaderMap;
  /** The response body. Default `refused by the upgrade hook`; `Content-Type` defaults to `text/plain; charset=utf-8`. */
  readonly body?: string | Buffer;
}

/**
 * What the `upgrade` hook returns to accept the upgrade with the initial
 * `ws.data`, a different subprotocol or extra response headers (cookies).
 * @typeParam D - the type of `ws.data`.
 * @category WebSocket
 */
export interface UpgradeAcceptance<D = unknown> {
  /** The new WebSocket's `ws.data`. Default `undefined`. */
  readonly data?: D;
  /** Overrides the chosen subprotocol; must be one the client offered, or the upgrade is refused with 500. */
  readonly protocol?: string;
  /** Extra headers on the 101 response (a list repeats the header). A name or value with CR or LF turns the answer into a 500. */
  readonly headers?: HeaderMap;
}

/**
 * What the `upgrade` hook decides: an {@link UpgradeRefusal} (an object with a
 * `status`) refuses, an {@link UpgradeAcceptance} or nothing accepts. A hook
 * that throws or rejects refuses with 500 and counts a handler error.
 * @typeParam D - the type of `ws.data`.
 * @category WebSocket
 */
export type UpgradeDecision<D> = UpgradeRefusal | UpgradeAcceptance<D> | undefined | void;

/**
 * The `request` hook's answer to a plain HTTP request, sent with
 * `Connection: close` and a `Content-Length`, after which the connection ends.
 * @category WebSocket
 */
export interface HttpResponse {
  /** The HTTP status. Default 200; 400 and above are counted in `handshakesRefused`, below it in `httpRequests`. */
  readonly status?: number;
  /** Response headers (a list repeats the header). A name or value with CR or LF turns the answer into a 500. */
  readonly headers?: HeaderMap;
  /** The response body. Default empty; `Content-Type` defaults to `text/plain; charset=utf-8`. */
  readonly body?: string | Buffer;
}

/**
 * One WebSocket endpoint of a server: the path it serves, its handler, and
 * its own subprotocols, origins, hook and bounds (see
 * {@link WebSocketServerOptions.endpoints}).
 * @typeParam D - the type of `ws.data` on this endpoint's sockets.
 * @category WebSocket
 */
export interface WebSocketEndpoint<D = unknown> {
  /** The request path (without the query) this endpoint serves, e.g. `/chat`; `*` serves every path. */
  path: string;
  /** What to do with this endpoint's WebSockets. */
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

/**
 * Pub/sub settings of a WebSocket server (see docs/websocket.md, "Pub/sub").
 * @category WebSocket
 */
export interface PubSubOptions {
  /**
   * Carries publishes to other processes and brings theirs back. Default: none
   * beyond this process (`localBackend()`); `capstan serve` with workers
   * plugs in its relay between workers.
   */
  backend?: PublishBackend;
  /** Topics one socket may be subscribed to at once; `subscribe` returns false above it. Default 1,000. */
  maxTopicsPerSocket?: number;
}

/**
 * Options of {@link websocket}, or a listener's `websocket` option: either
 * `endpoints`, or the settings of a single endpoint at the top level, plus
 * the bounds on the upgrade request for the whole port.
 *
 * Checked when the server is made: a bad or unknown key throws
 * `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` naming it. See docs/websocket.md.
 * @typeParam D - the type of `ws.data` on the server's sockets.
 * @category WebSocket
 */
export interface WebSocketServerOptions<D = unknown> {
  /** Endpoints by path (one per path). Give either this or `path` + `handler` for a single endpoint; with it, the single endpoint's settings may not be given. */
  endpoints?: WebSocketEndpoint<D>[];
  /** The single endpoint's path (default `*`: every path). */
  path?: string;
  /** The single endpoint's handler. */
  handler?: WebSocketHandler<D>;
  /** The single endpoint's subprotocols, in order of preference (see {@link WebSocketEndpoint.protocols}). Default none. */
  protocols?: readonly string[];
  /** The single endpoint's allowed browser origins; another `Origin` gets 403. Default: any. */
  origins?: readonly string[];
  /** The single endpoint's hook on each upgrade request (see {@link WebSocketEndpoint.upgrade}). */
  upgrade?: WebSocketEndpoint<D>['upgrade'];
  /** The single endpoint's permessage-deflate (see {@link WebSocketEndpoint.perMessageDeflate}). Default off. */
  perMessageDeflate?: WebSocketEndpoint<D>['perMessageDeflate'];
  /** The single endpoint's bound on one message, bytes, fragments joined. Default 1 MiB. */
  maxMessageBytes?: number;
  /** The single endpoint's bound on the frames of one fragmented message. Default 1,024. */
  maxFragments?: number;
  /** The single endpoint's heartbeat: ping a peer silent this long (ms); 0 disables. Default 30,000. */
  pingIntervalMs?: number;
  /** The single endpoint's wait after a ping, with nothing received, before closing with `heartbeat-timeout` (ms). Default 10,000. */
  pongTimeoutMs?: number;
  /** The single endpoint's wait for the peer's close frame after ours before destroying (`close-timeout`, ms). Default 5,000. */
  closeTimeoutMs?: number;
  /**
   * Answers plain HTTP requests (a health page, a client page); without it they
   * get 426. Sync or async. Returning nothing declines the request: it gets the
   * 426 it would get without a hook.
   */
  request?(req: HttpRequest): HttpResponse | undefined | void | Promise<HttpResponse | undefined | void>;
  /** Bytes of the upgrade request head. Default 8,192 (431 above). */
  maxHeaderBytes?: number;
  /** Bytes of the request line. Default 4,096 (414 above). */
  maxRequestLineBytes?: number;
  /** Header lines. Default 64 (431 above). */
  maxHeaders?: number;
  /** The upgrade request must be complete (and any async hook done) this long after connecting. Default 10,000 ms. */
  upgradeTimeoutMs?: number;
  /** Pub/sub: the backend between processes and the per-socket topic bound. */
  pubsub?: PubSubOptions;
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
const SERVER_KEYS = ['endpoints', 'request', 'maxHeaderBytes', 'maxRequestLineBytes', 'maxHeaders', 'upgradeTimeoutMs', 'pubsub', ...ENDPOINT_KEYS];
const PUBSUB_KEYS = ['backend', 'maxTopicsPerSocket'];
const BACKEND_METHODS = ['open', 'publish', 'subscribed', 'unsubscribed', 'close'] as const;
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
  readonly pubsub: { readonly backend: PublishBackend; readonly maxTopicsPerSocket: number };
}

function resolvePubSub(given: PubSubOptions | undefined): ResolvedServerOptions<unknown>['pubsub'] {
  if (given === undefined) return { backend: localBackend(), maxTopicsPerSocket: 1000 };
  if (typeof given !== 'object' || given === null) bad('pubsub', 'an object { backend, maxTopicsPerSocket }');
  checkKeys(given, PUBSUB_KEYS, 'pubsub.');
  const b = given.backend;
  if (b !== undefined && (typeof b !== 'object' || b === null || BACKEND_METHODS.some((m) => typeof b[m] !== 'function'))) {
    bad('pubsub.backend', `a publish backend with the methods ${BACKEND_METHODS.join(', ')}`);
  }
  return {
    backend: b ?? localBackend(),
    maxTopicsPerSocket: int(given as Record<string, unknown>, 'maxTopicsPerSocket', 'pubsub.maxTopicsPerSocket', 1000, 1),
  };
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
    pubsub: resolvePubSub(options.pubsub),
  };
}
