/**
 * WebSocket: what an endpoint's handler holds for one peer. A thin face over
 * the upgraded {@link Connection} (same limits, backpressure and close
 * reasons); it adds message types, the close handshake and heartbeats.
 *
 * ```
 *  OPEN ── close(code) ──► CLOSE SENT ── peer's close ──► connection ends ─► close()
 *    │                         └── closeTimeoutMs ──► destroyed (close-timeout)
 *    └── peer's close ──► our close echoed ──► connection ends ─► close()
 * ```
 */
import type { CloseReason } from '../connection/close-reason.js';
import { State, type Connection } from '../connection/connection.js';
import { capstanError } from '../errors.js';
import { WebSocketCounters } from './counters.js';
import type { MessageDeflate } from './deflate.js';
import { OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, OP_BINARY, isValidCloseCode, type FrameEncoder, type FrameFailure } from './frame.js';
import type { ResolvedEndpoint } from './options.js';
import type { Topics } from '../pubsub/topics.js';

const W_CLOSE_SENT = 1;
const W_CLOSE_RECEIVED = 2;
const W_CLOSED = 4;

const EMPTY = Buffer.alloc(0);

/** The per-endpoint pieces every WebSocket of that endpoint shares. */
export interface EndpointRuntime<D> {
  readonly settings: ResolvedEndpoint<D>;
  readonly counters: WebSocketCounters;
  readonly encoder: FrameEncoder;
  /** The server's pub/sub topics (one registry for all its endpoints). */
  readonly topics: Topics;
}

/**
 * How {@link WebSocket.publish} sends.
 * @category WebSocket
 */
export interface SocketPublishOptions {
  /** Binary (true) or text (false). Default: text for a string, binary for a Buffer. */
  binary?: boolean;
}

/**
 * One WebSocket on the server side. Handlers receive it in every call; keep
 * it to send later.
 * @typeParam D - the type of {@link WebSocket.data}.
 * @category WebSocket
 */
export class WebSocket<D = unknown> {
  /** Your per-socket state; starts as what the `upgrade` hook returned in `data`. */
  data: D;
  /** The connection underneath (addresses, TLS facts, `pause`/`resume`). */
  readonly conn: Connection<unknown>;
  /** The request target of the upgrade (`/chat?room=1`). */
  readonly url: string;
  /** The negotiated subprotocol, or `''`. */
  readonly protocol: string;
  /** @internal */ readonly ep: EndpointRuntime<D>;
  /** @internal W_* bits. */ wflags = 0;
  /** @internal The close code to report (set by the first close frame either way). */ code = 1006;
  /** @internal */ closeText = '';
  /** @internal When our unanswered ping went out (ms), 0 when none is outstanding. */ pingAt = 0;
  /** @internal The topics this socket is subscribed to; null until its first subscribe. */ topicSet: Set<string> | null = null;
  /** @internal permessage-deflate, when negotiated. */ deflate: MessageDeflate | null = null;

  /** @internal Built by the server when a handshake is accepted. */
  constructor(conn: Connection<unknown>, ep: EndpointRuntime<D>, url: string, protocol: string, data: D) {
    this.conn = conn;
    this.ep = ep;
    this.url = url;
    this.protocol = protocol;
    this.data = data;
  }

  /** True while messages can be sent: open, and no close frame sent. */
  get isOpen(): boolean {
    return (this.wflags & W_CLOSE_SENT) === 0 && this.conn.st === State.Open;
  }

  /** Outbound bytes queued and not yet taken by the kernel (messages waiting to be compressed included). */
  get bufferedBytes(): number {
    return this.conn.bufferedBytes + (this.deflate?.pendingBytes ?? 0);
  }

  /** The negotiated `Sec-WebSocket-Extensions` (`permessage-deflate; …`), or `''`. */
  get extensions(): string {
    return this.deflate?.settings.header ?? '';
  }

  /** The peer's address (the client's, behind a trusted PROXY header). */
  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  /** The peer's port (the client's, behind a trusted PROXY header). */
  get remotePort(): number {
    return this.conn.remotePort;
  }

