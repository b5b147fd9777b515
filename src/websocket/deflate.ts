/**
 * permessage-deflate (RFC 7692) for one socket, server or client: what a
 * message becomes on the wire and back. The side only decides which
 * negotiated direction is "out" (see extension-negotiation.ts); everything
 * here is the same for both.
 *
 * ```
 *  send ─► < threshold ───────────────────────────────► frame, RSV1 clear
 *       ├► out: no context takeover ─► deflateRawSync ─► frame, RSV1 set       (no window kept)
 *       └► out: context takeover ────► queue ─► the socket's DeflateRaw (thread pool) ─► frame, RSV1 set
 *                                        └ sends, control frames and the close frame queue behind it
 *
 *  RSV1 message ─► in: no context takeover ─► inflateRawSync (maxOutputLength) ─► message()
 *               └► in: context takeover ────► frames held ─► the socket's InflateRaw ─► message() ─► frames released
 * ```
 *
 * A direction without context takeover keeps no zlib state between messages:
 * one synchronous zlib call per message, whose memory is freed when it
 * returns. A direction with it needs a window that outlives the call, and
 * Node's synchronous path closes its zlib handle after one call
 * (processChunkSync in lib/zlib.js), so it runs on a zlib stream of its own
 * on the thread pool, one job at a time per direction, under the
 * process-wide bounds of deflate-pool.ts. Order is kept both ways: while a
 * message is being inflated no further frame is decoded, and while one is
 * being compressed everything sent after it waits behind it.
 *
 * Each compressed message ends in a sync flush whose last four bytes
 * (00 00 ff ff) are left off the wire and put back before inflating
 * (RFC 7692 §7.2.1, §7.2.2). Inflated bytes are bounded by the message
 * limit: a decompression bomb stops at `maxMessageBytes` (1009), corrupt
 * data closes with 1007 as ws and the Autobahn suite do.
 */
import zlib from 'node:zlib';
import { State, type Connection } from '../connection/connection.js';
import { capstanError } from '../errors.js';
import type { DeflateCounters } from './counters.js';
import type { ResolvedDeflateOptions } from './deflate-options.js';
import { releaseContexts, runJob } from './deflate-pool.js';
import type { DeflateAgreement, DeflateDirection } from './extension-negotiation.js';
import { OP_TEXT, RSV1, unmaskedFrame, type FrameFailure } from './frame.js';
import { isUtf8 } from './utf8.js';

const Z = zlib.constants;
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/**
 * An empty message after a flush: zlib has nothing to write, but the peer
 * needs a block to append the trailer to; one empty stored block's first
 * byte is that (RFC 7692 §7.2.3.6).
 */
const EMPTY_BLOCK = Buffer.from([0x00]);

/** The sync-flushed output of one message without its 00 00 ff ff (RFC 7692 §7.2.1). */
function wireBytes(z: Buffer): Buffer {
  return z.length >= 4 ? z.subarray(0, z.length - 4) : EMPTY_BLOCK;
}

/**
 * A socket's permessage-deflate: the negotiated directions and the endpoint's (or client's) compression settings.
 * @category WebSocket
 */
export interface DeflateSettings {
  /** What this side compresses. */
  readonly out: DeflateDirection;
  /** What this side inflates. */
  readonly in: DeflateDirection;
  /** Messages of fewer bytes go out uncompressed. */
  readonly threshold: number;
  /** zlib compression level (0-9). */
  readonly level: number;
  /** zlib's state size (1-9). */
  readonly memLevel: number;
  /** The negotiated extension, as in the handshake. */
  readonly header: string;
  /**
   * Equal for sockets whose compressed messages are the same bytes (window,
   * level, memLevel, threshold): with `out.noContextTakeover`, a message
   * compressed once ({@link messageFrame}) serves all of them.
   */
  readonly outKey: string;
}

/** Settings from a negotiation and the options it was made under. */
export function deflateSettings(a: DeflateAgreement, o: ResolvedDeflateOptions): DeflateSettings {
  return {
    out: a.out,
    in: a.in,
    threshold: o.threshold,
    level: o.level,
    memLevel: o.memLevel,
    header: a.header,
    outKey: `w${a.out.windowBits}l${o.level}m${o.memLevel}t${o.threshold}`,
  };
}

/** zlib contexts a socket with these settings keeps: one per direction with context takeover. */
export function contextsNeeded(a: DeflateAgreement): number {
  return (a.out.noContextTakeover ? 0 : 1) + (a.in.noContextTakeover ? 0 : 1);
}

