/**
 * Plugins: how the application server learns what to do with a listener's
 * connections. A plugin is a module whose default export is made by
 * {@link definePlugin}. The server calls its entry points in this order:
 *
 * ```
 *  load module ─► check options ─► codec(options)? ─► setup(ctx) ─► handler(ctx) ─► bind
 *                   (at start and                        once per listener, before it binds
 *                    in `capstan check`)                 (a WebSocket endpoint: websocket(ctx))
 *
 *  per connection:  open ─► message* ─► [drain] ─► [end] ─► close(reason)   (exactly once, last)
 *  per WebSocket:   open ─► message*, ping*, pong* ─► [drain] ─► close(code, reason, cause)
 *  on stop/reload:  shutdown(conn) per open connection ─► connections end ─► teardown(ctx)
 *                   (a WebSocket gets close 1001 instead of shutdown)
 * ```
 *
 * - `options` is a TypeBox schema; the listener's `plugin.options` are checked
 *   against it (defaults filled in) before anything binds, so a bad option is a
 *   config error with a line number, not a runtime surprise.
 * - `codec(options)` supplies the framing when the listener's config names no
 *   codec; a codec named in the config wins.
 * - `setup(ctx)` may be async (open a database, load data); the listener binds
 *   only after it resolves. A throw fails the start (or the reload).
 * - `handler(ctx)` returns the connection handler: a plain object of the
 *   synchronous methods `open`, `message`, `drain`, `end`, `shutdown`, `close`
 *   (see {@link Handler}). It is built once per listener and shared by its
 *   connections; per-connection state goes in `conn.data`.
 * - `datagramHandler(ctx)`, for `transport: udp` listeners, returns the same
 *   kind of object with a session per peer in place of a connection.
 * - `websocket(ctx)` returns the handler of a WebSocket endpoint that names the
 *   plugin (`websocket.endpoints[].plugin` in the config): the methods `open`,
 *   `message`, `ping`, `pong`, `drain`, `close` (see {@link WebSocketHandler}),
 *   and beside them the hooks `upgrade(req)` (accept with `ws.data`, or refuse
 *   with a status) and `request(req)` (answer plain HTTP on the port), see
 *   {@link PluginWebSocketHandler}.
 *   It is built once per endpoint, after that endpoint's own `setup`. A plugin
 *   has one or more of `handler`, `websocket` and `datagramHandler`; `echo` has all three.
 * - `shutdown(conn)` runs when the server stops or the listener is removed by a
 *   reload: the place for a protocol-level goodbye. Connections are then ended
 *   once quiet and destroyed at the grace deadline.
 * - `teardown(ctx)` runs once after the listener's last connection closed.
 *
 * With several worker processes, every worker loads the plugin and runs its
 * own `setup`/`teardown`: plugins keep no state shared between processes.
 * Pub/sub is the one thing they share: `ctx.publish(topic, data)` (or
 * `ws.publish`) reaches the topic's subscribers in every worker.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Codec } from '../codecs/codec.js';
import type { Connection } from '../connection/connection.js';
import type { Handler } from '../connection/handler.js';
import type { Logger } from '../logger.js';
import type { ListenerTransport } from '../transport/listen.js';
import type { DatagramHandler } from '../transport/udp/options.js';
import type { Session } from '../transport/udp/session.js';
import type { WebSocketHandler } from '../websocket/options.js';
import type { PublishOptions } from '../websocket/server.js';
import type { Threads } from './threads.js';
import type { PluginWebSocketHandler } from './websocket-endpoints.js';

/**
 * What a plugin's entry points get: its options and the services of the
 * server. One context per listener (and per worker process).
 * @typeParam O - the plugin's options, as its schema makes them (`Static<S>`).
 * @typeParam D - the type of `conn.data` on the listener's connections.
 * @category Application server
 */
