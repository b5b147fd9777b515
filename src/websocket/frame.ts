/**
 * RFC 6455 frames: the decoder that turns received bytes into whole messages
 * and control frames, and the encoder that frames what we send.
 *
 * ```
 *   0               1               2               3
 *   0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
 *  +-+-+-+-+-------+-+-------------+-------------------------------+
 *  |F|R|R|R| opcode|M| length 0-125| 126: 16-bit length follows    |
 *  |I|S|S|S|  (4)  |A| 126, 127    | 127: 64-bit length follows    |
 *  |N|1|2|3|       |S|             |                               |
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *  |   masking key (4, client → server only)  |   payload …        |
 *  +------------------------------------------+--------------------+
 * ```
 *
 * The decoder follows the codec contract (`decode(queue) → Buffer |
 * undefined`): it returns a data message once whole (fragments joined) and
 * every control frame as it comes, and says which in `opcode`. Every rule is
 * checked from the header, before a payload byte is buffered; a broken rule is
 * not thrown (the connection must still send a close frame) but reported in
 * `failure` with the close code, and the rest of the input is dropped.
 */
import type { ByteQueue } from '../buffers/byte-queue.js';
import type { Decoder, Encoder, FrameSink } from '../codecs/codec.js';
import type { CloseReason } from '../connection/close-reason.js';
import { capstanError, type CapstanError, type ErrorCode } from '../errors.js';
import { unmaskInPlace } from './mask.js';
import { isUtf8, Utf8Stream } from './utf8.js';

export const OP_CONTINUATION = 0;
export const OP_TEXT = 1;
export const OP_BINARY = 2;
export const OP_CLOSE = 8;
export const OP_PING = 9;
export const OP_PONG = 10;
/** Not an opcode on the wire: `decode` returned because a rule was broken (see `failure`). */
export const OP_FAILED = -1;

/**
 * Close codes (RFC 6455 §7.4.1), by name: what `close` handlers report and
 * `ws.close(code)` sends. Applications may also send 3000 to 4999.
 * @category WebSocket
 */
export const CloseCode = {
  /** The purpose of the connection is fulfilled: `close()` without a code sends it. */
  normal: 1000,
  /** The endpoint is going away: a server shutting down (Capstan's drain sends it) or a page left. */
  goingAway: 1001,
  /** The peer broke the protocol (a bad frame, a bad close code). */
  protocolError: 1002,
  /** A message of a type the endpoint cannot take (text where only binary is, or the reverse). */
  unsupportedData: 1003,
  /** Never sent: reported when the peer's close frame had no code. */
  noStatus: 1005,
  /** Never sent: reported when the connection ended without a close frame. */
  abnormal: 1006,
  /** A text message (or close reason) that is not valid UTF-8. */
  invalidData: 1007,
  /** A message that breaks the endpoint's policy, when no other code fits. */
  policyViolation: 1008,
  /** A message over `maxMessageBytes` or in more than `maxFragments` frames. */
  messageTooBig: 1009,
  /** Client only: the server did not negotiate an extension the client requires. */
  mandatoryExtension: 1010,
  /** The endpoint hit an unexpected condition: a handler threw. */
  internalError: 1011,
} as const;

/** A code a peer may send in a close frame (and we may send through `close(code)`). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Bounds on what a peer may send, with safe defaults. */
export interface FrameLimits {
  /** Bytes of one message, all fragments together (and after inflating, with permessage-deflate). Default 1 MiB. */
  maxMessageBytes: number;
  /** Frames of one fragmented message. Default 1,024. */
  maxFragments: number;
}

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({ maxMessageBytes: 1024 * 1024, maxFragments: 1024 });

/** Why the decoder stopped: the close code to send, the reason to close with, and the error. */
export interface FrameFailure {
  readonly code: number;
  readonly reason: CloseReason;
  readonly error: CapstanError;
}

function failure(code: number, reason: CloseReason, err: ErrorCode, message: string, limit?: number, actual?: number): FrameFailure {
  return { code, reason, error: capstanError(err, message, { reason, limit, actual }) };
}

const EMPTY = Buffer.alloc(0);
const TWO_32 = 2 ** 32;

/** Decodes frames sent by a client (`masked: true`) or by a server (`masked: false`). */
export class FrameDecoder implements Decoder {
  /** What the buffer last returned is: OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG or OP_FAILED. */
  opcode = 0;
  /** RSV1 of the message last returned (permessage-deflate: compressed). */
  compressed = false;
  /** Set with OP_FAILED. */
  failure: FrameFailure | null = null;
  /** The RSV bits the peer may set: 0x40 (RSV1) once permessage-deflate is negotiated. */
  rsvAllowed = 0;

