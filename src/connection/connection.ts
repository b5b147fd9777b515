/**
 * Connection: one peer, from accept (or connect) to the single `close`; its
 * states are drawn on the class below.
 *
 * Reads, sends and timeouts touch only plain fields: the socket listeners are
 * module-level functions, timeouts live on the shared wheel, and the outbound
 * batch borrows the shared slab only while a turn's writes are pending.
 *
 * | module           | what                                                        |
 * |------------------|-------------------------------------------------------------|
 * | connection.ts    | this class: the public API and the lifecycle               |
 * | read-path.ts     | chunk → queue → decoder → handler; the peer's FIN          |
 * | write-path.ts    | the batch → the socket once per turn; backpressure, drain  |
 * | outbound.ts      | the batch itself: the shared slab and large buffers        |
 * | deadlines.ts     | every timeout, checked when the wheel says one may be due   |
 * | socket-events.ts | the socket listeners, and moving to a new (TLS) socket     |
 */
import type { Socket } from 'node:net';
import type { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Decoder, DecoderEvents, Encoder } from '../codecs/codec.js';
import { capstanError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ListenerCounters } from '../metrics/listener-counters.js';
import type { TimerWheel, WheelEntry } from '../timers/timer-wheel.js';
import { reasonForError, type CloseReason } from './close-reason.js';
import type { EventLog } from './event-log.js';
import type { Handler } from './handler.js';
import type { Limits } from './limits.js';
import { discardBatch, sink, type OutboundState } from './outbound.js';
import { tlsInfoOf, type TlsInfo } from './tls-info.js';
import type { ProxyHeader } from '../pipeline/proxy-protocol.js';
import { upgradeToTls, type StartTls } from '../pipeline/starttls.js';
import type { Filter } from '../pipeline/filter.js';
import { FilterChain } from '../pipeline/filter-chain.js';
import { CONNECTION_ENDS } from './filter-ends.js';
import type { ClientTlsOptions } from '../transport/connect.js';
import { checkDeadlines, scheduleNextDeadline } from './deadlines.js';
import { NO_BYTES, peerEnded, pumpFrames, readChunk } from './read-path.js';
import { attachSocket } from './socket-events.js';
import { checkMarks, flushBatch, scheduleFlush, scheduleTurnFlush, socketDrained } from './write-path.js';

export type { TlsInfo } from './tls-info.js';

/** What every connection of one listener (or one client) shares. */
export interface ConnectionContext {
  readonly handler: Handler<any>;
  readonly codec: Codec;
  readonly limits: Limits;
  readonly counters: ListenerCounters;
  readonly wheel: TimerWheel;
  readonly logger: Logger;
  /** The rate-limited log of what peers cause (closes, discards, handler errors). */
  readonly log: EventLog;
  /** Records, for one read batch in eight that produced replies, the µs from decoding to flushing them; `null` when off. */
  readonly latency: LatencyRecorder | null;
  /** Log connections that close before opening (failed TLS handshakes on a listener). */
  readonly logFailedOpens: boolean;
  /** Plain TCP (true) can be reset on destroy; TLS and Unix sockets cannot. */
  readonly resettable: boolean;
  /** The filters between the socket (after TLS) and the codec, in order from the socket; null when none. */
  readonly filters: readonly Filter[] | null;
  /** How `conn.startTls()` upgrades: the listener's `startTls` settings, or a client's; null when not offered. */
  readonly startTls: StartTls | null;
  /** Called once per connection, after `close` was delivered. */
  release(conn: Connection<any>): void;
}

/**
 * A step a new connection goes through before it opens (a PROXY header, telling
 * TLS from plaintext): it sees every chunk while set, and owns the handshake
 * deadline. See src/pipeline/accept-stage.ts.
 */
export interface HandshakeStage {
  /** When the stage must be done (ms on the wheel's clock); 0: no deadline of its own. */
  readonly due: number;
  /** Bytes arrived; they are in `conn.queue`. */
  bytes(conn: Connection<any>): void;
  /** The peer closed before the stage was done. */
  abandoned(conn: Connection<any>): void;
  /** The deadline passed: the reason and error to close with. */
  timedOut(): { reason: CloseReason; error: Error };
}

