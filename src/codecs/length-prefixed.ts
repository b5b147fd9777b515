/** Length-prefixed framing, as flexible as Netty's LengthFieldBasedFrameDecoder: the layout is drawn on `lengthPrefixed` below. */
import { capstanError } from '../errors.js';
import type { ByteQueue } from '../buffers/byte-queue.js';
import { DEFAULT_MAX_FRAME_BYTES, type Codec, type Decoder, type Encoder, type FrameSink } from './codec.js';
import { checkInteger, checkKeys, frameTooLarge, protocolError } from './frame-errors.js';

/**
 * Options of {@link lengthPrefixed}; the frame layout is drawn there.
 * @category Codecs
 */
export interface LengthPrefixedOptions {
  /** Size of the length field: 1, 2, 3, 4 or 8 bytes. Default 4. */
  lengthBytes?: 1 | 2 | 3 | 4 | 8;
  /** Length field byte order. Default `false` (big-endian, network order). */
  littleEndian?: boolean;
  /** Bytes before the length field, kept at the start of the frame. Default 0. */
  lengthOffset?: number;
  /** Added to the field's value to get the number of body bytes that follow the field. Default 0. */
  lengthAdjustment?: number;
  /** The field counts the whole frame, header included (sets `lengthAdjustment` to minus the header size; give one or the other). Default `false`. */
  lengthIncludesHeader?: boolean;
  /** Largest frame (prefix bytes + body) accepted, in bytes. Default 1 MiB. */
  maxFrameBytes?: number;
}

const KEYS = ['lengthBytes', 'littleEndian', 'lengthOffset', 'lengthAdjustment', 'lengthIncludesHeader', 'maxFrameBytes'];

/**
 * Length-prefixed framing: a length field (1, 2, 3, 4 or 8 bytes, big- or
 * little-endian), optionally after a fixed prefix, then the body.
 *
 * ```
 *  ┌──────────────┬──────────────────┬───────────────────────────┐
 *  │ prefix bytes │   length field   │           body            │
 *  │ lengthOffset │   lengthBytes    │  value + lengthAdjustment │
 *  └──────────────┴──────────────────┴───────────────────────────┘
 *   frame handed to message() = prefix bytes + body (the length field removed)
 * ```
 *
 * Common shapes (the codec's name is `lp<lengthBytes>`, plus `le` for little-endian):
 * - `lengthPrefixed()` — 4-byte big-endian length of the body (`lp4`).
 * - `lengthPrefixed({ lengthBytes: 2, littleEndian: true })` — 2-byte LE (`lp2le`).
 * - `lengthPrefixed({ lengthIncludesHeader: true })` — the value counts the header too.
 * - `lengthPrefixed({ lengthOffset: 1 })` — a type byte, then the length, then the body;
 *   the frame is `type + body`, and `send(type + body)` encodes it back.
 *
 * The decoder checks the announced size against `maxFrameBytes` as soon as the
 * header has arrived, before buffering any of the body (`frame-too-large`); a
 * frame to send that the field cannot express throws `ERR_FRAME_TOO_LARGE`.
 * @throws CapstanError `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` for a bad option.
 * @category Codecs
 */