export interface PluginContext<O = Record<string, unknown>, D = unknown> {
  /** The listener's `plugin.options`, checked against the plugin's schema with defaults filled in. */
  readonly options: O;
  /** The listener this instance serves. */
  readonly listener: {
    /** The listener's name from the config file. */
    readonly name: string;
    /** Its transport. */
    readonly transport: ListenerTransport;
  };
  /** The WebSocket endpoint this instance serves (its path), when it serves one. */
  readonly endpoint?: {
    /** The endpoint's request path (`*` for the catch-all). */
    readonly path: string;
  };
  /** A pino logger with `listener` and `plugin` fields (and `worker` under workers): `logger.info('msg')`, `logger.warn({ fields }, 'msg')`. */
  readonly logger: Logger;
  /** `main` in single-process mode, else the worker id (`1`, `2` …). */
  readonly worker: string;
  /** The config file's directory: resolve the plugin's own relative files against it. */
  readonly configDir: string;
  /** Thread pools for CPU-heavy (`cpu`) and blocking (`blocking`) work. */
  readonly threads: Threads;
  /** Aborted when the listener begins to stop: cancel long-running work here. */
  readonly signal: AbortSignal;
  /** The listener's open connections (empty until it binds, and on a udp listener): for broadcast. */
  connections(): IterableIterator<Connection<D>>;
  /** A udp listener's live sessions (empty on stream listeners). */
  sessions(): IterableIterator<Session<D>>;
  /**
   * Publishes to the subscribers of `topic` on this listener's WebSocket
   * server (every endpoint), in every worker: `server.publish` of
   * docs/websocket.md. Before the listener binds, and on a listener that serves
   * no WebSocket, it reaches no one.
   * @returns how many sockets in this process it was queued to.
   */
  publish(topic: string, data: Buffer | string, options?: PublishOptions): number;
  /** Sockets in this process subscribed to `topic` on this listener, now. */
  subscribers(topic: string): number;
}

/**
 * The shape a plugin module's default export has; build it with
 * {@link definePlugin}.
 *
 * Per listener the server checks the options, then calls `codec`, `setup` and
 * `handler` and binds; on stop or reload it calls the handler's `shutdown` per
 * connection and, once they are gone, `teardown`. Every worker process loads
 * the plugin and runs its own `setup` and `teardown`. Writing one:
 * docs/server.md.
 * @typeParam S - the TypeBox schema of the plugin's options.
 * @typeParam D - the type of `conn.data` on the listener's connections.
 * @category Application server
 */
export interface Plugin<S extends TSchema = TSchema, D = unknown> {
  /** Name used in logs (e.g. `chat`). */
  readonly name: string;
  /** TypeBox schema of the plugin's options. Default: no options allowed. */
  readonly options?: S;
  /** Framing used when the listener config names no codec. */
  codec?(options: Static<S>): Codec;
  /** Once per listener, before it binds: open a database, load data. The listener binds once it resolves; a throw fails the start (or the reload). */
  setup?(ctx: PluginContext<Static<S>, D>): void | Promise<void>;
  /** The connection handler, built once per listener after `setup` and shared by its connections (see {@link Handler}). A plugin has this, `websocket`, `datagramHandler`, or several. */
  handler?(ctx: PluginContext<Static<S>, D>): Handler<D>;
  /**
   * The WebSocket handler, built once per endpoint after `setup`; `ws.data` is typed by `D`. Its
   * `upgrade(req)` and `request(req)` methods, if any, are the endpoint's hooks (see {@link PluginWebSocketHandler}).
   */
  websocket?(ctx: PluginContext<Static<S>, D>): PluginWebSocketHandler<D>;
  /**
   * The handler of a udp listener (sessions instead of connections, see
   * docs/udp.md), built once per listener after `setup`. A plugin without one
   * cannot serve udp listeners: the config check says so.
   */
  datagramHandler?(ctx: PluginContext<Static<S>, D>): DatagramHandler<D>;
  /** Once per listener, after its last connection closed (server stop, or the listener removed by a reload). */
  teardown?(ctx: PluginContext<Static<S>, D>): void | Promise<void>;
}

/**
 * Defines a plugin.
 *
 * Returns the definition unchanged: its value is the type checking (`options`
 * inferred from the schema, `conn.data` typed by `D`). A plain object of the
 * same shape works too.
 *
 * ```ts
 * import { definePlugin, Type } from 'capstan';
 *
 * export default definePlugin({
 *   name: 'upper',
 *   options: Type.Object({ suffix: Type.String({ default: '' }) }),
 *   handler: ({ options }) => ({
 *     message(conn, frame) { conn.send(Buffer.from(frame.toString().toUpperCase() + options.suffix)); },
 *   }),
 * });
 * ```
 *
 * @typeParam S - the TypeBox schema of `options`, inferred from the
 *   definition: `ctx.options` has the type it validates (`Static<S>`).
 * @typeParam D - the type of `conn.data` on the listener's connections; give it
 *   explicitly (`definePlugin<typeof Options, Session>({ … })`) to type the
 *   per-connection state.
 * @category Application server
 */
export function definePlugin<S extends TSchema = TSchema, D = unknown>(plugin: Plugin<S, D>): Plugin<S, D> {
  return plugin;
}
