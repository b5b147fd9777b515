/**
 * Delimiter framing: frames separated by a byte sequence (Netty's
 * DelimiterBasedFrameDecoder), and its common case, text lines.
 *
 * ```
 *  delimited({ delimiter: '\0' })           lines()
 *  ┌─────────┬───┬─────────┬───┐           ┌────────┬────┬────────┬────┬────┐
 *  │ frame 1 │ D │ frame 2 │ D │           │ line 1 │ CR │ LF     │ line 2 │ LF │ …
 *  └─────────┴───┴─────────┴───┘           └────────┴────┴────┘   └────────┴────┘
 *   D: any byte sequence, default CRLF      in: LF or CRLF; out: always CRLF
 * ```
 *
 * A line ends at LF; a CR right before the LF belongs to the line end. Any other
 * CR (a "bare" CR) is line content, both ways: the decoder hands it over and the
 * encoder sends it, so every line a peer sends can be echoed back unchanged.
 * Protocols that forbid bare CRs (SMTP, RFC 5321 §2.3.8) set `bareCR: 'reject'`:
 * the decoder then closes with `protocol-error` (`ERR_BARE_CR`) at the first one,
 * and the encoder refuses lines that contain one.
 *
 * The decoder is a small state machine over the connection's {@link ByteQueue}:
 *
 * ```
 *            delimiter within maxFrameBytes ─► frame
 *   SCAN ──┤ no delimiter yet, fits ─────────► wait (the scan resumes where it stopped)
 *            too long ─► 'close':   throw ERR_FRAME_TOO_LARGE (reason frame-too-large)
 *                        'discard': DROP ─► bytes up to and including the next
 *                                           delimiter are dropped, frameDiscarded(bytes)
 *                                           reported, then SCAN again
 * ```
 *
 * The bound is checked while scanning, so at most `maxFrameBytes` plus one read
 * is ever buffered for a frame. A frame that lies in one read is a zero-copy view.
 */
import { capstanError } from '../errors.js';
import { chunkIndexOf, type ByteQueue } from '../buffers/byte-queue.js';
import { DEFAULT_MAX_FRAME_BYTES, type Codec, type Decoder, type DecoderEvents, type Encoder, type FrameSink } from './codec.js';
import { checkInteger, checkKeys, frameTooLarge } from './frame-errors.js';

/**
 * What happens to a frame longer than `maxFrameBytes`: `close` the connection
 * (`frame-too-large`), or `discard` the frame up to its delimiter and go on.
 * @category Codecs
 */
export type OversizePolicy = 'close' | 'discard';

/**
 * Options of {@link delimited}.
 * @category Codecs
 */
export interface DelimitedOptions {
  /** The byte sequence between frames (a string is UTF-8 encoded; 1–64 bytes). Default `'\r\n'`. */
  delimiter?: Buffer | string;
  /**
   * Frames include their delimiter, both ways: decoded frames end with it, and
   * frames to send must end with it (they are sent as they are). Default `false`.
   */
  keepDelimiter?: boolean;
  /** Largest frame accepted, in bytes, not counting the delimiter. Default 1 MiB. */
  maxFrameBytes?: number;
  /**
   * An oversize frame closes the connection (`'close'`, reason `frame-too-large`),
   * or is dropped up to its delimiter and reported to `DecoderEvents.frameDiscarded`
   * while later frames keep flowing (`'discard'`). Default `'close'`.
   */
  onOversize?: OversizePolicy;
  /**
   * When the peer ends with an unterminated frame pending, hand it over as a last
   * frame (`true`) or report it as a truncated frame, closing with `protocol-error`
   * (`false`). Default `false`: in a delimited protocol a missing delimiter
   * usually means a cut-off message.
   */
  emitUnterminated?: boolean;
  /**
   * Reject (`ERR_INVALID_FRAME`) a frame to send that contains the delimiter, so a
   * value taken from one peer cannot smuggle extra frames to another (the
   * "CRLF injection" bug). Costs one native scan per frame. Default `true`.
   */
  checkOutbound?: boolean;
}