  /**
   * Queues a message for this turn's write. A string goes as text; a Buffer as
   * binary unless `isBinary` is false (a Buffer you know holds UTF-8).
   * @returns what `Connection.send` returns: `false` when closed (dropped) or
   *   above the high-water mark (queued: wait for `drain`).
   */
  send(data: Buffer | string, isBinary?: boolean): boolean {
    const c = this.conn;
    if ((this.wflags & W_CLOSE_SENT) !== 0 || c.st !== State.Open) return false;
    const ctr = this.ep.counters;
    ctr.messagesOut++;
    const isText = typeof data === 'string' ? isBinary !== true : isBinary === false;
    if (this.deflate !== null) {
      ctr.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
      return this.deflate.send(data, isText ? OP_TEXT : OP_BINARY);
    }
    if (typeof data === 'string') {
      // Payload bytes, as on the wire: a string's UTF-8, not its UTF-16 units.
      ctr.bytesOut += Buffer.byteLength(data);
      if (!isText) this.ep.encoder.next = 0x80 | OP_BINARY;
    } else {
      ctr.bytesOut += data.length;
      if (isText) this.ep.encoder.next = 0x80 | OP_TEXT;
    }
    return c.send(data);
  }

  /**
   * Subscribes to `topic` (pub/sub, see docs/websocket.md): messages published
   * to it from now on are queued to this socket, in the order they were
   * published. The socket leaves all its topics when it closes.
   * @returns true when subscribed (also if it already was); false when the
   *   socket is no longer open or is at the server's `pubsub.maxTopicsPerSocket`.
   * @throws CapstanError `ERR_INVALID_OPTION` for a topic that is not a string of 1-1,024 characters.
   */
  subscribe(topic: string): boolean {
    return this.ep.topics.subscribe(this, topic);
  }

  /** Leaves `topic`. Returns false when the socket was not subscribed to it. */
  unsubscribe(topic: string): boolean {
    return this.ep.topics.unsubscribe(this, topic);
  }

  /** True while this socket is subscribed to `topic`. */
  isSubscribed(topic: string): boolean {
    return this.topicSet !== null && this.topicSet.has(topic);
  }

  /** The topics this socket is subscribed to (a copy), in the order it subscribed. */
  get topics(): string[] {
    return this.topicSet === null ? [] : [...this.topicSet];
  }

  /**
   * Publishes to every subscriber of `topic` except this socket (as
   * uWebSockets' `ws.publish` does); `server.publish` reaches all of them.
   * With workers, subscribers in the other workers get it too.
   * @returns how many sockets in this process it was queued to.
   */
  publish(topic: string, data: Buffer | string, options?: SocketPublishOptions): number {
    return this.ep.topics.publish(topic, data, options?.binary ?? typeof data !== 'string', this);
  }

  /** Sends a ping (at most 125 bytes of payload). */
  ping(payload: Buffer | string = EMPTY): boolean {
    return this.control(OP_PING, payload) && (this.ep.counters.pingsOut++, true);
  }

  /** Sends an unsolicited pong (a heartbeat the peer does not answer). */
  pong(payload: Buffer | string = EMPTY): boolean {
    return this.control(OP_PONG, payload) && (this.ep.counters.pongsOut++, true);
  }

  /**
   * Starts the close handshake: sends a close frame with `code` and `reason`
   * (at most 123 bytes of UTF-8), then waits `closeTimeoutMs` for the peer's.
   * @throws CapstanError `ERR_INVALID_OPTION` for a code a peer may not receive or a reason too long.
   */
  close(code: number = 1000, reason = ''): void {
    if (!isValidCloseCode(code)) throw capstanError('ERR_INVALID_OPTION', `close: code ${code} may not be sent (1000-1003, 1007-1014, 3000-4999)`, { path: 'code' });
    if (Buffer.byteLength(reason) > 123) throw capstanError('ERR_INVALID_OPTION', 'close: a close reason takes at most 123 bytes', { path: 'reason' });
    this.sendClose(code, reason, 'local-end');
  }

  /** Drops the connection at once (no close handshake). */
  terminate(): void {
    this.conn.destroy('local-destroy');
  }

