/**
 * The WebSocket client: `connect({ url: 'ws://…' })`. It is the `connect`
 * client loop (dial, TLS, back-off) with a codec and a handler of its own, as
 * the server is a codec and a handler on `listen`: the connection starts with
 * a response-head codec, and a good 101 switches it to the client frame codec.
 *
 * ```
 *  dial ─► open: send GET + Upgrade ─► head codec ─► checks ─► setCodec(frames) ─► ready: open(ws)
 *                                                      └─ wrong: ERR_WS_HANDSHAKE ─► end (reconnect?)
 * ```
 *
 * ```ts
 * const client = await connect({ url: 'ws://127.0.0.1:8080/chat', protocols: ['chat'], handler: {
 *   message(ws, data, isBinary) { console.log(isBinary ? data : data.toString()); },
 * }});
 * client.send('hello');
 * await client.close(1000, 'bye');
 * ```
 */
import type { Codec, Encoder } from '../codecs/codec.js';
import { State, type Connection } from '../connection/connection.js';
import type { Handler } from '../connection/handler.js';
import { capstanError } from '../errors.js';
import type { ListenerStats } from '../metrics/listener-counters.js';
import { ClientLoop } from '../transport/client-loop.js';
import type { ReconnectInfo } from '../transport/connect.js';
import { clientFrameCodec, handshakeKey, MaskingFrameEncoder } from './client-frames.js';
import { checkUpgradeResponse, parseResponseHead, upgradeRequest, type ResponseHead } from './client-handshake.js';
import { resolveClientOptions, type ResolvedClientOptions, type WebSocketConnectOptions } from './client-options.js';
import { checkClose, ClientWebSocket, type ClientRuntime } from './client-socket.js';
import type { ResolvedDeflateOptions } from './deflate-options.js';
import { WebSocketCounters, type WebSocketStats } from './counters.js';
import { acceptDeflateAnswer, offerDeflate, withdrawOffer, type DeflateOffer } from './deflate-session.js';
import { FrameDecoder, OP_BINARY, OP_CLOSE, OP_FAILED, OP_PING, OP_PONG, OP_TEXT } from './frame.js';
import { DEFAULT_HEAD_LIMITS, HeadDecoder } from './http-head.js';

export type { WebSocketConnectOptions, WebSocketClientHandler } from './client-options.js';

/**
 * A WebSocket client, as {@link connectWebSocket} resolves it: the current
 * socket, plus the reconnect loop around it.
 * @typeParam D - the type of `ws.data`.
 * @category WebSocket
 */
export interface WebSocketClient<D = unknown> {
  /** The open WebSocket, or `null` while (re)connecting or after close. */
  readonly socket: ClientWebSocket<D> | null;
  /** Sends on the current socket (see {@link ClientWebSocket.send}); `false` when there is none. */
  send(data: Buffer | string, isBinary?: boolean): boolean;
  /** Pings the server on the current socket; `false` when there is none. */
  ping(payload?: Buffer | string): boolean;
  /**
   * Stops reconnecting and runs the close handshake with `code` and `reason`;
   * resolves once the connection is closed (bounded by `closeTimeoutMs` and the linger).
   * @throws CapstanError `ERR_INVALID_OPTION` for a code a peer may not receive or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): Promise<void>;
  /** Counters over every connection this client made. */
  stats(): ListenerStats;
  /** Messages, pings, close codes and handshakes over every connection. */
  websocketStats(): WebSocketStats;
}

/** Per connection: the key sent, until the 101 has been checked. */
interface Pending {
  readonly key: string;
  /** The permessage-deflate offer (its contexts reserved), or null. */
  offer: DeflateOffer | null;
}

interface Runtime<D> extends ClientRuntime<D> {
  readonly o: ResolvedClientOptions;
  readonly frames: Codec;
  loop: ClientLoop<Pending | ClientWebSocket<D>> | null;
  closeCode: number;
  closeReason: string;
}

/**
 * Opens a WebSocket client (also reached as `connect({ url })`). Resolves once
 * the first handshake is done; rejects with `ERR_WS_HANDSHAKE` when the server
 * refuses the upgrade or answers it wrongly, `ERR_CONNECT_FAILED` /
 * `ERR_CONNECT_TIMEOUT` when no connection is made, `ERR_RECONNECT_EXHAUSTED`
 * when `reconnect.maxAttempts` ran out.
 *
 * ```ts
 * const client = await connectWebSocket({ url: 'ws://127.0.0.1:8080/chat', handler: {
 *   message(ws, data, isBinary) { console.log(isBinary ? data : data.toString()); },
 * }});
 * client.send('hello');
 * await client.close(1000, 'bye');
 * ```
 * @typeParam D - the type of `ws.data`.
 * @throws CapstanError `ERR_INVALID_OPTION` / `ERR_UNKNOWN_OPTION` naming the bad option.
 * @category WebSocket
 */
