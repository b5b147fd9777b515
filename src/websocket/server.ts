/**
 * The WebSocket server: a codec and a handler for any listener. A connection
 * starts with the HTTP head codec; the upgrade switches it to the frame codec
 * of the endpoint its path names (`conn.setCodec`), so everything below —
 * limits, the timer wheel, backpressure, close reasons, drain — is the
 * connection core's.
 *
 * ```
 *  accept ─► head codec ─► parse ─► checks ─► upgrade hook ─► 101 + setCodec ─► frames
 *                │                    └─ refused: status + Connection: close ─► end
 *                └─ over a bound: 414 / 431            plain GET: request hook or 426
 * ```
 */
import { createHash } from 'node:crypto';
import type { Codec, Decoder, Encoder } from '../codecs/codec.js';
import { State, type Connection } from '../connection/connection.js';
import type { Handler } from '../connection/handler.js';
import { capstanError } from '../errors.js';
import { WebSocketCounters, type DeflateCounters, type WebSocketStats } from './counters.js';
import { negotiateDeflate } from './deflate-session.js';
import { FrameDecoder, FrameEncoder, OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT } from './frame.js';
import { HeadDecoder, hasToken, headerLines, parseHead, plainResponse, type HeaderMap, type HeadLimits, type RequestHead } from './http-head.js';
import { resolveServerOptions, type ResolvedEndpoint, type ResolvedServerOptions, type HttpResponse, type UpgradeAcceptance, type UpgradeDecision, type UpgradeRequest, type WebSocketServerOptions } from './options.js';
import { WebSocket, type EndpointRuntime } from './socket.js';
import { Topics, type PubSubStats } from '../pubsub/topics.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/;

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2): the
 * base64 SHA-1 of the key and the protocol's GUID. For clients and tests that
 * write their own handshake.
 * @category WebSocket
 */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * How {@link WebSocketServer.publish} sends.
 * @category WebSocket
 */
export interface PublishOptions {
  /** Binary (true) or text (false). Default: text for a string, binary for a Buffer. */
  binary?: boolean;
  /** A socket not to send to (in this process), such as the one whose message is being published. */
  except?: WebSocket<any> | null;
}

/**
 * What {@link websocket} makes: a codec and a handler a listener runs (pass the
 * whole object as `listen({ websocket })`), the server's own view of its
 * sockets, pub/sub, and its counters.
 * @category WebSocket
 */
export interface WebSocketServer {
  /** The codec each connection starts with: it reads the HTTP upgrade request, and the upgrade switches the connection to the WebSocket frame codec. */
  readonly codec: Codec;
  /** The connection handler that answers the upgrade and runs the endpoints' {@link WebSocketHandler}s. */
  readonly handler: Handler<any>;
  /** A snapshot of the counters (with pub/sub's once a socket subscribed or a message was published). */
  stats(): WebSocketStats & Partial<PubSubStats>;
  /**
   * Publishes `data` to every socket subscribed to `topic`, on any endpoint of
   * this server, and through the pub/sub backend to the other processes (the
   * workers of `capstan serve`). The frame is built once and the same bytes
   * go into every subscriber's batch; each subscriber gets a topic's messages
   * in publish order. Don't change a published Buffer afterwards.
   * @returns how many sockets in this process it was queued to.
   * @throws CapstanError `ERR_INVALID_OPTION` for a topic that is not a string of 1-1,024 characters.
   */
  publish(topic: string, data: Buffer | string, options?: PublishOptions): number;
  /** Sockets in this process subscribed to `topic`, now. */
  subscribers(topic: string): number;
  /** Topics with at least one subscriber in this process. */
  readonly topicCount: number;
}

interface Endpoint<D> extends EndpointRuntime<D> {
  readonly codec: Codec;
}

const rawEncoder: Encoder = {
  encode(frame, out) {
    out.append(frame);
  },
};

function frameCodec(limits: { maxMessageBytes: number; maxFragments: number }, encoder: FrameEncoder): Codec {
  return {
    name: 'websocket',
    maxFrameBytes: limits.maxMessageBytes,
    decoder: (): Decoder => new FrameDecoder(limits, true),
    // One encoder serves every socket of the endpoint: its one-frame `next` is set and used within one send.
    encoder: () => encoder,
    withMaxFrameBytes: (maxMessageBytes) => frameCodec({ ...limits, maxMessageBytes }, encoder),
  };
}

