/**
 * What a WebSocket client puts on the wire: masked frames (RFC 6455 §5.3),
 * each under a fresh 4-byte key, and the handshake's 16-byte nonce.
 *
 * ```
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - +---------------+----------------+
 *  |F|R|R|R| opcode|1| length      | 16/64-bit length | masking key   | payload XOR key |
 *  +-+-+-+-+-------+-+-------------+ - - - - - - - - +---------------+----------------+
 * ```
 *
 * Keys come from one pool of random bytes filled by `randomFillSync` and
 * refilled when used up, so a frame costs four bytes of the pool rather than a
 * call into the random source (an 8 KiB pool lasts 2,048 frames).
 */
import { randomFillSync } from 'node:crypto';
import type { Codec, Encoder, FrameSink } from '../codecs/codec.js';
import { FrameDecoder, OP_BINARY, OP_TEXT, type FrameLimits } from './frame.js';
import { unmaskInPlace } from './mask.js';

const POOL_BYTES = 8 * 1024;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let poolAt = POOL_BYTES;

/** Copies `n` unpredictable bytes (n ≤ 16) from the pool into `dst` at `at`. */
export function randomInto(dst: Uint8Array, at: number, n: number): void {
  if (poolAt + n > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  for (let i = 0; i < n; i++) dst[at + i] = pool[poolAt + i] as number;
  poolAt += n;
}

/** A `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). */
export function handshakeKey(): string {
  const nonce = Buffer.allocUnsafe(16);
  randomInto(nonce, 0, 16);
  return nonce.toString('base64');
}

const TWO_32 = 2 ** 32;

/** Header bytes of a masked frame of `n` payload bytes, key included. */
function maskedHeadBytes(n: number): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4;
}

/** Writes a masked frame's header and a fresh key at `at`; returns where the payload goes (the key is the 4 bytes before it). */
function putMaskedHead(buf: Buffer, at: number, b0: number, n: number): number {
  buf[at] = b0;
  let p: number;
  if (n < 126) {
    buf[at + 1] = 0x80 | n;
    p = at + 2;
  } else if (n < 65536) {
    buf[at + 1] = 0x80 | 126;
    buf.writeUInt16BE(n, at + 2);
    p = at + 4;
  } else {
    buf[at + 1] = 0x80 | 127;
    buf.writeUInt32BE(Math.floor(n / TWO_32), at + 2);
    buf.writeUInt32BE(n >>> 0, at + 6);
    p = at + 10;
  }
  randomInto(buf, p, 4);
  return p + 4;
}

/** XORs `buf[from, from + n)` with the key in the four bytes before `from`. */
function maskAfterKey(buf: Buffer, from: number, n: number): void {
  unmaskInPlace(buf, from, from + n, buf[from - 4] as number, buf[from - 3] as number, buf[from - 2] as number, buf[from - 1] as number);
}

/** One masked frame with first header byte `b0` (FIN, RSV, opcode), in a buffer of its own. */
export function maskedFrame(b0: number, payload: Buffer): Buffer {
  const n = payload.length;
  const out = Buffer.allocUnsafe(maskedHeadBytes(n) + n);
  const p = putMaskedHead(out, 0, b0, n);
  payload.copy(out, p);
  maskAfterKey(out, p, n);
  return out;
}

/**
 * Frames what a client sends, masked. Like the server's encoder, a Buffer is
 * sent as binary and a string as text unless `next` says otherwise (text from
 * a Buffer, ping, pong, close), for one frame only. The caller's buffer is
 * never changed: small payloads are masked as they are copied into the batch,
 * large ones into a copy of their own.
 */
export class MaskingFrameEncoder implements Encoder {
  /** The first header byte of the next frame only; 0: FIN + binary (or text for a string). */
  next = 0;

  encode(frame: Buffer, out: FrameSink): void {
    const b0 = this.next !== 0 ? this.next : 0x80 | OP_BINARY;
    this.next = 0;
    const n = frame.length;
    const h = maskedHeadBytes(n);
    if (n <= out.copyLimit) {
      const at = out.reserve(h + n);
      const buf = out.buf;
      const p = putMaskedHead(buf, at, b0, n);
      buf.set(frame, p);
      maskAfterKey(buf, p, n);
      return;
    }
    // Masked into a copy of its own: the caller's buffer is still theirs, and the batch takes it without a second copy.
    const at = out.reserve(h);
    const head = out.buf;
    const p = putMaskedHead(head, at, b0, n);
    const body = Buffer.allocUnsafe(n);
    frame.copy(body);
    unmaskInPlace(body, 0, n, head[p - 4] as number, head[p - 3] as number, head[p - 2] as number, head[p - 1] as number);
    out.append(body);
  }

  encodeText(text: string, out: FrameSink): void {
    const b0 = this.next !== 0 ? this.next : 0x80 | OP_TEXT;
    this.next = 0;
    // A string's UTF-8 is at most 3 bytes per UTF-16 unit: short ones are written and masked in the batch itself.
    if (text.length * 3 <= out.copyLimit) {
      const n = Buffer.byteLength(text);
      const at = out.reserve(maskedHeadBytes(n) + n);
      const buf = out.buf;
      const p = putMaskedHead(buf, at, b0, n);
      buf.write(text, p, n, 'utf8');
      maskAfterKey(buf, p, n);
      return;
    }
    this.next = b0;
    this.encode(Buffer.from(text), out);
  }
}

/**
 * The frames of a client connection: unmasked server frames in (any masked
 * one is a protocol error), masked frames out through `encoder`, which the
 * client's sockets share (its `next` is set and used within one send).
 */
export function clientFrameCodec(limits: FrameLimits, encoder: MaskingFrameEncoder): Codec {
  return {
    name: 'websocket-client',
    maxFrameBytes: limits.maxMessageBytes,
    decoder: () => new FrameDecoder(limits, false),
    encoder: () => encoder,
    withMaxFrameBytes: (maxMessageBytes) => clientFrameCodec({ ...limits, maxMessageBytes }, encoder),
  };
}