export function connectWebSocket<D = unknown>(options: WebSocketConnectOptions<D>): Promise<WebSocketClient<D>> {
  const o = resolveClientOptions(options);
  const encoder = new MaskingFrameEncoder();
  const rt: Runtime<D> = {
    o,
    handler: options.handler,
    counters: new WebSocketCounters(),
    encoder,
    closeTimeoutMs: o.closeTimeoutMs,
    frames: clientFrameCodec({ maxMessageBytes: o.maxMessageBytes, maxFragments: o.maxFragments }, encoder),
    loop: null,
    closeCode: 1000,
    closeReason: '',
  };
  const loop = new ClientLoop<Pending | ClientWebSocket<D>>(
    {
      host: o.host,
      port: o.port,
      localAddress: options.localAddress,
      noDelay: options.noDelay,
      connectTimeoutMs: o.connectTimeoutMs,
      tls: options.tls,
      reconnect: options.reconnect,
      codec: headCodec,
      handler: clientHandler(rt),
      limits: options.limits,
      logger: options.logger,
      timerWheel: options.timerWheel,
    },
    o.secure ? 'tls' : 'tcp',
    { where: o.where, end: (conn) => endPolitely(rt, conn) },
  );
  rt.loop = loop;
  const client = new WebSocketClientImpl<D>(rt, loop);
  return loop.start().then(() => client);
}

class WebSocketClientImpl<D> implements WebSocketClient<D> {
  constructor(
    private readonly rt: Runtime<D>,
    private readonly loop: ClientLoop<Pending | ClientWebSocket<D>>,
  ) {}

  get socket(): ClientWebSocket<D> | null {
    const d = this.loop.connection?.data;
    return d instanceof ClientWebSocket ? d : null;
  }

  send(data: Buffer | string, isBinary?: boolean): boolean {
    return this.socket?.send(data, isBinary) ?? false;
  }

  ping(payload?: Buffer | string): boolean {
    return this.socket?.ping(payload) ?? false;
  }

  close(code = 1000, reason = ''): Promise<void> {
    checkClose(code, reason);
    if (!this.loop.isStopped) {
      this.rt.closeCode = code;
      this.rt.closeReason = reason;
    }
    return this.loop.close();
  }

  stats(): ListenerStats {
    return this.loop.stats();
  }

  websocketStats(): WebSocketStats {
    return this.rt.counters.snapshot();
  }
}

function endPolitely<D>(rt: Runtime<D>, conn: Connection<any>): void {
  const d = conn.data as Pending | ClientWebSocket<D> | undefined;
  if (d instanceof ClientWebSocket) d.sendClose(rt.closeCode, rt.closeReason, 'local-end');
  else conn.destroy('local-destroy');
}

const headEncoder: Encoder = {
  encode(frame, out) {
    out.append(frame);
  },
};

const headCodec: Codec = {
  name: 'http-upgrade-response',
  maxFrameBytes: DEFAULT_HEAD_LIMITS.maxHeaderBytes,
  decoder: () => new HeadDecoder(DEFAULT_HEAD_LIMITS),
  encoder: () => headEncoder,
  // The head has bounds of its own; a frame bound in limits is for the frames after it.
  withMaxFrameBytes: () => headCodec,
};

function clientHandler<D>(rt: Runtime<D>): Handler<Pending | ClientWebSocket<D>> & { reconnecting?(info: ReconnectInfo): void } {
  const h = rt.handler;
  return {
    open(conn) {
      const key = handshakeKey();
      const offer = rt.o.perMessageDeflate === null ? null : offerDeflate(rt.o.perMessageDeflate);
      conn.data = { key, offer };
      conn.send(upgradeRequest({ resource: rt.o.resource, host: rt.o.hostHeader, key, protocols: rt.o.protocols, origin: rt.o.origin, extensions: offer?.header, extra: rt.o.extra }));
      // TCP and TLS ran under the handshake timeout; the upgrade gets what is left of the same budget.
      conn.setProtocolDeadline(conn.createdAt + rt.o.connectTimeoutMs, upgradeTimedOut);
    },
    message(conn, frame) {
      const d = conn.data;
      if (d instanceof ClientWebSocket) return onFrame(d, conn.decoder as FrameDecoder, frame);
      onResponse(rt, conn as Connection<unknown>, d, frame);
    },
    drain(conn) {
      const d = conn.data;
      if (d instanceof ClientWebSocket) h.drain?.(d);
    },
    close(conn, reason, error) {
      const d = conn.data;
      if (d !== undefined && !(d instanceof ClientWebSocket) && d.offer !== null) withdrawOffer(d.offer);
      if (d !== undefined && !(d instanceof ClientWebSocket) && error === undefined) {
        // Said here so that connect() and reconnecting() tell a server that hung up on the upgrade from one never reached.
        (conn as Connection<unknown>).error = capstanError('ERR_WS_HANDSHAKE', `the server closed the connection (${reason}) before answering the upgrade`, { reason });
      }
      if (!(d instanceof ClientWebSocket) || !d.markReported()) return;
      d.deflate?.close();
      rt.counters.open--;
      h.close?.(d, d.code, d.closeText, reason, error);
    },
    reconnecting: (info) => h.reconnecting?.(info),
  };
}

