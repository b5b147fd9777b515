/**
 * ClientWebSocket: what a client's handler holds for its connection to the
 * server, the client-side twin of the server's `WebSocket` (same `send`,
 * `ping`, `close`, same close codes), over one {@link Connection}.
 *
 * The close handshake differs on this side: the server, not the client, is
 * meant to close TCP first (RFC 6455 §7.1.1, so the server holds TIME_WAIT),
 * so once close frames went both ways the client waits for the server's FIN
 * and only then sends its own, ending by itself only when `closeTimeoutMs`
 * runs out.
 *
 * ```
 *  OPEN ── close(code) ──► CLOSE SENT ── server's close ──► wait for FIN ── FIN ──► end ─► close()
 *    │                         └── closeTimeoutMs ──► destroyed (close-timeout)      └── closeTimeoutMs ──► end
 *    └── server's close ──► our close echoed ──► wait for FIN …
 * ```
 */
import type { CloseReason } from '../connection/close-reason.js';
import { State, type Connection } from '../connection/connection.js';
import { capstanError } from '../errors.js';
import type { MaskingFrameEncoder } from './client-frames.js';
import type { WebSocketClientHandler } from './client-options.js';
import { WebSocketCounters } from './counters.js';
import type { MessageDeflate } from './deflate.js';
import { deliverMessage } from './socket.js';
import { OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, isValidCloseCode, type FrameFailure } from './frame.js';

const CLOSE_SENT = 1;
const CLOSE_RECEIVED = 2;
const REPORTED = 4;

const EMPTY = Buffer.alloc(0);

/** What every connection of one client shares. */
export interface ClientRuntime<D> {
  readonly handler: WebSocketClientHandler<D>;
  readonly counters: WebSocketCounters;
  readonly encoder: MaskingFrameEncoder;
  readonly closeTimeoutMs: number;
}

/**
 * Checks what `close(code, reason)` was given.
 * @throws CapstanError `ERR_INVALID_OPTION` for a code a peer may not receive or a reason over 123 bytes.
 */
export function checkClose(code: number, reason: string): void {
  if (!isValidCloseCode(code)) throw capstanError('ERR_INVALID_OPTION', `close: code ${code} may not be sent (1000-1003, 1007-1014, 3000-4999)`, { path: 'code' });
  if (Buffer.byteLength(reason) > 123) throw capstanError('ERR_INVALID_OPTION', 'close: a close reason takes at most 123 bytes', { path: 'reason' });
}

/**
 * The client's WebSocket, one per connection. Handlers receive it in every
 * call; `client.socket` is the current one.
 * @typeParam D - the type of {@link ClientWebSocket.data}.
 * @category WebSocket
 */
export class ClientWebSocket<D = unknown> {
  /** Your state for this connection (a reconnect brings a new socket, starting `undefined`). */
  data: D = undefined as D;
  /** The connection underneath (addresses, TLS facts, `pause`/`resume`). */
  readonly conn: Connection<unknown>;
  /** The request target of the upgrade (`/chat?room=1`). */
  readonly url: string;
  /** The subprotocol the server chose, or `''`. */
  readonly protocol: string;
  /** The headers of the server's 101 answer (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** @internal */ readonly rt: ClientRuntime<D>;
  /** @internal CLOSE_SENT | CLOSE_RECEIVED | REPORTED. */ state = 0;
  /** @internal The close code to report: the first close frame's, either way. */ code = 1006;
  /** @internal */ closeText = '';
  /** @internal permessage-deflate, when negotiated. */ deflate: MessageDeflate | null = null;

  /** @internal Built by the client when the handshake succeeds. */
  constructor(conn: Connection<unknown>, rt: ClientRuntime<D>, url: string, protocol: string, headers: Readonly<Record<string, string>>) {
    this.conn = conn;
    this.rt = rt;
    this.url = url;
    this.protocol = protocol;
    this.headers = headers;
  }

  /** True while messages can be sent: open, and no close frame sent. */
  get isOpen(): boolean {
    return (this.state & CLOSE_SENT) === 0 && this.conn.st === State.Open;
  }

  /** Outbound bytes queued and not yet taken by the kernel (messages waiting to be compressed included). */
  get bufferedBytes(): number {
    return this.conn.bufferedBytes + (this.deflate?.pendingBytes ?? 0);
  }

  /** The negotiated `Sec-WebSocket-Extensions` (`permessage-deflate; …`), or `''`. */
  get extensions(): string {
    return this.deflate?.settings.header ?? '';
  }

  /**
   * Queues a message, masked, for this turn's write. A string goes as text; a
   * Buffer as binary unless `isBinary` is false (a Buffer you know holds UTF-8).
   * @returns `false` when closed (dropped) or above the high-water mark (queued: wait for `drain`).
   */
  send(data: Buffer | string, isBinary?: boolean): boolean {
    if (!this.isOpen) return false;
    const ctr = this.rt.counters;
    ctr.messagesOut++;
    // Payload bytes, as on the wire: a string's UTF-8, not its UTF-16 units.
    ctr.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const isText = typeof data === 'string' ? isBinary !== true : isBinary === false;
    if (this.deflate !== null) return this.deflate.send(data, isText ? OP_TEXT : OP_BINARY);
    if (typeof data === 'string') {
      if (!isText) this.rt.encoder.next = 0x80 | OP_BINARY;
    } else if (isText) this.rt.encoder.next = 0x80 | OP_TEXT;
    return this.conn.send(data);
  }