/**
 * Options of {@link lines}.
 * @category Codecs
 */
export interface LinesOptions {
  /** Longest line accepted, in bytes, not counting CR LF. Default 1 MiB. */
  maxLineBytes?: number;
  /** Same as `maxLineBytes` (the name every codec shares); give one of them. */
  maxFrameBytes?: number;
  /** What happens to a longer line; see {@link DelimitedOptions.onOversize}. Default `'close'`. */
  onOversize?: OversizePolicy;
  /**
   * When the peer ends after a last line without LF, hand it over as a final
   * line (`true`) or close with `protocol-error` (`false`). Default `true`: text
   * files and many clients omit the final newline.
   */
  emitUnterminated?: boolean;
  /**
   * Reject (`ERR_INVALID_FRAME`) a line to send that contains LF (or, with
   * `bareCR: 'reject'`, CR), so a value taken from one peer cannot inject extra
   * lines (CRLF injection). Default `true`.
   */
  checkOutbound?: boolean;
  /**
   * A CR that is not right before LF: line content (`'content'`, the default,
   * as Netty's LineBasedFrameDecoder treats it), or a protocol error
   * (`'reject'`: received, the connection closes with `protocol-error` and
   * `ERR_BARE_CR`; sent, `send` throws `ERR_INVALID_FRAME`).
   */
  bareCR?: 'content' | 'reject';
}

const CR = 13;
const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');
const MAX_DELIMITER_BYTES = 64;
const DELIMITED_KEYS = ['delimiter', 'keepDelimiter', 'maxFrameBytes', 'onOversize', 'emitUnterminated', 'checkOutbound'];
const LINES_KEYS = ['maxLineBytes', 'maxFrameBytes', 'onOversize', 'emitUnterminated', 'checkOutbound', 'bareCR'];
const CR_BYTE = Buffer.of(CR);

/** Everything a decoder and encoder need, fixed when the codec is built. */
interface Framing {
  readonly name: string;
  /** What the decoder splits at. */
  readonly delimiter: Buffer;
  /** What the encoder appends. */
  readonly terminator: Buffer;
  /** Lines: a CR right before the LF belongs to the delimiter. */
  readonly stripCR: boolean;
  /** Lines: any other CR is a protocol error (received) or refused (sent). */
  readonly rejectBareCR: boolean;
  readonly keepDelimiter: boolean;
  readonly max: number;
  readonly discard: boolean;
  readonly emitUnterminated: boolean;
  readonly checkOutbound: boolean;
}

/**
 * Frames separated by `delimiter` (default CRLF).
 *
 * ```ts
 * listen({ port: 7000, codec: delimited({ delimiter: '\0', maxFrameBytes: 64 * 1024 }), handler });
 * ```
 *
 * Frames are byte-exact (no CR handling); with `keepDelimiter` they include
 * it both ways. Name `crlf` for the default delimiter, else `delimited`.
 * @throws CapstanError `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` for a bad option.
 * @category Codecs
 */
