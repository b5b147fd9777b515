/**
 * Connection: one peer, from accept (or connect) to the single `close`.
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
 * Reads, sends and timeouts touch only plain fields: the socket listeners are
 * module-level functions, timeouts live on the shared wheel, and the outbound
 * batch borrows the shared slab only while a turn's writes are pending.
 */
import type { Socket } from 'node:net';
import { ByteQueue } from '../buffers/byte-queue.js';
import type { Codec, Decoder, DecoderEvents, Encoder } from '../codecs/codec.js';
import { capstanError, isCapstanError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ListenerCounters } from '../metrics/listener-counters.js';
import type { TimerWheel, WheelEntry } from '../timers/timer-wheel.js';
import { reasonForError, type CloseReason } from './close-reason.js';
import type { EventLog } from './event-log.js';
import type { Handler } from './handler.js';
import type { Limits } from './limits.js';
import { discardBatch, sink, takeBatch, type OutboundState } from './outbound.js';
import { tlsInfoOf, type TlsInfo } from './tls-info.js';
import { checkDeadlines, scheduleNextDeadline } from './deadlines.js';

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
  /** Called once per connection, after `close` was delivered. */
  release(conn: Connection<any>): void;
}

/** Receives handler latency samples in microseconds (typically the metrics module's `latencyRecorder`). */
export interface LatencyRecorder {
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

/** The state names users see through {@link Connection.state}. */
export type ConnectionState = 'handshake' | 'open' | 'ending' | 'closing' | 'closed';
const STATE_NAMES: readonly ConnectionState[] = ['handshake', 'open', 'ending', 'closing', 'closed'];

const kConn = Symbol('capstan.connection');
type OwnedSocket = Socket & { [kConn]?: Connection<any> };

import {
  F_BP_PAUSED,
  F_DIRTY,
  F_DRAIN_LISTENING,
  F_DRAIN_QUEUED,
  F_DRAINING,
  F_GOT_FIRST_BYTE,
  F_IN_DATA,
  F_IN_LOOP,
  F_NEED_DRAIN,
  F_OPENED,
  F_OVER_HIGH,
  F_PEER_END_HANDLED,
  F_PEER_ENDED,
  F_PEER_ENDED_FIRST,
  F_USER_PAUSED,
} from './flags.js';

/**
 * Queues for received bytes are lent per read: a connection holds one only while
 * a partial frame waits, so idle connections cost no queue. NO_BYTES is the
 * shared empty stand-in (never pushed to); `spareQueue` keeps one returned queue
 * for the next read.
 */
const NO_BYTES = new ByteQueue();
let spareQueue: ByteQueue | null = null;

/**
 * Handler latency is timed on one read batch in eight: two clock reads per batch
 * cost a measurable share of small-message throughput, and one in eight keeps the
 * percentiles just as representative under load.
 */
const LATENCY_SAMPLE_MASK = 7;
let sampledBatches = 0;

let nextId = 1;

/**
 * Connections with replies waiting, written once per event-loop turn: after the
 * poll phase has handed over every read that was ready (setImmediate runs right
 * after it), not after each read. The system calls are the same (one write per
 * connection), but the peers' replies leave together, so a client serving many
 * connections wakes once for the lot instead of once per reply, and each write
 * costs the server less: the 64-byte echo at one message per read went from
 * 0.94x to 1.02x the raw echo's messages per second in paired runs. At most
 * MAX_DEFERRED connections wait: the eighth writes them all at once, which
 * bounds what a reply waits for (at a fixed 500 msgs/s x 100 connections, an
 * unbounded wait added 60 µs to the median, 8 add about 25 µs). Replies above
 * the high-water mark are written at once (backpressure needs to know whether
 * the kernel took them).
 */
const dirty: Connection<any>[] = [];
let flushScheduled = false;

function scheduleFlush(conn: Connection<any>): void {
  conn.flags |= F_DIRTY;
  if (dirty.push(conn) >= MAX_DEFERRED) {
    flushDirty();
    return;
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(onTurnEnd);
  }
}

function onTurnEnd(): void {
  flushScheduled = false;
  flushDirty();
}

/** Connections whose replies may wait for the end of the turn; more are written at once, so no reply waits behind many reads. */
const MAX_DEFERRED = 8;

/** Connections whose batch this turn is being timed for handler latency, and when decoding began. */
const timed: Connection<any>[] = [];
const timedAt: number[] = [];

function flushDirty(): void {
  // A flush may make another connection dirty (a handler called from drain); loop until quiet.
  for (let i = 0; i < dirty.length; i++) {
    const c = dirty[i] as Connection<any>;
    c.flags &= ~F_DIRTY;
    c.flush();
  }
  dirty.length = 0;
  if (timed.length > 0) {
    const now = performance.now();
    for (let i = 0; i < timed.length; i++) (timed[i] as Connection<any>).ctx.latency?.record((now - (timedAt[i] as number)) * 1000);
    timed.length = 0;
    timedAt.length = 0;
  }
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  (this[kConn] as Connection<any>).receive(chunk);
}
function onSocketEnd(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).peerEnd();
}
function onSocketError(this: OwnedSocket, err: Error): void {
  (this[kConn] as Connection<any>).socketError(err);
}
function onSocketClose(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).finalize();
}
function emitDrain(conn: Connection<any>): void {
  conn.flags &= ~F_DRAIN_QUEUED;
  if (conn.bufferedBytes <= conn.ctx.limits.highWaterBytes) conn.drained();
}
function onSocketDrain(this: OwnedSocket): void {
  (this[kConn] as Connection<any>).drained();
}