/**
 * Receives handler latency samples (`listen({ latency })`); `latencyRecorder(name)`
 * makes the one whose figures reach the listener's snapshot and `/metrics`.
 * @category Metrics
 */
export interface LatencyRecorder {
  /** One sample, in microseconds. Called on the hot path: keep it to a few field updates. */
  record(microseconds: number): void;
}

/** Connection states, in the order a connection passes through them. */
export const enum State {
  Handshake = 0,
  Open = 1,
  Ending = 2,
  Closing = 3,
  Closed = 4,
}

/**
 * Where a connection is in its life.
 *
 * In order: `handshake` (TLS, a PROXY header, or a client still connecting),
 * `open` (frames flow), `ending` (our FIN sent, waiting for the peer's),
 * `closing` (the socket is being torn down), `closed` (`close` delivered). Read
 * it from {@link Connection.state}.
 * @category Connections
 */
export type ConnectionState = 'handshake' | 'open' | 'ending' | 'closing' | 'closed';
const STATE_NAMES: readonly ConnectionState[] = ['handshake', 'open', 'ending', 'closing', 'closed'];

import {
  F_BP_PAUSED,
  F_FILTER_HELD,
  F_FRAMES_HELD,
  F_DIRTY,
  F_DRAINING,
  F_IN_DATA,
  F_IN_LOOP,
  F_OPENED,
  F_PEER_END_HANDLED,
  F_PEER_ENDED,
  F_PEER_ENDED_FIRST,
  F_USER_PAUSED,
} from './flags.js';

let nextId = 1;

/**
 * One connection: the object every {@link Handler} method receives, to send on
 * and to control.
 *
 * Keep it (in a set, or a map by user) to send later, from timers or other
 * connections; after `close` it sends nothing and `send` returns `false`.
 * Listeners and clients create connections; user code never constructs one.
 *
 * ```
 *            ┌──────────── destroy / error / timeout ───────────┐
 *            │                                                  ▼
 *  HANDSHAKE ─► OPEN ──── end() / idle / bad frame ──► ENDING ─► CLOSING ─► CLOSED
 *   (TLS)       │  reads, decodes,        flush, FIN,    linger   socket     close(reason)
 *               │  sends                  discard reads           'close'    delivered once
 *               └────────────── peer FIN ─► handler.end or end() ─┘
 * ```
 *
 * @typeParam D - the type of the per-connection {@link Connection.data} slot.
 * @category Connections
 */
export class Connection<D = unknown> implements OutboundState, WheelEntry, DecoderEvents {
  /** Process-unique id, for logs. */
  readonly id: number = nextId++;
  /** Your per-connection state. Starts `undefined`; set it in `open`. */
  data: D = undefined as D;

  /** @internal */ socket: Socket;
  /** @internal */ readonly ctx: ConnectionContext;
  /** @internal */ st: State;
  /** @internal Boolean state, one bit each (F_*). */
  flags = 0;
  /** @internal */ codec: Codec;
  /** @internal */ decoder: Decoder;
  /** @internal */ encoder: Encoder;
  /** @internal Undecoded bytes; the shared empty queue while there are none (most of an idle connection's life). */
  queue: ByteQueue = NO_BYTES;
  /** @internal The socket's own queue as of the last flush (bytes); a cheap upper bound between flushes. */
  sockQueued = 0;
  /** @internal */ drainQuietMs = 0;
  /** @internal */ reason: CloseReason | null = null;
  /** @internal */ error: Error | undefined = undefined;
  /** @internal */ readonly createdAt: number;
  /** @internal */ openedAt = 0;
  /** @internal */ lastRead = 0;
  /** @internal */ lastWrite = 0;
  /** @internal */ endAt = 0;
  /** @internal */ stallSince = 0;
  /** @internal */ stallDone = 0;
  /** @internal When the frame waiting for more bytes began arriving (ms); 0 while no frame is partly received. */
  partialAt = 0;
  /**
   * @internal A deadline of the protocol spoken on top (a WebSocket's upgrade,
   * heartbeat or close handshake), in ms on the wheel's clock; 0 while none.
   * When it passes, `protocolDue` is called and either acts or moves it.
   */
  protocolAt = 0;
  /** @internal What runs when {@link protocolAt} passes; set together with it. */
  protocolDue: ((conn: Connection<any>, now: number) => void) | null = null;