export function delimited(options: DelimitedOptions = {}): Codec {
  checkKeys('delimited', options, DELIMITED_KEYS);
  const delimiter = toDelimiter(options.delimiter ?? CRLF);
  const keepDelimiter = checkBoolean('delimited', 'keepDelimiter', options.keepDelimiter, false);
  return build(
    {
      name: delimiter.equals(CRLF) ? 'crlf' : 'delimited',
      delimiter,
      terminator: keepDelimiter ? Buffer.alloc(0) : delimiter,
      stripCR: false,
      rejectBareCR: false,
      keepDelimiter,
      max: checkInteger('delimited', 'maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 1),
      discard: checkPolicy('delimited', options.onOversize),
      emitUnterminated: checkBoolean('delimited', 'emitUnterminated', options.emitUnterminated, false),
      checkOutbound: checkBoolean('delimited', 'checkOutbound', options.checkOutbound, true),
    },
    (maxFrameBytes) => delimited({ ...options, maxFrameBytes }),
  );
}

/**
 * Text lines: split at LF, with a CR before it removed (so both LF and CRLF
 * peers work); sent lines get CRLF appended. Frames never contain the line end.
 *
 * ```ts
 * listen({ port: 7000, codec: lines({ maxLineBytes: 8192 }), handler: {
 *   message(conn, line) { conn.send(line); },
 * } });
 * ```
 *
 * A CR not right before LF is line content unless `bareCR: 'reject'`. Name `line`.
 * @throws CapstanError `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` for a bad option.
 * @category Codecs
 */
export function lines(options: LinesOptions = {}): Codec {
  checkKeys('lines', options, LINES_KEYS);
  if (options.maxLineBytes !== undefined && options.maxFrameBytes !== undefined) {
    throw capstanError('ERR_INVALID_OPTION', 'lines: give maxLineBytes or maxFrameBytes, not both', { path: 'maxFrameBytes' });
  }
  const maxKey = options.maxFrameBytes !== undefined ? 'maxFrameBytes' : 'maxLineBytes';
  return build(
    {
      name: 'line',
      delimiter: LF,
      terminator: CRLF,
      stripCR: true,
      rejectBareCR: checkBareCR(options.bareCR),
      keepDelimiter: false,
      max: checkInteger('lines', maxKey, options.maxFrameBytes ?? options.maxLineBytes ?? DEFAULT_MAX_FRAME_BYTES, 1),
      discard: checkPolicy('lines', options.onOversize),
      emitUnterminated: checkBoolean('lines', 'emitUnterminated', options.emitUnterminated, true),
      checkOutbound: checkBoolean('lines', 'checkOutbound', options.checkOutbound, true),
    },
    (maxFrameBytes) => lines({ ...options, maxFrameBytes: undefined, maxLineBytes: maxFrameBytes }),
  );
}

function build(f: Framing, withMax: (maxFrameBytes: number) => Codec): Codec {
  const encoder = new DelimiterEncoder(f);
  return {
    name: f.name,
    maxFrameBytes: f.max,
    decoder: (events) => new DelimiterDecoder(f, events),
    encoder: () => encoder,
    withMaxFrameBytes: withMax,
  };
}

/** Per-connection decoder: two numbers of state besides the shared framing. */
class DelimiterDecoder implements Decoder {
  /** Queue index before which no delimiter can start: the next scan begins here. */
  private scanned = 0;
  /** Bytes dropped so far of the oversize frame being discarded; -1 while not discarding. */
  private dropped = -1;

  constructor(
    private readonly f: Framing,
    private readonly events: DecoderEvents,
  ) {}

  decode(queue: ByteQueue): Buffer | undefined {
    const f = this.f;
    const dlen = f.delimiter.length;
    for (;;) {
      if (this.dropped >= 0 && !this.dropThroughDelimiter(queue)) return undefined;
      if (queue.length === 0) return undefined;
      const at = queue.indexOf(f.delimiter, this.scanned);
      if (at === -1) {
        this.scanned = this.earliestStart(queue);
        const least = this.leastContent(queue);
        if (least <= f.max) return undefined;
        if (!f.discard) throw frameTooLarge(f.name, least, f.max);
        this.dropped = 0;
        continue;
      }
      this.scanned = 0;
      const content = f.stripCR && at > 0 && queue.byteAt(at - 1) === CR ? at - 1 : at;
      if (content > f.max) {
        if (!f.discard) throw frameTooLarge(f.name, content, f.max);
        queue.skip(at + dlen);
        this.events.frameDiscarded(at + dlen);
        continue;
      }
      if (f.keepDelimiter) return queue.take(at + dlen);
      if (f.rejectBareCR) checkNoCR(queue, content);
      const frame = queue.take(content);
      queue.skip(at + dlen - content);
      return frame;
    }
  }

  /**
   * At peer EOF with bytes pending: the unterminated tail, when `emitUnterminated`
   * and it fits; otherwise `undefined` (the connection reports a truncated frame).
   * In discard mode an oversize tail is dropped and reported instead.
   */
  finish(queue: ByteQueue): Buffer | undefined {
    const f = this.f;
    const n = queue.length;
    if (n === 0) return undefined;
    const content = f.stripCR && queue.byteAt(n - 1) === CR ? n - 1 : n;
    if (this.dropped >= 0 || (f.discard && content > f.max)) {
      queue.skip(n);
      this.events.frameDiscarded(Math.max(this.dropped, 0) + n);
      this.dropped = -1;
      return undefined;
    }
    if (!f.emitUnterminated || content > f.max) return undefined;
    if (f.rejectBareCR) checkNoCR(queue, content);
    const frame = queue.take(content);
    queue.skip(queue.length);
    this.scanned = 0;
    return frame;
  }

  /** Drops pending bytes of the frame being discarded; true once its delimiter is gone too. */
  private dropThroughDelimiter(queue: ByteQueue): boolean {
    const dlen = this.f.delimiter.length;
    const at = queue.indexOf(this.f.delimiter, this.scanned);
    this.scanned = 0;
    if (at === -1) {
      // Keep a tail that may be the start of a delimiter split across reads, and at
      // least one byte, so that a peer EOF still calls finish and the drop is reported.
      const n = Math.min(this.earliestStart(queue), queue.length - 1);
      queue.skip(n);
      this.dropped += n;
      return false;
    }
    queue.skip(at + dlen);
    this.events.frameDiscarded(this.dropped + at + dlen);
    this.dropped = -1;
    return true;
  }

  /**
   * The first index where a delimiter could still start, given that a full match
   * was searched for from `scanned`: a later index whose tail is a prefix of the
   * delimiter, or the queue length.
   */
  private earliestStart(queue: ByteQueue): number {
    const d = this.f.delimiter;
    const len = queue.length;
    for (let p = Math.max(this.scanned, len - d.length + 1); p < len; p++) {
      let j = 0;
      while (p + j < len && queue.byteAt(p + j) === d[j]) j++;
      if (p + j === len) return p;
    }
    return len;
  }

  /** The fewest content bytes the pending, unterminated frame can turn out to have. */
  private leastContent(queue: ByteQueue): number {
    const least = this.scanned;
    // A trailing CR may be the start of a CRLF line end.
    if (this.f.stripCR && least > 0 && least === queue.length && queue.byteAt(least - 1) === CR) return least - 1;
    return least;
  }
}

/** Shared by every connection of the codec: it keeps no state. */
class DelimiterEncoder implements Encoder {
  /**
   * For a delimiter that overlaps itself (`aa`, `aba`), the tail lengths k, longest
   * first, for which a frame ending in the delimiter's first k bytes forms a
   * delimiter with the one appended: those where the delimiter's last
   * `length - k` bytes repeat its first ones. Empty for CRLF and most others.
   */
  private readonly tails: number[] = [];

  constructor(private readonly f: Framing) {
    const d = f.delimiter;
    for (let border = 1; border < d.length; border++) {
      if (d.subarray(0, border).equals(d.subarray(d.length - border))) this.tails.push(d.length - border);
    }
  }

  encode(frame: Buffer, out: FrameSink): void {
    const f = this.f;
    if (f.keepDelimiter) {
      const body = frame.length - f.delimiter.length;
      if (body < 0 || !frame.subarray(body).equals(f.delimiter)) {
        throw capstanError('ERR_INVALID_FRAME', `${f.name}: with keepDelimiter, a frame to send must end with its delimiter`, {
          actual: frame.length,
        });
      }
      if (f.checkOutbound) this.check(frame.subarray(0, body));
      out.append(frame);
      return;
    }
    if (f.checkOutbound) this.check(frame);
    const n = frame.length;
    const t = f.terminator;
    if (n > out.copyLimit) {
      out.append(frame);
      out.append(t);
      return;
    }
    // Frame and delimiter side by side in one reservation.
    const at = out.reserve(n + t.length);
    const buf = out.buf;
    buf.set(frame, at);
    for (let i = 0; i < t.length; i++) buf[at + n + i] = t[i] as number;
  }

  private check(body: Buffer): void {
    const f = this.f;
    let at: number;
    if (f.stripCR) {
      at = body.indexOf(LF[0] as number);
      if (f.rejectBareCR) {
        const cr = body.indexOf(CR);
        if (cr !== -1 && (at === -1 || cr < at)) at = cr;
      }
    } else {
      at = body.length === 0 ? -1 : chunkIndexOf(body, f.delimiter, 0);
      if (at === -1) at = this.overlapAtEnd(body);
    }
    if (at !== -1) {
      throw capstanError(
        'ERR_INVALID_FRAME',
        `${f.name}: a frame to send contains the ${f.stripCR ? (f.rejectBareCR ? 'line end (CR or LF)' : 'line end (LF)') : 'delimiter'} at byte ${at}; ` +
          'it would reach the peer as more than one frame (escape it, or set checkOutbound: false if that is intended)',
        { actual: at },
      );
    }
  }

  /** Where `body + delimiter` shows the delimiter before the end (`x` + `a` + `aa` decodes as `x`), else -1. */
  private overlapAtEnd(body: Buffer): number {
    const d = this.f.delimiter;
    for (const k of this.tails) {
      const from = body.length - k;
      if (from < 0) continue;
      let j = 0;
      while (j < k && body[from + j] === d[j]) j++;
      if (j === k) return from;
    }
    return -1;
  }
}

function toDelimiter(value: unknown): Buffer {
  const buf = typeof value === 'string' ? Buffer.from(value) : Buffer.isBuffer(value) ? value : null;
  if (buf === null || buf.length === 0 || buf.length > MAX_DELIMITER_BYTES) {
    throw capstanError('ERR_INVALID_OPTION', `delimited: option delimiter must be a non-empty string or Buffer of at most ${MAX_DELIMITER_BYTES} bytes`, {
      path: 'delimiter',
      actual: buf === null ? value : buf.length,
    });
  }
  // A private copy: the caller may reuse its buffer.
  return Buffer.from(buf);
}

function checkBoolean(codec: string, key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw capstanError('ERR_INVALID_OPTION', `${codec}: option ${key} must be a boolean, got ${JSON.stringify(value)}`, { path: key, actual: value });
  }
  return value;
}

/** With `bareCR: 'reject'`: the first `content` bytes of the queue hold no CR. */
function checkNoCR(queue: ByteQueue, content: number): void {
  const cr = queue.indexOf(CR_BYTE, 0);
  if (cr !== -1 && cr < content) {
    throw capstanError('ERR_BARE_CR', `line: a CR not followed by LF at byte ${cr} of a line (bareCR: 'reject')`, { reason: 'protocol-error', actual: cr });
  }
}

function checkBareCR(value: unknown): boolean {
  if (value === undefined || value === 'content') return false;
  if (value === 'reject') return true;
  throw capstanError('ERR_INVALID_OPTION', `lines: option bareCR must be 'content' or 'reject', got ${JSON.stringify(value)}`, { path: 'bareCR', actual: value });
}

function checkPolicy(codec: string, value: unknown): boolean {
  if (value === undefined || value === 'close') return false;
  if (value === 'discard') return true;
  throw capstanError('ERR_INVALID_OPTION', `${codec}: option onOversize must be 'close' or 'discard', got ${JSON.stringify(value)}`, {
    path: 'onOversize',
    actual: value,
  });
}