  private fragOpcode = 0;
  private fragCompressed = false;
  private fragments: Buffer[] | null = null;
  private fragBytes = 0;
  /** Frames of the fragmented message so far, empty ones too (they add no bytes, so only this bounds them). */
  private fragCount = 0;
  private utf8: Utf8Stream | null = null;

  constructor(
    private readonly limits: FrameLimits,
    /** Frames must be masked (a server decoding a client) or must not be (a client). */
    private readonly masked: boolean,
  ) {}

  decode(q: ByteQueue): Buffer | undefined {
    for (;;) {
      const avail = q.length;
      if (avail < 2) return undefined;
      const b0 = q.byteAt(0);
      const b1 = q.byteAt(1);
      const op = b0 & 0x0f;
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (avail < 4) return undefined;
        len = q.readUInt(2, 2, false);
        head = 4;
      } else if (len === 127) {
        if (avail < 10) return undefined;
        const hi = q.readUInt(2, 4, false);
        if (hi >= 0x80000000) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'a 64-bit frame length with the top bit set'));
        len = hi * TWO_32 + q.readUInt(6, 4, false);
        head = 10;
      }
      const rsv = b0 & 0x70;
      if ((rsv & ~this.rsvAllowed) !== 0) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', `RSV bits 0x${rsv.toString(16)} set without an extension that defines them`));
      if (((b1 & 0x80) !== 0) !== this.masked) {
        return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', this.masked ? 'an unmasked frame from a client' : 'a masked frame from a server'));
      }
      const fin = (b0 & 0x80) !== 0;
      if (op >= 8) {
        if (op > OP_PONG) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', `reserved control opcode ${op}`));
        if (!fin) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'a fragmented control frame'));
        if (len > 125) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', `a control frame of ${len} bytes (at most 125)`));
        if (rsv !== 0) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'RSV1 on a control frame'));
      } else if (op === OP_CONTINUATION) {
        if (this.fragments === null) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'a continuation frame with no message to continue'));
        if (rsv !== 0) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'RSV1 on a continuation frame'));
      } else if (op <= OP_BINARY) {
        if (this.fragments !== null) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'a new message began before the fragmented one ended'));
      } else {
        return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', `reserved data opcode ${op}`));
      }
      if (op < 8) {
        const max = this.limits.maxMessageBytes;
        if (this.fragBytes + len > max) {
          return this.fail(q, failure(1009, 'frame-too-large', 'ERR_WS_MESSAGE_TOO_LARGE', `a message of more than ${max} bytes (maxMessageBytes)`, max, this.fragBytes + len));
        }
      }
      const maskAt = head;
      if (this.masked) head += 4;
      if (avail < head + len) return undefined;
      let payload: Buffer;
      if (this.masked) {
        const k0 = q.byteAt(maskAt);
        const k1 = q.byteAt(maskAt + 1);
        const k2 = q.byteAt(maskAt + 2);
        const k3 = q.byteAt(maskAt + 3);
        payload = len === 0 ? (q.skip(head), EMPTY) : q.takeAfter(head, len);
        if (len > 0) unmaskInPlace(payload, 0, len, k0, k1, k2, k3);
      } else {
        payload = len === 0 ? (q.skip(head), EMPTY) : q.takeAfter(head, len);
      }
      if (op >= 8) {
        if (op === OP_CLOSE) {
          if (len === 1) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', 'a close frame with a 1-byte body'));
          if (len >= 2) {
            const code = (payload[0] as number) * 256 + (payload[1] as number);
            if (!isValidCloseCode(code)) return this.fail(q, failure(1002, 'protocol-error', 'ERR_WS_PROTOCOL', `invalid close code ${code}`, undefined, code));
            if (len > 2 && !isUtf8(payload.subarray(2))) return this.fail(q, failure(1007, 'invalid-data', 'ERR_WS_INVALID_UTF8', 'a close reason that is not valid UTF-8'));
          }
        }
        this.opcode = op;
        this.compressed = false;
        return payload;
      }
      const compressed = op !== OP_CONTINUATION ? (rsv & 0x40) !== 0 : this.fragCompressed;
      if (fin && this.fragments === null) {
        // The common case: a whole message in one frame.
        if (op === OP_TEXT && !compressed && !isUtf8(payload)) return this.fail(q, failure(1007, 'invalid-data', 'ERR_WS_INVALID_UTF8', 'a text message that is not valid UTF-8'));
        this.opcode = op;
        this.compressed = compressed;
        return payload;
      }
      if (this.fragments === null) {
        this.fragments = [];
        this.fragCount = 0;
        this.fragOpcode = op;
        this.fragCompressed = compressed;
        if (op === OP_TEXT && !compressed) (this.utf8 ??= new Utf8Stream()).reset();
      } else if (this.fragCount >= this.limits.maxFragments) {
        const max = this.limits.maxFragments;
        return this.fail(q, failure(1009, 'frame-too-large', 'ERR_WS_MESSAGE_TOO_LARGE', `a message in more than ${max} fragments (maxFragments)`, max, this.fragCount + 1));
      }
      this.fragCount++;
      if (this.fragOpcode === OP_TEXT && !this.fragCompressed) {
        // Fail on the fragment that holds the first bad byte, not at the end of the message.
        const u = this.utf8 as Utf8Stream;
        if (u.push(payload) >= 0 || (fin && !u.complete)) return this.fail(q, failure(1007, 'invalid-data', 'ERR_WS_INVALID_UTF8', 'a text message that is not valid UTF-8'));
      }
      if (len > 0) this.fragments.push(payload);
      this.fragBytes += len;
      if (!fin) continue;
      const parts = this.fragments;
      const total = this.fragBytes;
      this.fragments = null;
      this.fragBytes = 0;
      this.opcode = this.fragOpcode;
      this.compressed = this.fragCompressed;
      return parts.length === 1 ? (parts[0] as Buffer) : parts.length === 0 ? EMPTY : Buffer.concat(parts, total);
    }
  }

  /** The peer's close frame body, as a code and reason (1005 when it had none). */
  static closeBody(payload: Buffer): { code: number; reason: string } {
    if (payload.length < 2) return { code: CloseCode.noStatus, reason: '' };
    return { code: (payload[0] as number) * 256 + (payload[1] as number), reason: payload.toString('utf8', 2) };
  }

  /** Bytes held for a fragmented message in progress. */
  get heldBytes(): number {
    return this.fragBytes;
  }

  private fail(q: ByteQueue, f: FrameFailure): Buffer {
    this.failure = f;
    this.opcode = OP_FAILED;
    this.fragments = null;
    this.fragBytes = 0;
    q.skip(q.length);
    return EMPTY;
  }
}