  /** @internal */ outSlab: Buffer | null = null;
  /** @internal */ outStart = 0;
  /** @internal */ outEnd = 0;
  /** @internal */ outChunks: Buffer[] | null = null;
  /** @internal */ outBytes = 0;
  /** @internal */ wheelNext: WheelEntry | null = null;
  /** @internal */ wheelPrev: WheelEntry | null = null;
  /** @internal */ wheelSlot = -1;
  /** @internal */ wheelDue = 0;
  /** @internal The step before opening that sees every chunk (accept-stage.ts), or null. */
  stage: HandshakeStage | null = null;
  /**
   * What the load balancer's PROXY protocol header said about this connection,
   * when the listener reads one (`proxyProtocol`); `remoteAddress` and
   * `remotePort` then report the client it names. `null` otherwise.
   */
  proxy: ProxyHeader | null = null;
  /** @internal This connection's filter sessions (from open), or null when its listener has none. */
  filters: FilterChain | null = null;

  /** @internal Listeners build connections; users receive them. */
  constructor(ctx: ConnectionContext, socket: Socket, handshaking: boolean) {
    this.ctx = ctx;
    this.socket = socket;
    this.codec = ctx.codec;
    this.decoder = ctx.codec.decoder(this);
    this.encoder = ctx.codec.encoder();
    this.st = handshaking ? State.Handshake : State.Open;
    this.createdAt = ctx.wheel.now();
    // Reading the peer name once makes the socket cache it, so it stays readable after close.
    void socket.remoteAddress;
    attachSocket(this, socket);
    if (handshaking && ctx.limits.handshakeTimeoutMs > 0) {
      ctx.wheel.schedule(this, this.createdAt + ctx.limits.handshakeTimeoutMs);
    }
  }