/**
 * One connection. Handlers receive it in every call; keep it to send later.
 * @typeParam D - the type of the per-connection {@link Connection.data} slot.
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
  private codec: Codec;
  private decoder: Decoder;
  private encoder: Encoder;
  /** Undecoded bytes; the shared empty queue while there are none (most of an idle connection's life). */
  private queue: ByteQueue = NO_BYTES;
  /** The socket's own queue as of the last flush (bytes); a cheap upper bound between flushes. */
  private sockQueued = 0;
  /** @internal */ drainQuietMs = 0;
  /** @internal */ reason: CloseReason | null = null;
  private error: Error | undefined = undefined;
  /** @internal */ readonly createdAt: number;
  /** @internal */ openedAt = 0;
  /** @internal */ lastRead = 0;
  /** @internal */ lastWrite = 0;
  /** @internal */ endAt = 0;
  /** @internal */ stallSince = 0;
  /** @internal */ stallDone = 0;
  /** @internal When the frame waiting for more bytes began arriving (ms); 0 while no frame is partly received. */
  partialAt = 0;

  /** @internal */ outSlab: Buffer | null = null;
  /** @internal */ outStart = 0;
  /** @internal */ outEnd = 0;
  /** @internal */ outChunks: Buffer[] | null = null;
  /** @internal */ outBytes = 0;
  /** @internal */ wheelNext: WheelEntry | null = null;
  /** @internal */ wheelPrev: WheelEntry | null = null;
  /** @internal */ wheelSlot = -1;
  /** @internal */ wheelDue = 0;

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
    this.attach(socket);
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

  /** Outbound bytes queued and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.outBytes + (this.socket.writableLength ?? 0);
  }

  /** The peer's address (IPv4, IPv6, or `''` for Unix sockets). */
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  /** `IPv4`, `IPv6` or `unix`. */
  get remoteFamily(): string {
    return this.socket.remoteFamily ?? 'unix';
  }
  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }
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
    this.encoder.encode(typeof frame === 'string' ? Buffer.from(frame) : frame, sink);
    const ctx = this.ctx;
    ctx.counters.framesOut++;
    if ((this.flags & F_IN_DATA) === 0 && (this.flags & F_DIRTY) === 0) scheduleFlush(this);
    // Checked against what the socket held at the last flush; the exact figure is read only near the mark.
    if (this.outBytes + this.sockQueued <= ctx.limits.highWaterBytes) return true;
    return this.checkMarks();
  }

  private checkMarks(): boolean {
    const limits = this.ctx.limits;
    this.sockQueued = this.socket.writableLength;
    const buffered = this.outBytes + this.sockQueued;
    if (buffered > limits.maxBufferedBytes) {
      this.destroy(
        'slow-consumer',
        capstanError('ERR_SLOW_CONSUMER', `outbound queue of ${buffered} bytes exceeds maxBufferedBytes ${limits.maxBufferedBytes}: the peer reads slower than the handler sends`, {
          reason: 'slow-consumer',
          limit: limits.maxBufferedBytes,
          actual: buffered,
        }),
      );
      return false;
    }
    if (buffered > limits.highWaterBytes) {
      this.flags |= F_NEED_DRAIN;
      this.flags |= F_OVER_HIGH;
      return false;
    }
    return true;
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
    this.flush();
    this.socket.end();
    if ((this.flags & F_USER_PAUSED) !== 0 || (this.flags & F_BP_PAUSED) !== 0) {
      // Keep reading so the peer's FIN arrives and unread data does not turn our close into a reset.
      this.flags &= ~(F_USER_PAUSED | F_BP_PAUSED);
      this.socket.resume();
    }
    if (this.ctx.limits.lingerMs > 0) this.ctx.wheel.scheduleBy(this, this.endAt + this.ctx.limits.lingerMs);
  }

  /**
   * Abortive close: drop queued writes and reset the connection (RST on TCP).
   * @param reason - the close reason to report; default `local-destroy`.
   */
  destroy(reason: CloseReason = 'local-destroy', error?: Error): void {
    if (this.st >= State.Closing) return;
    this.reason ??= reason;
    if (error !== undefined) this.error ??= error;
    this.st = State.Closing;
    discardBatch(this);
    this.queue.clear();
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

  /** Stops reading from the peer and delivering frames until {@link resume}. */
  pause(): void {
    if ((this.flags & F_USER_PAUSED) !== 0 || this.st !== State.Open) return;
    this.flags |= F_USER_PAUSED;
    this.socket.pause();
  }

  /** Resumes reading and delivers frames already received. */
  resume(): void {
    if ((this.flags & F_USER_PAUSED) === 0) return;
    this.flags &= ~F_USER_PAUSED;
    if (this.st !== State.Open) return;
    if ((this.flags & F_BP_PAUSED) === 0) this.socket.resume();
    if ((this.flags & F_IN_LOOP) === 0 && (this.flags & F_IN_DATA) === 0) {
      this.pump();
      if ((this.flags & F_PEER_ENDED) !== 0 && (this.flags & F_PEER_END_HANDLED) === 0) this.peerEnd();
    }
  }

  /** True while reading is paused, by {@link pause} or by backpressure. */
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
    const s = socket as OwnedSocket;
    this.socket = s;
    s[kConn] = this;
    s.on('data', onSocketData);
    s.on('end', onSocketEnd);
    s.on('error', onSocketError);
    s.on('close', onSocketClose);
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
      // Bytes that arrived while the handler opened (TLS early data) are waiting.
      if (this.queue.length > 0) this.pump();
    }
  }

  /** @internal */
  receive(chunk: Buffer): void {
    const ctx = this.ctx;
    ctx.counters.bytesIn += chunk.length;
    this.lastRead = ctx.wheel.now();
    this.flags |= F_GOT_FIRST_BYTE;
    if (this.st !== State.Open && this.st !== State.Handshake) return; // ending: read only to see the peer's FIN
    let q = this.queue;
    if (q === NO_BYTES) {
      q = spareQueue ?? new ByteQueue();
      spareQueue = null;
      this.queue = q;
    }
    q.push(chunk);
    if (this.st === State.Handshake) return; // delivered once open
    const rec = ctx.latency;
    if (rec === null || (++sampledBatches & LATENCY_SAMPLE_MASK) !== 0) this.pump();
    else {
      // The sample spans decoding to the turn's write that takes the replies (flushDirty records it).
      const t0 = performance.now();
      const written = this.pump();
      if ((this.flags & F_DIRTY) !== 0) {
        timed.push(this);
        timedAt.push(t0);
      } else if (written > 0) rec.record((performance.now() - t0) * 1000);
    }
    if (q.length === 0 && this.queue === q) {
      this.queue = NO_BYTES;
      spareQueue = q;
    }
  }

  /**
   * Delivers queued frames and flushes their replies. When replies pass the
   * high-water mark mid-chunk, it flushes and carries on only if the kernel took
   * them; otherwise the rest of the frames wait for `drain`, so one read of many
   * small requests cannot queue unbounded replies.
   */
  private pump(): number {
    let written = 0;
    this.flags |= F_IN_DATA;
    for (;;) {
      this.decodeLoop();
      if ((this.flags & F_OVER_HIGH) === 0) {
        if (this.outBytes > 0 && (this.flags & F_DIRTY) === 0) scheduleFlush(this);
        break;
      }
      written += this.flush();
      if ((this.flags & F_OVER_HIGH) === 0 || (this.flags & F_BP_PAUSED) !== 0 || this.st !== State.Open || this.queue.length === 0) break;
      this.flags &= ~F_OVER_HIGH;
    }
    this.flags &= ~F_IN_DATA;
    return written;
  }

  private decodeLoop(): void {
    if ((this.flags & F_IN_LOOP) !== 0) return;
    this.flags |= F_IN_LOOP;
    const q = this.queue;
    const ctx = this.ctx;
    const h = ctx.handler;
    let frames = 0;
    let needMore = false;
    while (this.st === State.Open && (this.flags & F_USER_PAUSED) === 0 && (this.flags & F_OVER_HIGH) === 0 && q.length > 0) {
      const before = q.length;
      let frame: Buffer | undefined;
      try {
        frame = this.decoder.decode(q);
      } catch (err) {
        this.decodeFailed(err);
        break;
      }
      if (frame === undefined) {
        needMore = true;
        break;
      }
      if (q.length >= before) {
        this.fail('protocol-error', capstanError('ERR_PROTOCOL', `codec ${this.codec.name} returned a frame without consuming input (a codec bug)`));
        break;
      }
      frames++;
      if (h.message !== undefined) {
        try {
          h.message(this, frame);
        } catch (err) {
          this.handlerThrew(err, 'message');
          break;
        }
      }
    }
    ctx.counters.framesIn += frames;
    this.flags &= ~F_IN_LOOP;
    // The frame deadline runs from the read that began the frame still waiting for bytes.
    if (this.partialAt !== 0 && (frames > 0 || q.length === 0)) this.partialAt = 0;
    if (needMore && this.partialAt === 0) this.frameStarted();
  }

  private frameStarted(): void {
    const at = this.lastRead;
    this.partialAt = at;
    const ms = this.ctx.limits.frameTimeoutMs;
    if (ms > 0 && this.st === State.Open) this.ctx.wheel.scheduleBy(this, at + ms);
  }

  private decodeFailed(err: unknown): void {
    if (isCapstanError(err) && err.reason !== undefined) {
      this.fail(err.reason, err);
      return;
    }
    // A decoder must only raise typed errors; anything else is a codec bug, reported as such.
    this.fail('protocol-error', capstanError('ERR_PROTOCOL', `codec ${this.codec.name} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
  }

  private handlerThrew(err: unknown, method: string): void {
    this.ctx.counters.handlerErrors++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.ctx.log.handlerThrew(this, method, error);
    this.fail('handler-error', error);
  }

  /** Records why, then closes gracefully so replies to earlier frames still go out. */
  private fail(reason: CloseReason, error: Error): void {
    this.reason ??= reason;
    this.error ??= error;
    this.queue.clear();
    this.end();
  }

  /** @internal Writes this turn's batch: one socket write, or one cork/uncork for several buffers. Returns the bytes written. */
  flush(): number {
    const bytes = this.outBytes;
    if (bytes === 0) return 0;
    const batch = takeBatch(this);
    if (batch === null) return 0;
    const s = this.socket;
    const ctx = this.ctx;
    const before = s.writableLength;
    if (Array.isArray(batch)) {
      s.cork();
      for (let i = 0; i < batch.length; i++) s.write(batch[i] as Buffer);
      s.uncork();
    } else {
      s.write(batch);
    }
    ctx.counters.bytesOut += bytes;
    const after = s.writableLength;
    this.sockQueued = after;
    if (after > 0) {
      const now = ctx.wheel.now();
      this.lastWrite = now;
      if (before === 0 && ctx.limits.writeTimeoutMs > 0) {
        this.stallSince = now;
        this.stallDone = s.bytesWritten - after;
        ctx.wheel.scheduleBy(this, now + ctx.limits.writeTimeoutMs);
      }
      if (after > ctx.limits.highWaterBytes && (this.flags & F_BP_PAUSED) === 0 && this.st <= State.Open) {
        this.flags |= F_BP_PAUSED;
        this.flags |= F_NEED_DRAIN;
        ctx.counters.backpressurePauses++;
        if ((this.flags & F_DRAIN_LISTENING) === 0) {
          this.flags |= F_DRAIN_LISTENING;
          s.on('drain', onSocketDrain);
        }
        if ((this.flags & F_USER_PAUSED) === 0) s.pause();
        return bytes;
      }
    }
    // Told to wait (send returned false) but the kernel took the batch: below the mark already.
    if ((this.flags & F_NEED_DRAIN) !== 0 && (this.flags & F_BP_PAUSED) === 0 && (this.flags & F_DRAIN_QUEUED) === 0) {
      this.flags |= F_DRAIN_QUEUED;
      process.nextTick(emitDrain, this);
    }
    return bytes;
  }

  /** @internal The socket's queue is empty again. */
  drained(): void {
    this.stallSince = 0;
    this.sockQueued = this.socket.writableLength;
    this.flags &= ~F_OVER_HIGH;
    if ((this.flags & F_BP_PAUSED) !== 0) {
      this.flags &= ~F_BP_PAUSED;
      if ((this.flags & F_USER_PAUSED) === 0 && this.st <= State.Ending) this.socket.resume();
    }
    if ((this.flags & F_NEED_DRAIN) !== 0 && this.st === State.Open) {
      this.flags &= ~F_NEED_DRAIN;
      const h = this.ctx.handler;
      if (h.drain !== undefined) {
        this.flags |= F_IN_DATA;
        try {
          h.drain(this);
        } catch (err) {
          this.handlerThrew(err, 'drain');
        }
        this.flags &= ~F_IN_DATA;
      }
    }
    // Frames that waited for the queue to drain, and then the peer's FIN that came after them.
    if ((this.flags & F_IN_DATA) === 0 && (this.flags & F_IN_LOOP) === 0) {
      if (this.queue.length > 0 && this.st === State.Open && (this.flags & F_USER_PAUSED) === 0) this.pump();
      else this.flush();
      if ((this.flags & F_PEER_ENDED) !== 0 && (this.flags & F_PEER_END_HANDLED) === 0 && this.st === State.Open) this.peerEnd();
    }
  }

  /**
   * @internal The peer sent FIN. Every complete frame received before it is
   * delivered first, in order, even when backpressure is holding some of them
   * (then `drained` finishes the job); only what is left after that can be a
   * last unterminated frame or a truncated one.
   */
  peerEnd(): void {
    if ((this.flags & F_PEER_ENDED) === 0) {
      this.flags |= F_PEER_ENDED;
      if (this.st !== State.Ending) this.flags |= F_PEER_ENDED_FIRST;
    }
    if (this.st === State.Handshake) {
      // The peer gave up before the TLS handshake finished (it rejected our certificate, or never spoke TLS).
      this.destroy('tls-error', capstanError('ERR_TLS_HANDSHAKE_ABORTED', 'the peer closed the connection during the TLS handshake', { reason: 'tls-error' }));
      return;
    }
    if (this.st !== State.Open || (this.flags & F_PEER_END_HANDLED) !== 0) return;
    if ((this.flags & F_USER_PAUSED) !== 0) return; // finished by resume(), after the frames it still holds
    const q = this.queue;
    if (q.length > 0) {
      if ((this.flags & (F_IN_DATA | F_IN_LOOP)) !== 0) return; // inside a pump: it calls back when done
      if ((this.flags & (F_BP_PAUSED | F_OVER_HIGH)) === 0) this.pump();
      if (this.st !== State.Open || (this.flags & F_USER_PAUSED) !== 0) return;
      // Replies to earlier frames are still queued above the mark: drained() calls back.
      if (q.length > 0 && (this.flags & (F_BP_PAUSED | F_OVER_HIGH)) !== 0) return;
    }
    this.flags |= F_PEER_END_HANDLED;
    if (q.length > 0) {
      let last: Buffer | undefined;
      try {
        last = this.decoder.finish?.(q);
      } catch (err) {
        this.decodeFailed(err);
        return;
      }
      if (last !== undefined) {
        this.ctx.counters.framesIn++;
        this.flags |= F_IN_DATA;
        try {
          this.ctx.handler.message?.(this, last);
        } catch (err) {
          this.handlerThrew(err, 'message');
        }
        this.flags &= ~F_IN_DATA;
      } else if (q.length > 0) {
        const left = q.length;
        this.fail('protocol-error', capstanError('ERR_TRUNCATED_FRAME', `peer closed with ${left} bytes of an unfinished ${this.codec.name} frame`, {
          reason: 'protocol-error',
          actual: left,
        }));
        return;
      }
    }
    if (this.st !== State.Open) return;
    const h = this.ctx.handler;
    if (h.end !== undefined) {
      this.flags |= F_IN_DATA;
      try {
        h.end(this);
      } catch (err) {
        this.handlerThrew(err, 'end');
      }
      this.flags &= ~F_IN_DATA;
      this.flush();
    } else {
      this.end();
    }
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
    const wasHandshake = this.st === State.Handshake || (this.flags & F_OPENED) === 0;
    this.st = State.Closed;
    const ctx = this.ctx;
    ctx.wheel.cancel(this);
    this.queue.clear();
    discardBatch(this);
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
      this.flush();
    }
    if (this.st === State.Open) this.ctx.wheel.scheduleBy(this, this.ctx.wheel.now() + quietMs);
  }

  /** @internal Timeouts, checked lazily when the wheel says one may be due (deadlines.ts). */
  onWheelDue(now: number): void {
    checkDeadlines(this, now);
  }

  /** @internal */
  scheduleNext(now: number): void {
    scheduleNextDeadline(this, now);
  }
}