  /** Sends a ping (at most 125 bytes of payload); the server answers with a pong. */
  ping(payload: Buffer | string = EMPTY): boolean {
    if (!this.control(OP_PING, payload)) return false;
    this.rt.counters.pingsOut++;
    return true;
  }

  /** Sends an unsolicited pong (a heartbeat the server does not answer). */
  pong(payload: Buffer | string = EMPTY): boolean {
    if (!this.control(OP_PONG, payload)) return false;
    this.rt.counters.pongsOut++;
    return true;
  }

  /**
   * Starts the close handshake with `code` and `reason` (at most 123 bytes of
   * UTF-8). This connection ends; with `reconnect`, the client dials again
   * (`client.close()` closes for good).
   * @throws CapstanError `ERR_INVALID_OPTION` for a code a peer may not receive or a reason too long.
   */
  close(code = 1000, reason = ''): void {
    checkClose(code, reason);
    this.sendClose(code, reason, 'local-end');
  }

  /** Drops the connection at once (no close handshake). */
  terminate(): void {
    this.conn.destroy('local-destroy');
  }

  /** @internal Sends our close frame once, then waits for the server's (or, if it came first, for its FIN). */
  sendClose(code: number, reason: string, why: CloseReason): void {
    const c = this.conn;
    if ((this.state & CLOSE_SENT) !== 0 || c.st !== State.Open) return;
    const body = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2, 'utf8');
    this.frame(OP_CLOSE, body);
    WebSocketCounters.bump(this.rt.counters.closesSent, code);
    c.reason ??= why;
    if ((this.state & CLOSE_RECEIVED) !== 0) return this.awaitServerEnd();
    this.code = code;
    this.closeText = reason;
    c.setProtocolDeadline(c.ctx.wheel.now() + this.rt.closeTimeoutMs, closeUnanswered);
  }

  /** @internal The server's close frame arrived: echo its code if we have not closed, then wait for its FIN. */
  peerClosed(code: number, reason: string): void {
    this.state |= CLOSE_RECEIVED;
    WebSocketCounters.bump(this.rt.counters.closesReceived, code);
    this.code = code;
    this.closeText = reason;
    if ((this.state & CLOSE_SENT) === 0) {
      this.conn.reason ??= 'peer-closed';
      let body = EMPTY;
      if (code !== 1005) {
        body = Buffer.allocUnsafe(2);
        body.writeUInt16BE(code, 0);
      }
      this.frame(OP_CLOSE, body);
      WebSocketCounters.bump(this.rt.counters.closesSent, code === 1005 ? 1000 : code);
    }
    this.awaitServerEnd();
  }

  /** @internal True once a close frame went out. */
  get closeSent(): boolean {
    return (this.state & CLOSE_SENT) !== 0;
  }

  /** @internal Marks the close callback as delivered; false if it already was. */
  markReported(): boolean {
    if ((this.state & REPORTED) !== 0) return false;
    this.state |= REPORTED;
    return true;
  }

  /** @internal A whole message arrived (inflated, with permessage-deflate). */
  deliver(payload: Buffer, op: number): void {
    deliverMessage(this, this.rt.handler, this.rt.counters, payload, op);
  }

  /** @internal The server broke a rule (framing, UTF-8, a message too large once inflated): close with its code. */
  failed(f: FrameFailure): void {
    this.sendClose(f.code, '', f.reason);
    const c = this.conn;
    c.error ??= f.error;
    c.reason = f.reason;
    c.queue.clear();
    if (this.deflate === null) c.end();
    else this.deflate.afterOutput(() => c.end());
  }

  /** @internal Messages that waited behind a compression went out: the handler may send more. */
  drained(): void {
    this.rt.handler.drain?.(this);
  }

  /** Close frames went both ways: the server closes TCP (its FIN ends ours, see the connection core); we end it ourselves if it does not. */
  private awaitServerEnd(): void {
    const c = this.conn;
    c.setProtocolDeadline(c.ctx.wheel.now() + this.rt.closeTimeoutMs, serverKeptOpen);
  }

  private frame(op: number, body: Buffer): void {
    if (op === OP_CLOSE) this.state |= CLOSE_SENT;
    if (this.deflate !== null) {
      this.deflate.frame(0x80 | op, body);
      return;
    }
    this.rt.encoder.next = 0x80 | op;
    this.conn.send(body);
  }

  private control(op: number, payload: Buffer | string): boolean {
    if (!this.isOpen) return false;
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length > 125) throw capstanError('ERR_INVALID_OPTION', `a control frame payload takes at most 125 bytes, not ${body.length}`, { path: 'payload' });
    this.frame(op, body);
    return true;
  }
}

function closeUnanswered(c: Connection<any>, now: number): void {
  const ws = c.data as ClientWebSocket<unknown>;
  const limit = ws.rt.closeTimeoutMs;
  // More telling than the local-end recorded when our close frame went out.
  c.reason = 'close-timeout';
  c.destroy('close-timeout', capstanError('ERR_WS_CLOSE_TIMEOUT', `the server did not answer our close frame within closeTimeoutMs ${limit}`, { reason: 'close-timeout', limit, actual: now }));
}

function serverKeptOpen(c: Connection<any>): void {
  // The handshake is complete: ending is allowed now (RFC 6455 §7.1.1), and the linger bounds the rest.
  c.end();
}