function deflateOptions(s: DeflateSettings): zlib.ZlibOptions {
  // 8 becomes 9 (Node does it for DeflateRaw anyway); see extension-negotiation.ts for why that is still within 8.
  return { level: s.level, memLevel: s.memLevel, windowBits: Math.max(9, s.out.windowBits) };
}

/**
 * zlib's one-shot calls write into chunks of `chunkSize` (16 KiB by default)
 * and return a view of the first when it is enough, so a 1 KB message would
 * hold 16 KiB for as long as it lives: until written, or for as long as a
 * handler keeps what it was given. Sized to the message, the chunk is small
 * (and small ones come from Node's shared pool); past 16 KiB it stays 16 KiB,
 * and a longer output is joined into one buffer of its own size.
 */
const MAX_CHUNK = 16 * 1024;

/** One message compressed on its own (no window kept): the bytes that go on the wire. */
export function deflateMessage(plain: Buffer, s: DeflateSettings): Buffer {
  // Room for incompressible input (zlib's deflateBound) and the sync flush's empty block; zlib takes no chunk under 64.
  const chunkSize = Math.min(MAX_CHUNK, Math.max(64, plain.length + (plain.length >> 10) + 32));
  return wireBytes(zlib.deflateRawSync(plain, { ...deflateOptions(s), finishFlush: Z.Z_SYNC_FLUSH, chunkSize }));
}

/**
 * One message inflated on its own (no window kept), at most `max` bytes.
 * @returns the plain bytes, or the failure to close with (1009 over `max`, 1007 corrupt).
 */
export function inflateMessage(wire: Buffer, s: DeflateSettings, max: number): Buffer | FrameFailure {
  try {
    // Text and JSON inflate to two to five times their wire size; more takes further chunks.
    const chunkSize = Math.min(MAX_CHUNK, Math.max(1024, wire.length * 4));
    return zlib.inflateRawSync(Buffer.concat([wire, TRAILER]), { windowBits: s.in.windowBits, finishFlush: Z.Z_SYNC_FLUSH, maxOutputLength: max, chunkSize });
  } catch (err) {
    return inflateFailure(err as NodeJS.ErrnoException, max);
  }
}

function inflateFailure(err: NodeJS.ErrnoException | null, max: number): FrameFailure {
  if (err === null || err.code === 'ERR_BUFFER_TOO_LARGE') {
    const error = capstanError('ERR_WS_MESSAGE_TOO_LARGE', `a compressed message inflated past ${max} bytes (maxMessageBytes): a decompression bomb`, { reason: 'frame-too-large', limit: max });
    return { code: 1009, reason: 'frame-too-large', error };
  }
  const error = capstanError('ERR_WS_INFLATE', `a compressed message could not be inflated: ${err.message}`, { reason: 'invalid-data', cause: err });
  return { code: 1007, reason: 'invalid-data', error };
}

/**
 * The whole frame of one message a server sends to sockets with settings `s`
 * (`null`: no permessage-deflate): compressed with RSV1 set when at or over
 * the threshold. Only for sockets whose `out.noContextTakeover` holds (or
 * without deflate); pub/sub frames a message once per {@link DeflateSettings.outKey}.
 * @category WebSocket
 */
export function messageFrame(data: Buffer | string, isBinary: boolean, s: DeflateSettings | null): Buffer {
  const plain = typeof data === 'string' ? Buffer.from(data) : data;
  const b0 = 0x80 | (isBinary ? 2 : OP_TEXT);
  if (s === null || plain.length < s.threshold) return unmaskedFrame(b0, plain);
  return unmaskedFrame(b0 | RSV1, deflateMessage(plain, s));
}

/** What the socket does with what comes out of its {@link MessageDeflate}. */
export interface DeflateHost {
  /** A whole message, inflated and (text) UTF-8 checked. It may throw: the socket's own message path. */
  deliver(payload: Buffer, op: number): void;
  /** Close with this failure (a bomb, corrupt data, bad UTF-8 after inflating). */
  failed(f: FrameFailure): void;
  /** Everything queued behind a compression went out and the queue is under the high-water mark again. */
  drained(): void;
}

interface Queued {
  b0: number;
  body: Buffer | string;
  bytes: number;
  /** Still to be compressed. */
  compress: boolean;
}

/** The per-socket part: ordering queues and, with context takeover, the zlib streams. */
export class MessageDeflate {
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private compressing = false;
  private needDrain = false;
  private after: Array<() => void> | null = null;
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  private outChunks: Buffer[] = [];
  private inChunks: Buffer[] = [];
  private inBytes = 0;
  /** The limiter slot of the job in flight, freed at once if the socket closes under it. */
  private jobDone: (() => void) | null = null;
  private closed = false;
  private inboundFailed = false;

