/**
 * The codec contract: how bytes on the wire become frames and frames become bytes.
 *
 * A decoder is a small state machine over a {@link ByteQueue}; it does no I/O.
 * The connection runs the loop (drawn on {@link Codec}).
 *
 * `decode` returns the next whole frame, or `undefined` when it needs more
 * bytes, and must consume the bytes of every frame it returns (the connection
 * asserts progress). A frame is a zero-copy view when it lies in one chunk.
 *
 * An encoder appends one frame to the connection's outbound batch; the batch
 * goes to the socket in one write per event-loop turn.
 */
import type { ByteQueue } from '../buffers/byte-queue.js';

/**
 * What a decoder may tell its connection besides frames and errors.
 * @category Codecs
 */
export interface DecoderEvents {
  /** The decoder dropped an oversized frame of `bytes` bytes and carries on (discard mode). */
  frameDiscarded(bytes: number): void;
}

/**
 * One connection's decoder (or one shared by all, when it keeps no state): a
 * small state machine over the connection's {@link ByteQueue}, doing no I/O.
 *
 * The connection calls `decode` until it returns `undefined`, and stops
 * delivering when it throws.
 * @category Codecs
 */
export interface Decoder {
  /**
   * The next frame, or `undefined` until more bytes arrive.
   * @throws CapstanError `ERR_FRAME_TOO_LARGE` (reason `frame-too-large`) or
   *   `ERR_PROTOCOL` (reason `protocol-error`); never any other error.
   */
  decode(queue: ByteQueue): Buffer | undefined;
  /**
   * Called once when the peer ends its side with `queue.length > 0` and `decode`
   * has returned every whole frame: may return a last frame (for example an
   * unterminated final line); returns `undefined` to report the leftover bytes
   * as a truncated frame.
   * @throws the same typed errors as `decode`, when the last bytes are invalid.
   */
  finish?(queue: ByteQueue): Buffer | undefined;
}

/**
 * Where an encoder writes: the connection's outbound batch, written to the
 * socket once per event-loop turn.
 * @category Codecs
 */
export interface FrameSink {
  /** The buffer that the offset returned by the last `reserve` points into. */
  readonly buf: Buffer;
  /** Reserves `n` contiguous bytes (a header) and returns their offset in `buf`. */
  reserve(n: number): number;
  /** Appends `bytes`: copied when small, queued as its own buffer (no copy) when large. */
  append(bytes: Buffer): void;
  /**
   * Payloads up to this many bytes are cheapest copied next to their header:
   * `reserve(header + payload)` once and write both, instead of `reserve` + `append`.
   */
  readonly copyLimit: number;
}

/**
 * Turns one frame given to `send` into bytes on the wire, appending them to
 * the batch. Shared by every connection unless the codec keeps state.
 * @category Codecs
 */
export interface Encoder {
  /**
   * Appends `frame`, encoded, to `out`.
   * @throws CapstanError `ERR_FRAME_TOO_LARGE` when the frame cannot be encoded
   *   (for example longer than a 1-byte length field allows).
   */
  encode(frame: Buffer, out: FrameSink): void;
  /**
   * Appends a string frame without first copying it into a Buffer of its own
   * (a WebSocket text message). Without it, strings are sent as their UTF-8 bytes.
   */
  encodeText?(text: string, out: FrameSink): void;
}

/**
 * A framing codec.
 *
 * One codec object serves a whole listener: it hands out a decoder and an
 * encoder per connection, or shares one when it keeps no state, so an idle
 * connection pays nothing for framing.
 *
 * ```
 *   chunk ─► queue.push ─► decoder.decode(queue) ─► frame ─► handler.message
 *                                   │    ▲                      │
 *                                   │    └──── until undefined ─┘
 *                                   └─► throws CapstanError ─► close(reason)
 * ```
 *
 * Capstan's codecs are {@link raw}, {@link lengthPrefixed}, {@link lines},
 * {@link delimited} and {@link fixedSize}; {@link codecFromName} builds them by
 * name. Writing your own: docs/protocols.md.
 * @category Codecs
 */
export interface Codec {
  /** Short stable name (`lp4`, `line`, `raw` …), used in config, logs and the load client. */
  readonly name: string;
  /** Largest frame the decoder accepts, in bytes. */
  readonly maxFrameBytes: number;
  /** A decoder for a new connection (or the shared one); `events` is the connection, for `frameDiscarded`. */
  decoder(events: DecoderEvents): Decoder;
  /** An encoder for a new connection (or the shared one). */
  encoder(): Encoder;
  /** The same codec with a different `maxFrameBytes` (listeners apply `limits.maxFrameBytes` this way). */
  withMaxFrameBytes(maxFrameBytes: number): Codec;
}

/**
 * Default bound on one frame or line: 1 MiB (1,048,576 bytes). Unbounded is never a default.
 * @category Codecs
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