function headCodec(limits: HeadLimits): Codec {
  const c: Codec = {
    name: 'http-upgrade',
    maxFrameBytes: limits.maxHeaderBytes,
    decoder: () => new HeadDecoder(limits),
    encoder: () => rawEncoder,
    // The head has bounds of its own; a listener's frame bound is for the frames after it.
    withMaxFrameBytes: () => c,
  };
  return c;
}

/**
 * A WebSocket server for `listen({ websocket: … })` (or spread as
 * `listen({ ...websocket(options) })`). Make one yourself rather than passing
 * the options to `listen` when you want its {@link WebSocketServer.stats}.
 *
 * ```ts
 * const ws = websocket({ path: '/chat', handler: { message(ws, data, isBinary) { ws.send(data, isBinary); } } });
 * const server = await listen({ port: 8080, websocket: ws });
 * ```
 * @typeParam D - the type of `ws.data` on the server's sockets.
 * @throws CapstanError `ERR_INVALID_OPTION` / `ERR_UNKNOWN_OPTION` naming the bad option.
 * @category WebSocket
 */
export function websocket<D = unknown>(options: WebSocketServerOptions<D>): WebSocketServer {
  const o = resolveServerOptions(options);
  const counters = new WebSocketCounters();
  const topics = new Topics(counters, o.pubsub.backend, o.pubsub.maxTopicsPerSocket);
  if (o.endpoints.some((e) => e.perMessageDeflate !== null)) counters.deflate = { plainOut: 0, wireOut: 0, plainIn: 0, wireIn: 0, capped: 0 };
  const endpoints = new Map<string, Endpoint<D>>();
  let fallback: Endpoint<D> | null = null;
  for (const s of o.endpoints) {
    const encoder = new FrameEncoder();
    const ep: Endpoint<D> = { settings: s, counters, encoder, topics, codec: frameCodec(s, encoder) };
    if (s.path === '*') fallback = ep;
    else endpoints.set(s.path, ep);
  }
  const codec = headCodec({ maxHeaderBytes: o.maxHeaderBytes, maxRequestLineBytes: o.maxRequestLineBytes, maxHeaders: o.maxHeaders });
  const route = (path: string): Endpoint<D> | null => endpoints.get(path) ?? fallback;
  const handler: Handler<WebSocket<D> | null> = {
    open(conn) {
      conn.data = null;
      if (o.upgradeTimeoutMs > 0) conn.setProtocolDeadline(conn.ctx.wheel.now() + o.upgradeTimeoutMs, upgradeTimedOut);
    },
    message(conn, frame) {
      const ws = conn.data;
      if (ws === null) return onHead(conn, frame, o, route, counters);
      onFrame(ws, conn.decoder as FrameDecoder, frame);
    },
    drain(conn) {
      const ws = conn.data;
      if (ws !== null) ws.ep.settings.handler.drain?.(ws);
    },
    end(conn) {
      const ws = conn.data;
      if (ws === null) conn.end();
      else ws.finish();
    },
    shutdown(conn) {
      const ws = conn.data;
      if (ws === null) return conn.end();
      ws.sendClose(1001, 'server shutting down', 'shutdown');
      // The close handshake ends this connection (or closeTimeoutMs, or the grace deadline), not
      // the drain's quiet rule: that would send FIN before the peer had time to answer our 1001.
      if (ws.closeSent) conn.drainQuietMs = Infinity;
    },
    close(conn, reason, error) {
      const ws = conn.data;
      if (ws === null || !ws.markClosed()) return;
      ws.deflate?.close();
      counters.open--;
      try {
        ws.ep.settings.handler.close?.(ws, ws.code, ws.closeText, reason, error);
      } finally {
        // After the handler, which may still read ws.topics (to say who left which room).
        topics.dropAll(ws);
      }
    },
  };
  return {
    codec,
    handler,
    stats: () => ({ ...counters.snapshot(), ...topics.stats() }),
    publish: (topic, data, options) => topics.publish(topic, data, options?.binary ?? typeof data !== 'string', options?.except ?? null),
    subscribers: (topic) => topics.subscribers(topic),
    get topicCount() {
      return topics.topicCount;
    },
  };
}