/** Frame header bytes for a payload of `n` bytes (unmasked). */
export function headerBytes(n: number): number {
  return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

/** Writes a frame header (first byte `b0`) at `at`; returns where the payload (or masking key) goes. */
export function writeHeader(buf: Buffer, at: number, b0: number, n: number, maskBit: number): number {
  buf[at] = b0;
  if (n < 126) {
    buf[at + 1] = n | maskBit;
    return at + 2;
  }
  if (n < 65536) {
    buf[at + 1] = 126 | maskBit;
    buf[at + 2] = n >>> 8;
    buf[at + 3] = n & 0xff;
    return at + 4;
  }
  buf[at + 1] = 127 | maskBit;
  const hi = Math.floor(n / TWO_32);
  buf.writeUInt32BE(hi, at + 2);
  buf.writeUInt32BE(n >>> 0, at + 6);
  return at + 10;
}

/** One whole unmasked frame (what a server sends) with first header byte `b0`, in a buffer of its own. */
export function unmaskedFrame(b0: number, payload: Buffer): Buffer {
  const n = payload.length;
  const out = Buffer.allocUnsafe(headerBytes(n) + n);
  payload.copy(out, writeHeader(out, 0, b0, n, 0));
  return out;
}

/** RSV1: the message is compressed (permessage-deflate, RFC 7692 §6). */
export const RSV1 = 0x40;

/**
 * Frames what a server sends (unmasked). `conn.send(buffer)` sends a binary
 * message and `conn.send(string)` a text one; the WebSocket layer sets
 * `next` for anything else (text from a buffer, ping, pong, close, RSV1), and
 * it applies to one frame only.
 */
export class FrameEncoder implements Encoder {
  /** The first header byte of the next frame only; 0: FIN + binary (or text for a string). */
  next = 0;

  encode(frame: Buffer, out: FrameSink): void {
    const b0 = this.next !== 0 ? this.next : 0x80 | OP_BINARY;
    this.next = 0;
    const n = frame.length;
    const h = headerBytes(n);
    if (n <= out.copyLimit) {
      const at = out.reserve(h + n);
      const buf = out.buf;
      buf.set(frame, writeHeader(buf, at, b0, n, 0));
      return;
    }
    // reserve() may start a new slab, so the buffer is read only after it.
    const at = out.reserve(h);
    writeHeader(out.buf, at, b0, n, 0);
    out.append(frame);
  }

  encodeText(text: string, out: FrameSink): void {
    const b0 = this.next !== 0 ? this.next : 0x80 | OP_TEXT;
    this.next = 0;
    // Short ASCII-sized strings are written straight into the batch; a string's UTF-8 is at most 3 bytes per UTF-16 unit.
    if (text.length * 3 <= out.copyLimit) {
      const n = Buffer.byteLength(text);
      const h = headerBytes(n);
      const at = out.reserve(h + n);
      const buf = out.buf;
      buf.write(text, writeHeader(buf, at, b0, n, 0), n, "utf8");
      return;
    }
    this.next = b0;
    this.encode(Buffer.from(text), out);
  }
}