function onResponse<D>(rt: Runtime<D>, conn: Connection<unknown>, pending: Pending, head: Buffer): void {
  const dec = conn.decoder as HeadDecoder;
  const res =
    dec.refusal !== 0
      ? capstanError(
          'ERR_WS_HANDSHAKE',
          `the server's answer to the upgrade has a head over ${DEFAULT_HEAD_LIMITS.maxHeaderBytes} bytes or a status line over ${DEFAULT_HEAD_LIMITS.maxRequestLineBytes}`,
          { reason: 'protocol-error' },
        )
      : parseResponseHead(head);
  const checked = 'code' in res ? res : checkUpgradeResponse(res, pending.key, rt.o.protocols, pending.offer !== null);
  const offer = pending.offer;
  pending.offer = null;
  // The answer's extensions are checked once the rest of it is right; a wrong answer gives the offer's contexts back.
  if (offer !== null && 'code' in checked) withdrawOffer(offer);
  const deflate = offer === null || 'code' in checked ? null : acceptDeflateAnswer((res as ResponseHead).headers['sec-websocket-extensions'], rt.o.perMessageDeflate as ResolvedDeflateOptions, offer);
  if (deflate !== null && 'code' in deflate) return conn.destroy('protocol-error', deflate);
  if ('code' in checked) {
    // A refusal is an HTTP answer the server ends itself; a wrong 101 means the peer is no WebSocket server we can talk to.
    if (checked.reason !== 'upgrade-refused') return conn.destroy('protocol-error', checked);
    WebSocketCounters.bump(rt.counters.refused, checked.actual as number);
    return conn.fail('upgrade-refused', checked);
  }
  const headers = (res as { headers: Readonly<Record<string, string>> }).headers;
  conn.setProtocolDeadline(0, upgradeTimedOut);
  conn.setCodec(rt.frames);
  const ws = new ClientWebSocket<D>(conn, rt, rt.o.resource, checked.protocol, headers);
  conn.data = ws;
  if (deflate !== null) ws.deflate = deflate.attach(ws, conn.decoder as FrameDecoder, rt.encoder, rt.counters, rt.o.maxMessageBytes);
  rt.counters.handshakesAccepted++;
  rt.counters.open++;
  (rt.loop as ClientLoop<unknown>).ready(conn);
  const open = rt.handler.open;
  if (open === undefined) return;
  try {
    open(ws);
  } catch (err) {
    ws.sendClose(1011, '', 'handler-error');
    throw err;
  }
}

function onFrame<D>(ws: ClientWebSocket<D>, dec: FrameDecoder, frame: Buffer): void {
  const rt = ws.rt;
  const ctr = rt.counters;
  const h = rt.handler;
  const op = dec.opcode;
  if (op === OP_BINARY || op === OP_TEXT) {
    if (ws.deflate !== null) ws.deflate.receive(frame, op, dec.compressed);
    else ws.deliver(frame, op);
  } else if (op === OP_PING) {
    ctr.pingsIn++;
    ws.pong(frame);
    h.ping?.(ws, frame);
  } else if (op === OP_PONG) {
    ctr.pongsIn++;
    h.pong?.(ws, frame);
  } else if (op === OP_CLOSE) {
    const { code, reason } = FrameDecoder.closeBody(frame);
    ws.peerClosed(code, reason);
  } else if (op === OP_FAILED) ws.failed(dec.failure as NonNullable<FrameDecoder['failure']>);
}

function upgradeTimedOut(c: Connection<any>): void {
  if (c.data instanceof ClientWebSocket || c.st !== State.Open) return;
  c.destroy('handshake-timeout', capstanError('ERR_WS_HANDSHAKE', 'the server did not answer the upgrade within connectTimeoutMs', { reason: 'handshake-timeout' }));
}