function onFrame<D>(ws: WebSocket<D>, dec: FrameDecoder, frame: Buffer): void {
  const ep = ws.ep;
  const ctr = ep.counters;
  const h = ep.settings.handler;
  const op = dec.opcode;
  if (op === OP_BINARY || op === OP_TEXT) {
    if (ws.deflate !== null) return ws.deflate.receive(frame, op, dec.compressed);
    return ws.deliver(frame, op);
  }
  if (op === OP_PING) {
    ctr.pingsIn++;
    if (!ws.closeSent) {
      ws.frame(OP_PONG, frame);
      ctr.pongsOut++;
    }
    h.ping?.(ws, frame);
    return;
  }
  if (op === OP_PONG) {
    ctr.pongsIn++;
    ws.pingAt = 0;
    h.pong?.(ws, frame);
    return;
  }
  if (op === OP_CLOSE) {
    const { code, reason } = FrameDecoder.closeBody(frame);
    ws.peerClosed(code, reason);
    return;
  }
  if (op === OP_FAILED) ws.failed(dec.failure as NonNullable<FrameDecoder['failure']>);
}

// ── the handshake ─────────────────────────────────────────────────────────

function refuse(conn: Connection<any>, counters: WebSocketCounters, status: number, why: string, headers?: HeaderMap, body?: string | Buffer, method?: string): void {
  if (conn.st !== State.Open) return;
  WebSocketCounters.bump(counters.refused, status);
  let response: Buffer;
  try {
    response = plainResponse(status, headers, body ?? `${why}\n`, method);
  } catch {
    // A hook gave headers that would split the response: answer 500 without them.
    response = plainResponse(500, undefined, 'internal error\n');
  }
  conn.send(response);
  conn.reason ??= 'upgrade-refused';
  conn.error ??= capstanError('ERR_WS_HANDSHAKE', `upgrade refused with ${status}: ${why}`, { reason: 'upgrade-refused', actual: status });
  conn.queue.clear();
  conn.end();
}