  constructor(
    private readonly conn: Connection<unknown>,
    /** The socket's encoder: its `next` is the first header byte of the next frame. */
    private readonly encoder: { next: number },
    readonly settings: DeflateSettings,
    private readonly counters: DeflateCounters,
    private readonly maxMessageBytes: number,
    private readonly host: DeflateHost,
    /** zlib contexts reserved for this socket (released on close). */
    private readonly contexts: number,
  ) {}

  /** Bytes sent but still waiting behind a compression. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** True while something waits behind a compression. */
  get busy(): boolean {
    return this.queue.length > 0;
  }

  /**
   * Whether a published message of `bytes` can go to this socket as bytes
   * built once for many sockets (the plain frame, or the compressed one of its
   * {@link DeflateSettings.outKey}): nothing waits behind a compression, and the
   * message is under the threshold or this side keeps no window. Otherwise it
   * must go through {@link send}, compressed on this socket's own stream or
   * queued behind what is pending, so wire order stays call order.
   */
  canShare(bytes: number): boolean {
    return this.queue.length === 0 && (bytes < this.settings.threshold || this.settings.out.noContextTakeover);
  }

  /** Counts a message that went out as shared bytes: `plain` payload bytes, `wire` as compressed (equal when it went uncompressed). */
  countShared(plain: number, wire: number): void {
    this.counters.plainOut += plain;
    this.counters.wireOut += wire;
  }

  /** Sends a data message (`op` text or binary); returns what `Connection.send` would. */
  send(data: Buffer | string, op: number): boolean {
    const s = this.settings;
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const ctr = this.counters;
    ctr.plainOut += n;
    if (n < s.threshold) {
      ctr.wireOut += n;
      return this.frame(0x80 | op, data);
    }
    const plain = typeof data === 'string' ? Buffer.from(data) : data;
    if (s.out.noContextTakeover) {
      const z = deflateMessage(plain, s);
      ctr.wireOut += z.length;
      return this.frame(0x80 | RSV1 | op, z);
    }
    this.queue.push({ b0: 0x80 | RSV1 | op, body: plain, bytes: n, compress: true });
    this.queuedBytes += n;
    this.pump();
    return this.verdict();
  }

  /** Sends one frame as it is (a control frame, an uncompressed message), behind anything still being compressed. */
  frame(b0: number, body: Buffer | string): boolean {
    if (this.queue.length === 0) {
      this.encoder.next = b0;
      return this.conn.send(body);
    }
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.queue.push({ b0, body, bytes, compress: false });
    this.queuedBytes += bytes;
    return this.verdict();
  }

  /** Runs `fn` once everything queued has gone to the connection (at once when nothing waits). */
  afterOutput(fn: () => void): void {
    if (this.queue.length === 0) return fn();
    (this.after ??= []).push(fn);
  }

