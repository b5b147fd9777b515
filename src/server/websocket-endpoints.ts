/**
 * A WebSocket listener's endpoints as `websocket()` takes them, from what its
 * plugins' `websocket(ctx)` entry points returned: each object is the
 * endpoint's handler, its `upgrade` method the endpoint's upgrade hook, and the
 * `request` methods of all of them, chained, the server's one `request` hook.
 *
 * A plain HTTP request is offered to the `request` hooks in this order, until
 * one returns a response:
 *
 * ```
 *  GET /healthz ─► the hook of the endpoint the path routes to (as an upgrade would be:
 *                  the endpoint at that path, else the '*' endpoint), if it has one
 *               ─► every other endpoint's hook, in config order
 *               ─► nobody answered (or no hooks at all): 426, as without hooks
 * ```
 *
 * A hook declines by returning nothing, so one plugin can serve its page at
 * `/` and its health check at `/healthz` while its socket is at `/chat`, and
 * two plugins on one port each answer their own paths.
 */
import { capstanError } from '../errors.js';
import type { HttpRequest, HttpResponse, UpgradeDecision, UpgradeRequest, WebSocketEndpoint, WebSocketHandler, WebSocketServerOptions } from '../websocket/options.js';
import type { ResolvedWebSocket } from './config/websocket.js';

/**
 * What a plugin's `websocket(ctx)` returns: the endpoint's handler methods
 * (see {@link WebSocketHandler}) and, beside them, the endpoint's two hooks.
 * It is built once per endpoint, so the hooks and the handler share the
 * endpoint's `ctx` and whatever else the entry point closes over.
 *
 * ```ts
 * websocket: ({ options }) => ({
 *   upgrade(req) {
 *     if (req.headers['authorization'] !== `Bearer ${options.token}`) return { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } };
 *     return { data: { user: new URLSearchParams(req.query).get('user') ?? 'anon' } };
 *   },
 *   request(req) {
 *     if (req.path === '/healthz') return { body: 'ok\n' };
 *     // Nothing returned: another endpoint's hook may answer, else 426.
 *   },
 *   message(ws, data) { ws.send(`${ws.data.user}: ${data}`); },
 * }),
 * ```
 * @typeParam D - the type of `ws.data`, first set by `upgrade`.
 * @category Application server
 */
export interface PluginWebSocketHandler<D = unknown> extends WebSocketHandler<D> {
  /**
   * Sees each upgrade request to this endpoint after the server's own checks
   * (path, origins, subprotocol choice), sync or async: return nothing to
   * accept, `{ data, protocol, headers }` to accept with the socket's first
   * `ws.data`, another offered subprotocol or extra response headers, or
   * `{ status, headers, body }` (400-599) to refuse. A throw or rejection
   * refuses with 500 and counts a handler error.
   */
  upgrade?(req: UpgradeRequest): UpgradeDecision<D> | Promise<UpgradeDecision<D>>;
  /**
   * Answers a plain HTTP request on the listener's port (a page, a health
   * check), sync or async, with `{ status = 200, headers, body }`; the
   * connection closes after it. Return nothing to leave the request to the
   * other endpoints' hooks (docs/websocket.md, "Hooks in a plugin"); when none
   * answers it gets 426. A throw or rejection answers 500 and counts a
   * handler error.
   */
  request?(req: HttpRequest): HttpResponse | undefined | void | Promise<HttpResponse | undefined | void>;
}

/** One endpoint's built handler, with the name of the plugin that built it (for errors). */
export interface BuiltEndpoint {
  readonly plugin: string;
  readonly handler: unknown;
}

type RequestHook = NonNullable<PluginWebSocketHandler['request']>;

/**
 * The `endpoints` and `request` of the listener's `websocket()` options, in
 * config order (`built[i]` answers `ws.endpoints[i]`).
 * @throws CapstanError `ERR_PLUGIN` when an entry point returned something that is not a handler, or a hook that is not a function.
 */
export function pluginEndpoints(listener: string, ws: ResolvedWebSocket, built: readonly BuiltEndpoint[]): Pick<WebSocketServerOptions, 'endpoints' | 'request'> {
  const hooks: { path: string; request: RequestHook }[] = [];
  const endpoints = ws.endpoints.map((e, i): WebSocketEndpoint => {
    const path = e.settings.path as string;
    const { plugin, handler } = built[i] as BuiltEndpoint;
    const wrong = (what: string) => capstanError('ERR_PLUGIN', `listener ${listener}, endpoint ${path}: plugin ${plugin}'s websocket(ctx) ${what}`);
    if (typeof handler !== 'object' || handler === null) throw wrong(`returned ${handler === null ? 'null' : `a ${typeof handler}`}, not an object of handler methods`);
    const h = handler as PluginWebSocketHandler;
    for (const key of ['upgrade', 'request'] as const) {
      if (h[key] !== undefined && typeof h[key] !== 'function') throw wrong(`returned ${key} as a ${typeof h[key]}, not a function`);
    }
    if (h.request !== undefined) hooks.push({ path, request: h.request.bind(h) });
    // The whole object is the handler (the server calls only its handler methods), so methods defined on a class keep working.
    return { ...e.settings, handler: h, ...(h.upgrade !== undefined ? { upgrade: h.upgrade.bind(h) } : {}) } as WebSocketEndpoint;
  });
  const request = requestChain(ws.endpoints.map((e) => e.settings.path as string), hooks);
  return { endpoints, ...(request !== undefined ? { request } : {}) };
}

/**
 * The hooks as one: the routed endpoint's first, then the rest in config order
 * (see the module comment), the order worked out per path once. Undefined
 * without hooks, so the server answers 426 itself.
 */
function requestChain(paths: readonly string[], hooks: readonly { path: string; request: RequestHook }[]): RequestHook | undefined {
  if (hooks.length === 0) return undefined;
  const all = hooks.map((h) => h.request);
  const first = (path: string) => {
    const own = hooks.find((h) => h.path === path)?.request;
    return own === undefined ? all : [own, ...all.filter((r) => r !== own)];
  };
  const byPath = new Map(paths.filter((p) => p !== '*').map((p) => [p, first(p)]));
  const rest = first('*');
  return (req) => offer(req, byPath.get(req.path) ?? rest, 0);
}

/** Offers `req` to `order[i]` and on: the first answer wins; stays synchronous while the hooks are. */
function offer(req: HttpRequest, order: readonly RequestHook[], i: number): ReturnType<RequestHook> {
  for (; i < order.length; i++) {
    const r = (order[i] as RequestHook)(req);
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      const next = i + 1;
      return (r as Promise<HttpResponse | undefined | void>).then((answer) => answer ?? offer(req, order, next));
    }
    if (r !== undefined && r !== null) return r;
  }
  return undefined;
}