function onHead<D>(conn: Connection<any>, head: Buffer, o: ResolvedServerOptions<D>, route: (path: string) => Endpoint<D> | null, counters: WebSocketCounters): void {
  const dec = conn.decoder as HeadDecoder;
  if (dec.refusal !== 0) return refuse(conn, counters, dec.refusal, dec.refusalText);
  const req = parseHead(head, o.maxHeaders);
  if ('status' in req) return refuse(conn, counters, req.status, req.why);
  const h = req.headers;
  const upgrade = h['upgrade'];
  if (upgrade === undefined) return plainRequest(conn, req, o, counters);
  if (!hasToken(upgrade, 'websocket')) return refuse(conn, counters, 400, `Upgrade: ${upgrade.slice(0, 40)} is not websocket`);
  if (req.method !== 'GET') return refuse(conn, counters, 405, `a WebSocket upgrade must be a GET, not ${req.method}`, { Allow: 'GET' });
  if (!hasToken(h['connection'], 'upgrade')) return refuse(conn, counters, 400, 'the Connection header does not list upgrade');
  if (h['sec-websocket-version'] !== '13') {
    return refuse(conn, counters, 426, `Sec-WebSocket-Version ${h['sec-websocket-version'] ?? '(none)'} is not supported; use 13`, { 'Sec-WebSocket-Version': '13', Upgrade: 'websocket' });
  }
  const key = h['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return refuse(conn, counters, 400, 'Sec-WebSocket-Key is missing or not 16 bytes of base64');
  const ep = route(req.path);
  if (ep === null) return refuse(conn, counters, 404, `no WebSocket endpoint at ${req.path}`);
  const s = ep.settings;
  if (s.origins !== null) {
    const origin = h['origin'];
    if (origin === undefined || !s.origins.has(origin.toLowerCase())) return refuse(conn, counters, 403, `origin ${origin ?? '(none)'} is not allowed`);
  }
  const offered = h['sec-websocket-protocol'] === undefined ? [] : h['sec-websocket-protocol'].split(',').map((p) => p.trim()).filter((p) => p !== '');
  let protocol = '';
  for (const p of s.protocols) {
    if (offered.includes(p)) {
      protocol = p;
      break;
    }
  }
  if (s.upgrade === null) return accept(conn, ep, req, key, protocol, undefined);
  const info: UpgradeRequest = { ...req, remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, protocols: offered, protocol };
  let decision: UpgradeDecision<D> | Promise<UpgradeDecision<D>>;
  try {
    decision = (s.upgrade as NonNullable<typeof s.upgrade>)(info);
  } catch (err) {
    conn.ctx.counters.handlerErrors++;
    conn.ctx.log.handlerThrew(conn, 'upgrade', err instanceof Error ? err : new Error(String(err)));
    return refuse(conn, counters, 500, 'internal error');
  }
  if (decision !== null && typeof decision === 'object' && typeof (decision as Promise<unknown>).then === 'function') {
    // Nothing more is decoded until the hook decides; the upgrade deadline still runs.
    conn.pause();
    (decision as Promise<UpgradeDecision<D>>).then(
      (d) => {
        if (conn.st !== State.Open) return;
        decide(conn, ep, req, key, protocol, offered, d, counters);
        conn.resume();
      },
      (err: unknown) => {
        if (conn.st !== State.Open) return;
        conn.ctx.counters.handlerErrors++;
        conn.ctx.log.handlerThrew(conn, 'upgrade', err instanceof Error ? err : new Error(String(err)));
        refuse(conn, counters, 500, 'internal error');
      },
    );
    return;
  }
  decide(conn, ep, req, key, protocol, offered, decision as UpgradeDecision<D>, counters);
}

function decide<D>(conn: Connection<any>, ep: Endpoint<D>, req: RequestHead, key: string, protocol: string, offered: readonly string[], d: UpgradeDecision<D>, counters: WebSocketCounters): void {
  if (d !== undefined && d !== null && 'status' in d) {
    const status = typeof d.status === 'number' && d.status >= 400 && d.status <= 599 ? d.status : 500;
    return refuse(conn, counters, status, 'refused by the upgrade hook', d.headers, d.body);
  }
  const a = (d ?? {}) as UpgradeAcceptance<D>;
  if (a.protocol !== undefined) {
    if (!offered.includes(a.protocol)) return refuse(conn, counters, 500, 'the upgrade hook chose a subprotocol the client did not offer');
    protocol = a.protocol;
  }
  accept(conn, ep, req, key, protocol, a);
}

function accept<D>(conn: Connection<any>, ep: Endpoint<D>, req: RequestHead, key: string, protocol: string, a: UpgradeAcceptance<D> | undefined): void {
  let extra: string;
  try {
    extra = headerLines(a?.headers);
  } catch {
    return refuse(conn, ep.counters, 500, 'internal error');
  }
  const s = ep.settings;
  const deflate = s.perMessageDeflate === null ? null : negotiateDeflate(req.headers['sec-websocket-extensions'], s.perMessageDeflate);
  if (deflate === 'malformed') return refuse(conn, ep.counters, 400, 'the Sec-WebSocket-Extensions header is malformed');
  const response =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol !== '' ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
    (deflate !== null ? `Sec-WebSocket-Extensions: ${deflate.agreement.header}\r\n` : '') +
    extra +
    '\r\n';
  conn.send(Buffer.from(response, 'latin1'));
  conn.setCodec(ep.codec);
  const ws = new WebSocket<D>(conn as Connection<unknown>, ep, req.url, protocol, a?.data as D);
  conn.data = ws;
  if (deflate !== null) {
    ws.deflate = deflate.attach(ws, conn.decoder as FrameDecoder, ep.encoder, ep.counters, s.maxMessageBytes);
    if (deflate.capped) {
      (ep.counters.deflate as DeflateCounters).capped++;
      conn.ctx.log.note('deflate-capped', { conn: conn.id }, 'permessage-deflate without context takeover for a socket: the process holds its maximum of zlib contexts (setDeflateLimits maxContexts)');
    }
  }
  ep.counters.handshakesAccepted++;
  ep.counters.open++;
  if (s.pingIntervalMs > 0) conn.setProtocolDeadline(conn.ctx.wheel.now() + s.pingIntervalMs, heartbeat);
  else conn.setProtocolDeadline(0, heartbeat);
  const open = s.handler.open;
  if (open !== undefined) {
    try {
      open(ws);
    } catch (err) {
      ws.sendClose(1011, '', 'handler-error');
      throw err;
    }
  }
}

function plainRequest<D>(conn: Connection<any>, req: RequestHead, o: ResolvedServerOptions<D>, counters: WebSocketCounters): void {
  const hook = o.request;
  const upgradeRequired = () => refuse(conn, counters, 426, 'this server speaks WebSocket: send an upgrade request', { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
  if (hook === null) return upgradeRequired();
  const info = { method: req.method, url: req.url, path: req.path, query: req.query, headers: req.headers, remoteAddress: conn.remoteAddress };
  const answer = (r: HttpResponse | undefined | void) => {
    if (conn.st !== State.Open) return;
    // A hook that returns nothing declines the request, as if there were no hook.
    if (r === undefined || r === null) return upgradeRequired();
    const status = r.status ?? 200;
    if (status >= 400) return refuse(conn, counters, status, 'refused by the request hook', r.headers, r.body ?? '', req.method);
    let response: Buffer;
    try {
      response = plainResponse(status, r.headers, r.body ?? '', req.method);
    } catch {
      return refuse(conn, counters, 500, 'internal error');
    }
    counters.httpRequests++;
    conn.send(response);
    conn.queue.clear();
    conn.end();
  };
  const failed = (err: unknown) => {
    if (conn.st !== State.Open) return;
    conn.ctx.counters.handlerErrors++;
    conn.ctx.log.handlerThrew(conn, 'request', err instanceof Error ? err : new Error(String(err)));
    refuse(conn, counters, 500, 'internal error');
  };
  let r;
  try {
    r = (hook as NonNullable<typeof hook>)(info);
  } catch (err) {
    return failed(err);
  }
  if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
    conn.pause();
    (r as Promise<HttpResponse | undefined>).then(answer, failed);
    return;
  }
  answer(r as HttpResponse | undefined);
}

// ── deadlines (the connection's protocol deadline, on the wheel) ──────────

function upgradeTimedOut(c: Connection<any>): void {
  if (c.data !== null) return;
  c.destroy('handshake-timeout', capstanError('ERR_WS_HANDSHAKE', 'the WebSocket upgrade did not complete within upgradeTimeoutMs', { reason: 'handshake-timeout' }));
}

/**
 * Heartbeats without a timer per socket: the deadline is the time a ping is
 * due. Anything read since the last look proves the peer alive, so a busy
 * socket is never pinged; an idle one is pinged and must answer (with the
 * pong or anything else) within `pongTimeoutMs`.
 */
function heartbeat(c: Connection<any>, now: number): void {
  const ws = c.data as WebSocket<unknown>;
  const s = ws.ep.settings;
  if (ws.pingAt > 0) {
    if (c.lastRead <= ws.pingAt && now >= ws.pingAt + s.pongTimeoutMs) {
      return void c.destroy(
        'heartbeat-timeout',
        capstanError('ERR_WS_HEARTBEAT', `no pong within pongTimeoutMs ${s.pongTimeoutMs} of our ping`, { reason: 'heartbeat-timeout', limit: s.pongTimeoutMs }),
      );
    }
    if (c.lastRead <= ws.pingAt) return c.setProtocolDeadline(ws.pingAt + s.pongTimeoutMs, heartbeat);
    ws.pingAt = 0;
  }
  const idleSince = Math.max(c.lastRead, c.openedAt);
  if (now - idleSince < s.pingIntervalMs) return c.setProtocolDeadline(idleSince + s.pingIntervalMs, heartbeat);
  if (!ws.ping()) return;
  ws.pingAt = now;
  c.flush();
  c.setProtocolDeadline(now + s.pongTimeoutMs, heartbeat);
}

export type { ResolvedEndpoint };