  // ── public API ────────────────────────────────────────────────────────────

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return STATE_NAMES[this.st] as ConnectionState;
  }

  /** True while `send` accepts frames (open, not ending or closed). */
  get writable(): boolean {
    return this.st === State.Open;
  }

  /**
   * Outbound bytes queued and not yet taken by the kernel (this turn's batch,
   * the socket's queue and what filters hold): what `limits.highWaterBytes`
   * and `limits.maxBufferedBytes` are compared with.
   */
  get bufferedBytes(): number {
    return this.outBytes + (this.socket.writableLength ?? 0) + (this.filters?.pendingBytes ?? 0);
  }

  /** The peer's address (IPv4, IPv6, or `''` for Unix sockets); behind a proxy, the client's from its PROXY header. */
  get remoteAddress(): string {
    const p = this.proxy?.source;
    return p !== undefined ? p.address : (this.socket.remoteAddress ?? '');
  }
  /** The peer's port; behind a proxy, the client's. */
  get remotePort(): number {
    const p = this.proxy?.source;
    return p !== undefined ? p.port : (this.socket.remotePort ?? 0);
  }
  /** `IPv4`, `IPv6` or `unix` (of the client, behind a proxy). */
  get remoteFamily(): string {
    const t = this.proxy?.source !== undefined ? this.proxy.transport : null;
    if (t !== null) return t === 'tcp4' || t === 'udp4' ? 'IPv4' : t === 'tcp6' || t === 'udp6' ? 'IPv6' : 'unix';
    return this.socket.remoteFamily ?? 'unix';
  }
  /** Our address on this connection (`''` for Unix sockets). */
  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }
  /** Our port on this connection (0 for Unix sockets). */
  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  /** The codec in use (changes after {@link setCodec}). */
  get codecName(): string {
    return this.codec.name;
  }

  /** TLS facts, or `undefined` on a plain connection. */
  get tls(): TlsInfo | undefined {
    return tlsInfoOf(this.socket);
  }

  /**
   * Queues `frame` to be encoded and sent with this turn's batch.
   * @returns `true` when queued and below the high-water mark; `false` when the
   *   connection is not open (the frame is dropped) or the queue is above
   *   `highWaterBytes` (the frame is queued: wait for `drain`).
   * @throws CapstanError `ERR_FRAME_TOO_LARGE` when the codec cannot encode the frame.
   */
  send(frame: Buffer | string): boolean {
    if (this.st !== State.Open) return false;
    sink.target = this;
    const enc = this.encoder;
    if (typeof frame !== 'string') enc.encode(frame, sink);
    else if (enc.encodeText !== undefined) enc.encodeText(frame, sink);
    else enc.encode(Buffer.from(frame), sink);
    const ctx = this.ctx;
    ctx.counters.framesOut++;
    if ((this.flags & F_IN_DATA) === 0 && (this.flags & F_DIRTY) === 0) scheduleFlush(this);
    // Checked against what the socket held at the last flush; the exact figure is read only near the mark.
    if (this.outBytes + this.sockQueued <= ctx.limits.highWaterBytes) return true;
    return checkMarks(this);
  }

  /**
   * @internal Queues bytes already encoded for this connection's codec: one
   * frame built once for many connections (a WebSocket publish). `head` and a
   * small `body` are copied into the batch; a large `body` is queued as it is,
   * the same Buffer for every connection. The batch is written at the end of
   * the turn however many such frames it takes (so a subscriber gets one write
   * per turn, not one per message), or at once when it passes the high-water
   * mark, so the kernel takes what it can before the hard cap is reached.
   * @returns what {@link send} returns.
   */
  sendEncoded(head: Buffer, body: Buffer | null): boolean {
    if (this.st !== State.Open) return false;
    sink.target = this;
    sink.append(head);
    if (body !== null) sink.append(body);
    const ctx = this.ctx;
    ctx.counters.framesOut++;
    if ((this.flags & F_IN_DATA) === 0 && (this.flags & F_DIRTY) === 0) scheduleTurnFlush(this);
    if (this.outBytes + this.sockQueued <= ctx.limits.highWaterBytes) return true;
    if (checkMarks(this)) return true;
    if (this.st === State.Open && (this.flags & F_IN_DATA) === 0) flushBatch(this);
    return false;
  }

  /**
   * Graceful close: flush queued writes, send FIN, keep reading (and discarding)
   * until the peer's FIN or `lingerMs`, then release. No more frames are delivered.
   */
  end(): void {
    if (this.st !== State.Open) {
      if (this.st === State.Handshake) this.destroy('local-end');
      return;
    }
    this.st = State.Ending;
    this.endAt = this.ctx.wheel.now();
    flushBatch(this);
    const s = this.socket;
    // Filters write what they hold (a compressor's last block) before our FIN.
    if (this.filters !== null) this.filters.endOutbound(() => s.end());
    else s.end();
    if ((this.flags & (F_USER_PAUSED | F_BP_PAUSED | F_FRAMES_HELD)) !== 0) {
      // Keep reading so the peer's FIN arrives and unread data does not turn our close into a reset.
      this.flags &= ~(F_USER_PAUSED | F_BP_PAUSED | F_FRAMES_HELD);
      this.socket.resume();
    }
    if (this.ctx.limits.lingerMs > 0) this.ctx.wheel.scheduleBy(this, this.endAt + this.ctx.limits.lingerMs);
  }

  /**
   * Abortive close: drop queued writes and reset the connection (RST on TCP;
   * TLS and Unix sockets are just closed). `close` follows once the socket is
   * gone. Does nothing once the connection is closing.
   * @param reason - the close reason `close` reports; default `local-destroy`.
   * @param error - the error `close` receives with it, if any.
   */
  destroy(reason: CloseReason = 'local-destroy', error?: Error): void {
    if (this.st >= State.Closing) return;
    this.reason ??= reason;
    if (error !== undefined) this.error ??= error;
    this.st = State.Closing;
    discardBatch(this);
    this.queue.clear();
    this.filters?.close();
    const s = this.socket;
    if (this.ctx.resettable && typeof s.resetAndDestroy === 'function' && !s.destroyed) {
      try {
        s.resetAndDestroy();
        return;
      } catch {
        // Not a TCP handle after all (a wrapped socket): fall back to a plain destroy.
      }
    }
    s.destroy();
  }

  /**
   * Stops reading from the peer and delivering frames until {@link resume}:
   * flow control of your own (a slow downstream, a rate limit). Frames already
   * received and not yet delivered wait, and so does the peer's FIN; the kernel
   * buffers what the peer sends meanwhile, and TCP slows the peer down.
   * Sending still works. Timeouts keep running: a connection paused with
   * nothing sent for `idleTimeoutMs` is closed as idle. Pausing is separate
   * from backpressure's: reading restarts only when both are lifted. No effect
   * unless the connection is open; pausing twice is pausing once.
   */
  pause(): void {
    if ((this.flags & F_USER_PAUSED) !== 0 || this.st !== State.Open) return;
    this.flags |= F_USER_PAUSED;
    this.socket.pause();
  }

  /**
   * Undoes {@link pause}: delivers the frames that waited (and the peer's FIN
   * if it came), then reads again, unless backpressure still holds reading
   * (it resumes on `drain`). No effect when not paused.
   */
  resume(): void {
    if ((this.flags & F_USER_PAUSED) === 0) return;
    this.flags &= ~F_USER_PAUSED;
    if (this.st !== State.Open) return;
    this.readAgain();
  }

  /**
   * @internal Holds (or releases) frame delivery for the protocol on top: no
   * frame is decoded and the socket is not read while held, so what follows a
   * message still being worked on (inflated off the event loop) waits its
   * turn. Independent of {@link pause}; {@link end} releases it.
   */
  holdFrames(held: boolean): void {
    if (held) {
      if ((this.flags & F_FRAMES_HELD) !== 0 || this.st !== State.Open) return;
      this.flags |= F_FRAMES_HELD;
      this.socket.pause();
      return;
    }
    if ((this.flags & F_FRAMES_HELD) === 0) return;
    this.flags &= ~F_FRAMES_HELD;
    if (this.st !== State.Open || (this.flags & F_USER_PAUSED) !== 0) return;
    this.readAgain();
  }

  /** Nothing holds reading any more: read the socket again and deliver what waited. */
  private readAgain(): void {
    if ((this.flags & (F_BP_PAUSED | F_FRAMES_HELD)) === 0) {
      if ((this.flags & F_FILTER_HELD) === 0) this.socket.resume();
      this.filters?.resume();
    }
    if ((this.flags & F_IN_LOOP) === 0 && (this.flags & F_IN_DATA) === 0) {
      pumpFrames(this);
      if ((this.flags & F_PEER_ENDED) !== 0 && (this.flags & F_PEER_END_HANDLED) === 0) peerEnded(this);
    }
  }

  /**
   * Upgrades the connection to TLS (STARTTLS), keeping its codec, handler and
   * `data`. Call it right after queueing the reply that tells the peer to start
   * TLS: the reply is written first. On a listener it uses the `startTls`
   * settings; on a client, its `tls` options merged with `options`. Until the
   * handshake is done `send` returns false and nothing is delivered; bytes the
   * peer sent after its command and before the handshake close the connection
   * (`protocol-error`, `ERR_STARTTLS`).
   * @returns the TLS facts once the handshake is done; rejects if it fails.
   */
  startTls(options?: ClientTlsOptions): Promise<TlsInfo> {
    const how = this.ctx.startTls;
    if (how === null) return Promise.reject(capstanError('ERR_STARTTLS', 'startTls: this listener has no startTls settings (listen({ startTls: { key, cert } }))'));
    return upgradeToTls(this, how, options);
  }

  /** True while reading is paused, by {@link pause} or by backpressure (the outbound queue above `highWaterBytes`). */
  get isPaused(): boolean {
    return (this.flags & F_USER_PAUSED) !== 0 || (this.flags & F_BP_PAUSED) !== 0;
  }

  /**
   * Switches framing mid-stream (protocol upgrade). Bytes already received and
   * not yet decoded are decoded with the new codec; frames sent from now on are
   * encoded with it; frames sent before are already encoded. The listener's
   * `limits.maxFrameBytes`, when set, bounds the new codec too.
   */
  setCodec(codec: Codec): void {
    // The listener's frame bound applies to every codec a connection speaks, as it does to the first.
    const max = this.ctx.limits.maxFrameBytes;
    if (max !== undefined && codec.maxFrameBytes !== max) codec = codec.withMaxFrameBytes(max);
    this.codec = codec;
    this.decoder = codec.decoder(this);
    this.encoder = codec.encoder();
  }

  // ── internals called by socket listeners, the wheel and listeners ──────────

  /** @internal */
  frameDiscarded(bytes: number): void {
    this.ctx.counters.framesDiscarded++;
    this.ctx.log.discarded(this, bytes);
  }

  /** @internal Rebinds the connection to a new socket (after a TLS wrap). */
  attach(socket: Socket): void {
    this.socket = socket;
    attachSocket(this, socket);
  }

  /** @internal Moves the connection to OPEN and calls the handler's `open`. */
  open(): void {
    if (this.st !== State.Handshake && this.st !== State.Open) return;
    this.st = State.Open;
    this.flags |= F_OPENED;
    void this.socket.remoteAddress; // a client socket learns its peer once connected: cache it now
    const now = this.ctx.wheel.now();
    this.openedAt = now;
    this.lastWrite = now;
    const filters = this.ctx.filters;
    if (filters !== null) this.filters = new FilterChain(this, filters, CONNECTION_ENDS);
    const h = this.ctx.handler;
    if (h.open !== undefined) {
      try {
        h.open(this);
      } catch (err) {
        this.handlerThrew(err, 'open');
      }
    }
    if (this.st === State.Open) {
      this.scheduleNext(now);
      if (this.filters !== null) {
        // Bytes that came before the filters started (after a PROXY header, or with the handshake) are filtered bytes too.
        if (this.queue.length > 0) {
          const early = this.queue.takeAll();
          this.queue.clear();
          this.filters.inbound(early);
        }
      } else if (this.queue.length > 0) {
        // Bytes that arrived while the handler opened (TLS early data) are waiting.
        pumpFrames(this);
      }
    }
  }

  /** @internal A chunk arrived from the socket (read-path.ts). */
  receive(chunk: Buffer): void {
    readChunk(this, chunk);
  }

  /** @internal Delivers queued frames and queues their replies (read-path.ts). */
  pump(): number {
    return pumpFrames(this);
  }

  /** @internal A handler method threw: counted, logged, and the connection closes gracefully. */
  handlerThrew(err: unknown, method: string): void {
    this.ctx.counters.handlerErrors++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.ctx.log.handlerThrew(this, method, error);
    this.fail('handler-error', error);
  }

  /** @internal Records why, then closes gracefully so replies to earlier frames still go out. */
  fail(reason: CloseReason, error: Error): void {
    this.reason ??= reason;
    this.error ??= error;
    this.queue.clear();
    this.end();
  }

  /** @internal Writes this turn's batch now (write-path.ts). Returns the bytes written. */
  flush(): number {
    return flushBatch(this);
  }

  /** @internal The socket's queue is empty again (write-path.ts). */
  drained(): void {
    socketDrained(this);
  }

  /** @internal The peer sent FIN (read-path.ts). */
  peerEnd(): void {
    peerEnded(this);
  }

  /** @internal The peer went away before the handshake finished (it rejected our certificate, or never spoke TLS). */
  handshakeAbandoned(): void {
    if (this.stage !== null) return this.stage.abandoned(this);
    this.destroy('tls-error', capstanError('ERR_TLS_HANDSHAKE_ABORTED', 'the peer closed the connection during the TLS handshake', { reason: 'tls-error' }));
  }

  /** @internal */
  socketError(err: Error): void {
    if (this.reason === null) this.reason = reasonForError(err);
    this.error ??= err;
    // Stream errors destroy the socket themselves; errors a TLS socket only emits (a refused renegotiation) do not.
    if (!this.socket.destroyed) this.destroy(this.reason, err);
  }

  /** @internal The socket closed: deliver `close` exactly once and release. */
  finalize(): void {
    if (this.st === State.Closed) return;
    // Never opened (a failed handshake or connect); a STARTTLS handshake happens after open.
    const wasHandshake = (this.flags & F_OPENED) === 0;
    this.st = State.Closed;
    const ctx = this.ctx;
    ctx.wheel.cancel(this);
    this.queue.clear();
    discardBatch(this);
    this.filters?.close();
    const reason: CloseReason = this.reason ?? ((this.flags & F_PEER_ENDED_FIRST) !== 0 || !this.endAt ? 'peer-closed' : 'local-end');
    this.reason = reason;
    ctx.counters.closes[reason]++;
    // A client's failed connect is reported to its caller, not logged as a closed connection.
    if (!wasHandshake || ctx.logFailedOpens) ctx.log.closed(this, reason, this.error);
    if (!wasHandshake) {
      const h = ctx.handler;
      if (h.close !== undefined) {
        try {
          h.close(this, reason, this.error);
        } catch (err) {
          ctx.counters.handlerErrors++;
          ctx.log.handlerThrew(this, 'close', err instanceof Error ? err : new Error(String(err)));
        }
      }
    } else if ((this.socket as { encrypted?: boolean }).encrypted === true && reason !== 'shutdown' && reason !== 'local-destroy' && reason !== 'local-end') {
      // The peer broke off the TLS handshake (FIN, RST, a bad record) or let it time out.
      ctx.counters.tlsHandshakeFailures++;
    }
    ctx.release(this);
  }

  /** @internal Why the connection closed (after `close`), or the reason recorded so far. */
  get closeReason(): CloseReason | null {
    return this.reason;
  }

  /** @internal The error behind the close, if any. */
  get closeError(): Error | undefined {
    return this.error;
  }

  /** @internal Was `open` delivered? (Connections that fail a TLS handshake never open.) */
  get wasOpened(): boolean {
    return (this.flags & F_OPENED) !== 0;
  }

  /**
   * @internal The server is closing: let the handler say goodbye, then end the
   * connection once it has been quiet for `quietMs` and its queue is empty.
   */
  beginDrain(quietMs: number): void {
    if (this.st === State.Handshake) {
      this.destroy('shutdown');
      return;
    }
    if (this.st !== State.Open || (this.flags & F_DRAINING) !== 0) return;
    this.flags |= F_DRAINING;
    this.drainQuietMs = quietMs;
    const h = this.ctx.handler;
    if (h.shutdown !== undefined) {
      try {
        h.shutdown(this);
      } catch (err) {
        this.handlerThrew(err, 'shutdown');
      }
      flushBatch(this);
    }
    if (this.st === State.Open) this.ctx.wheel.scheduleBy(this, this.ctx.wheel.now() + quietMs);
  }

  /** @internal Timeouts, checked lazily when the wheel says one may be due (deadlines.ts). */
  onWheelDue(now: number): void {
    checkDeadlines(this, now);
  }

  /**
   * @internal Sets (or, with 0, clears) the protocol deadline and files the
   * connection on the wheel by then; `due` runs when it passes.
   */
  setProtocolDeadline(at: number, due: (conn: Connection<any>, now: number) => void): void {
    this.protocolAt = at;
    this.protocolDue = due;
    if (at > 0 && this.st <= State.Ending) this.ctx.wheel.scheduleBy(this, at);
  }

  /** @internal */
  scheduleNext(now: number): void {
    scheduleNextDeadline(this, now);
  }
}