  /** A data message arrived (fragments joined), compressed (RSV1) or not. */
  receive(wire: Buffer, op: number, compressed: boolean): void {
    this.counters.wireIn += wire.length;
    if (!compressed) {
      this.counters.plainIn += wire.length;
      return this.host.deliver(wire, op);
    }
    const s = this.settings;
    if (s.in.noContextTakeover) {
      const plain = inflateMessage(wire, s, this.maxMessageBytes);
      if (!Buffer.isBuffer(plain)) return this.host.failed(plain);
      return this.inflated(plain, op, false);
    }
    // Nothing after this message is decoded until it is delivered.
    this.conn.holdFrames(true);
    runJob((done) => {
      if (this.closed) return done();
      this.jobDone = done;
      const inf = (this.inflater ??= this.makeInflater());
      this.inChunks = [];
      this.inBytes = 0;
      inf.write(Buffer.concat([wire, TRAILER]), () => {
        done();
        this.jobDone = null;
        if (this.closed || this.inboundFailed) return;
        // The message ended the peer's deflate stream (BFINAL): 'end' came first, and the next message gets a new inflater.
        if (this.inflater !== inf) inf.close();
        const chunks = this.inChunks;
        this.inChunks = [];
        const plain = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.inBytes);
        this.inflated(plain, op, true);
        if (!this.closed) this.conn.holdFrames(false);
      });
    });
  }

  /** The socket is gone: zlib streams freed, contexts released, nothing more runs. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.jobDone?.();
    this.jobDone = null;
    this.deflater?.close();
    this.inflater?.close();
    this.deflater = this.inflater = null;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.after = null;
    releaseContexts(this.contexts);
  }

  private inflated(plain: Buffer, op: number, later: boolean): void {
    this.counters.plainIn += plain.length;
    if (op === OP_TEXT && !isUtf8(plain)) {
      const error = capstanError('ERR_WS_INVALID_UTF8', 'a text message that is not valid UTF-8', { reason: 'invalid-data' });
      return this.host.failed({ code: 1007, reason: 'invalid-data', error });
    }
    if (!later) return this.host.deliver(plain, op);
    try {
      this.host.deliver(plain, op);
    } catch (err) {
      // Off the decode loop: the connection's own handling of a throwing handler, as the loop would have done.
      this.conn.handlerThrew(err, 'message');
    }
  }

  private failInbound(f: FrameFailure): void {
    this.inboundFailed = true;
    this.inflater?.close();
    this.inflater = null;
    this.jobDone?.();
    this.jobDone = null;
    if (!this.closed) this.host.failed(f);
  }

  private makeInflater(): zlib.InflateRaw {
    const inf = zlib.createInflateRaw({ windowBits: this.settings.in.windowBits, flush: Z.Z_SYNC_FLUSH });
    const max = this.maxMessageBytes;
    inf.on('data', (chunk: Buffer) => {
      if (this.inflater !== inf) return;
      this.inBytes += chunk.length;
      // Output comes a chunk (16 KiB) at a time, so a bomb holds at most one chunk over the limit.
      if (this.inBytes > max) return this.failInbound(inflateFailure(null, max));
      this.inChunks.push(chunk);
    });
    inf.on('error', (err: NodeJS.ErrnoException) => {
      if (this.inflater === inf) this.failInbound(inflateFailure(err, max));
    });
    // A message that ended the peer's deflate stream (BFINAL set): the next one starts a new stream.
    inf.on('end', () => {
      if (this.inflater === inf) this.inflater = null;
    });
    return inf;
  }

  private makeDeflater(): zlib.DeflateRaw {
    const d = zlib.createDeflateRaw({ ...deflateOptions(this.settings), flush: Z.Z_SYNC_FLUSH });
    d.on('data', (chunk: Buffer) => this.outChunks.push(chunk));
    d.on('error', (err: Error) => {
      if (this.deflater === d && !this.closed) this.conn.destroy('error', err);
    });
    return d;
  }

  /** Moves the queue to the connection up to the next message still to be compressed, and starts compressing it. */
  private pump(): void {
    if (this.compressing || this.closed) return;
    const q = this.queue;
    const c = this.conn;
    let took = true;
    while (q.length > 0) {
      const item = q[0] as Queued;
      if (item.compress) return this.compress(item);
      q.shift();
      this.queuedBytes -= item.bytes;
      if (c.st !== State.Open) continue;
      this.encoder.next = item.b0;
      took = c.send(item.body);
    }
    const after = this.after;
    this.after = null;
    if (after !== null) for (const fn of after) fn();
    // A send that returned false has the connection call drain itself once its queue empties.
    if (this.needDrain && took && c.st === State.Open) {
      this.needDrain = false;
      this.host.drained();
    }
  }

  private compress(item: Queued): void {
    this.compressing = true;
    runJob((done) => {
      if (this.closed) return done();
      this.jobDone = done;
      const d = (this.deflater ??= this.makeDeflater());
      d.write(item.body, () => {
        done();
        this.jobDone = null;
        if (this.closed) return;
        const chunks = this.outChunks;
        this.outChunks = [];
        const wire = wireBytes(Buffer.concat(chunks));
        this.counters.wireOut += wire.length;
        this.queuedBytes -= item.bytes - wire.length;
        item.body = wire;
        item.bytes = wire.length;
        item.compress = false;
        this.compressing = false;
        this.pump();
      });
    });
  }

  /** What a send returns while things wait behind a compression; over the hard cap, the connection is closed. */
  private verdict(): boolean {
    const c = this.conn;
    const limits = c.ctx.limits;
    const buffered = this.queuedBytes + c.bufferedBytes;
    if (buffered > limits.maxBufferedBytes) {
      c.destroy(
        'slow-consumer',
        capstanError('ERR_SLOW_CONSUMER', `outbound queue of ${buffered} bytes (with messages waiting to be compressed) exceeds maxBufferedBytes ${limits.maxBufferedBytes}: the peer reads slower than the handler sends`, {
          reason: 'slow-consumer',
          limit: limits.maxBufferedBytes,
          actual: buffered,
        }),
      );
      return false;
    }
    if (buffered <= limits.highWaterBytes) return true;
    this.needDrain = true;
    return false;
  }
}