export function lengthPrefixed(options: LengthPrefixedOptions = {}): Codec {
  checkKeys('lengthPrefixed', options, KEYS);
  const lengthBytes = options.lengthBytes ?? 4;
  if (![1, 2, 3, 4, 8].includes(lengthBytes)) {
    throw capstanError('ERR_INVALID_OPTION', `lengthPrefixed: option lengthBytes must be 1, 2, 3, 4 or 8, got ${JSON.stringify(lengthBytes)}`, {
      path: 'lengthBytes',
      actual: lengthBytes,
    });
  }
  const littleEndian = options.littleEndian ?? false;
  if (typeof littleEndian !== 'boolean') {
    throw capstanError('ERR_INVALID_OPTION', 'lengthPrefixed: option littleEndian must be a boolean', { path: 'littleEndian' });
  }
  const offset = checkInteger('lengthPrefixed', 'lengthOffset', options.lengthOffset ?? 0, 0, 1024);
  const headerBytes = offset + lengthBytes;
  let adjustment = checkInteger('lengthPrefixed', 'lengthAdjustment', options.lengthAdjustment ?? 0, -(2 ** 31), 2 ** 31);
  if (options.lengthIncludesHeader === true) {
    if (options.lengthAdjustment !== undefined) {
      throw capstanError('ERR_INVALID_OPTION', 'lengthPrefixed: give lengthIncludesHeader or lengthAdjustment, not both', {
        path: 'lengthIncludesHeader',
      });
    }
    adjustment = -headerBytes;
  }
  const max = checkInteger('lengthPrefixed', 'maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 1);
  const fieldMax = lengthBytes === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * lengthBytes) - 1;
  const name = `lp${lengthBytes}${littleEndian ? 'le' : ''}`;

  const writeLength = lengthWriter(lengthBytes, littleEndian);

  // Stateless: re-reading a header of at most 8 bytes costs less than keeping
  // per-connection state, and lets every connection share one decoder.
  const decoder: Decoder = {
    decode(queue: ByteQueue): Buffer | undefined {
      const available = queue.length;
      if (available < headerBytes) return undefined;
      const value = queue.readUInt(offset, lengthBytes, littleEndian);
      const body = value + adjustment;
      if (body < 0) throw protocolError(name, `length field ${value} gives a negative body length ${body}`, value);
      const frameBytes = offset + body;
      if (frameBytes > max) throw frameTooLarge(name, frameBytes, max);
      if (available < headerBytes + body) return undefined;
      if (offset === 0) return queue.takeAfter(headerBytes, body);
      const frame = Buffer.allocUnsafe(frameBytes);
      for (let i = 0; i < offset; i++) frame[i] = queue.byteAt(i);
      queue.skip(headerBytes);
      queue.take(body).copy(frame, offset);
      return frame;
    },
  };

  const encoder: Encoder = {
    encode(frame: Buffer, out: FrameSink): void {
      const body = frame.length - offset;
      const value = body - adjustment;
      if (body < 0 || value < 0 || value > fieldMax) {
        throw capstanError(
          'ERR_FRAME_TOO_LARGE',
          `${name}: a frame of ${frame.length} bytes cannot be encoded with a ${lengthBytes}-byte length field` +
            (offset > 0 ? ` after ${offset} prefix bytes` : ''),
          { limit: fieldMax, actual: frame.length },
        );
      }
      if (offset === 0) {
        if (body <= out.copyLimit) {
          // Header and payload side by side: one reservation, no separate piece.
          const at = out.reserve(lengthBytes + body);
          const buf = out.buf;
          writeLength(buf, at, value);
          buf.set(frame, at + lengthBytes);
          return;
        }
        const at = out.reserve(lengthBytes);
        writeLength(out.buf, at, value);
        out.append(frame);
        return;
      }
      const at = out.reserve(headerBytes);
      frame.copy(out.buf, at, 0, offset);
      writeLength(out.buf, at + offset, value);
      out.append(frame.subarray(offset));
    },
  };

  return {
    name,
    maxFrameBytes: max,
    decoder: () => decoder,
    encoder: () => encoder,
    withMaxFrameBytes: (maxFrameBytes) => lengthPrefixed({ ...options, maxFrameBytes }),
  };
}

type LengthWriter = (buf: Buffer, at: number, value: number) => void;

/**
 * The length field's writer, chosen once per codec: a small function of its own
 * is inlined into the encoder, where one that switches on the size is not. The
 * common sizes go byte by byte: the checked writers cost several times more.
 */
function lengthWriter(bytes: number, littleEndian: boolean): LengthWriter {
  if (bytes === 4) {
    return littleEndian
      ? (buf, at, value) => {
          buf[at] = value & 0xff;
          buf[at + 1] = (value >>> 8) & 0xff;
          buf[at + 2] = (value >>> 16) & 0xff;
          buf[at + 3] = value >>> 24;
        }
      : (buf, at, value) => {
          buf[at] = value >>> 24;
          buf[at + 1] = (value >>> 16) & 0xff;
          buf[at + 2] = (value >>> 8) & 0xff;
          buf[at + 3] = value & 0xff;
        };
  }
  if (bytes === 2) {
    return littleEndian
      ? (buf, at, value) => {
          buf[at] = value & 0xff;
          buf[at + 1] = value >>> 8;
        }
      : (buf, at, value) => {
          buf[at] = value >>> 8;
          buf[at + 1] = value & 0xff;
        };
  }
  if (bytes === 8) return littleEndian ? (buf, at, value) => void buf.writeBigUInt64LE(BigInt(value), at) : (buf, at, value) => void buf.writeBigUInt64BE(BigInt(value), at);
  return littleEndian ? (buf, at, value) => void buf.writeUIntLE(value, at, bytes) : (buf, at, value) => void buf.writeUIntBE(value, at, bytes);
}