  /** @internal Sends our close frame once and starts the close timeout. */
  sendClose(code: number, reason: string, why: CloseReason): void {
    const c = this.conn;
    if ((this.wflags & W_CLOSE_SENT) !== 0 || c.st !== State.Open) return;
    const body = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2, 'utf8');
    this.frame(OP_CLOSE, body);
    this.wflags |= W_CLOSE_SENT;
    WebSocketCounters.bump(this.ep.counters.closesSent, code);
    c.reason ??= why;
    if ((this.wflags & W_CLOSE_RECEIVED) !== 0) {
      this.finish();
      return;
    }
    this.code = code;
    this.closeText = reason;
    c.setProtocolDeadline(c.ctx.wheel.now() + this.ep.settings.closeTimeoutMs, closeTimedOut);
  }

  /** @internal The peer's close frame arrived. */
  peerClosed(code: number, reason: string): void {
    this.wflags |= W_CLOSE_RECEIVED;
    WebSocketCounters.bump(this.ep.counters.closesReceived, code);
    this.code = code;
    this.closeText = reason;
    const c = this.conn;
    if ((this.wflags & W_CLOSE_SENT) === 0) {
      // Echo the code (RFC 6455 §5.5.1); a close without a code is answered without one.
      c.reason ??= 'peer-closed';
      this.wflags |= W_CLOSE_SENT;
      let body = EMPTY;
      if (code !== 1005) {
        body = Buffer.allocUnsafe(2);
        body.writeUInt16BE(code, 0);
      }
      this.frame(OP_CLOSE, body);
      // An empty close frame carries no code: counted as 1005, as a received one is.
      WebSocketCounters.bump(this.ep.counters.closesSent, code);
    }
    this.finish();
  }

  /** @internal A whole message arrived (inflated, with permessage-deflate). */
  deliver(payload: Buffer, op: number): void {
    deliverMessage(this, this.ep.settings.handler, this.ep.counters, payload, op);
  }

  /** @internal The peer broke a rule (framing, UTF-8, a message too large once inflated): close with its code. */
  failed(f: FrameFailure): void {
    const c = this.conn;
    this.sendClose(f.code, '', f.reason);
    c.error ??= f.error;
    c.reason = f.reason;
    c.queue.clear();
    this.finish();
  }

  /** @internal Messages that waited behind a compression went out: the handler may send more. */
  drained(): void {
    this.ep.settings.handler.drain?.(this);
  }

  /** @internal One frame with opcode `op`, behind any message still being compressed. */
  frame(op: number, body: Buffer): void {
    if (this.deflate !== null) {
      this.deflate.frame(0x80 | op, body);
      return;
    }
    this.ep.encoder.next = 0x80 | op;
    this.conn.send(body);
  }

  /** @internal Ends the connection once everything sent has gone to it. */
  finish(): void {
    const c = this.conn;
    if (this.deflate === null) return c.end();
    this.deflate.afterOutput(() => c.end());
  }

  /** @internal True once a close frame went out. */
  get closeSent(): boolean {
    return (this.wflags & W_CLOSE_SENT) !== 0;
  }

  /** @internal Marks the close callback as delivered; false if it already was. */
  markClosed(): boolean {
    if ((this.wflags & W_CLOSED) !== 0) return false;
    this.wflags |= W_CLOSED;
    return true;
  }

  private control(op: number, payload: Buffer | string): boolean {
    const c = this.conn;
    if ((this.wflags & W_CLOSE_SENT) !== 0 || c.st !== State.Open) return false;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length > 125) throw capstanError('ERR_INVALID_OPTION', `a control frame payload takes at most 125 bytes, not ${body.length}`, { path: 'payload' });
    this.frame(op, body);
    return true;
  }
}

/** A socket either side: what {@link deliverMessage} needs of it. */
interface Receiving {
  readonly closeSent: boolean;
  sendClose(code: number, reason: string, why: CloseReason): void;
}

/**
 * Hands a whole message to the handler, server or client side: counted, and
 * dropped once our close frame went out. A throwing handler gets 1011 sent
 * before the error goes on to the connection.
 */
export function deliverMessage<S extends Receiving>(ws: S, h: { message?(ws: S, data: Buffer, isBinary: boolean): void }, ctr: WebSocketCounters, payload: Buffer, op: number): void {
  ctr.messagesIn++;
  ctr.bytesIn += payload.length;
  // After our close frame the peer may still be sending; RFC 6455 §1.4 lets us drop it.
  if (ws.closeSent || h.message === undefined) return;
  try {
    h.message(ws, payload, op === OP_BINARY);
  } catch (err) {
    ws.sendClose(1011, '', 'handler-error');
    throw err;
  }
}

function closeTimedOut(c: Connection<any>, now: number): void {
  const ws = c.data as WebSocket<unknown>;
  // Our close frame named a reason (local-end, shutdown, …); the handshake it began never finished, and that is what to report.
  c.reason = 'close-timeout';
  c.destroy(
    'close-timeout',
    capstanError('ERR_WS_CLOSE_TIMEOUT', `the peer did not answer our close frame within closeTimeoutMs ${ws.ep.settings.closeTimeoutMs}`, { reason: 'close-timeout', limit: ws.ep.settings.closeTimeoutMs, actual: now }),
  );
}
