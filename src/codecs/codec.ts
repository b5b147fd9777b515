/**
 * The codec contract: how bytes on the wire become frames and frames become bytes.
 *
 * A decoder is a small state machine over a {@link ByteQueue}; it does no I/O.
 * The connection runs the loop:
 *
 * ```
 *   chunk ─► queue.push ─► decoder.decode(queue) ─► frame ─► handler.message
 *                                   │    ▲                      │
 *                                   │    └──── until undefined ─┘
 *                                   └─► throws CapstanError ─► close(reason)
 * ```
 *
 * `decode` returns the next whole frame, or `undefined` when it needs more
 * bytes, and must consume the bytes of every frame it returns (the connection
 * asserts progress). A frame is a zero-copy view when it lies in one chunk.
 *
 * An encoder appends one frame to the connection's outbound batch; the batch
 * goes to the socket in one write per event-loop turn.
 */
import type { ByteQueue } from '../buffers/byte-queue.js';

/** What a decoder may tell its connection besides frames and errors. */
export interface DecoderEvents {
  /** The decoder dropped an oversized frame of `bytes` bytes and carries on (discard mode). */
  frameDiscarded(bytes: number): void;
}

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

/** Where an encoder writes: the connection's outbound batch. */
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
 * A framing codec. One codec object serves a whole listener: it hands out a
 * decoder and an encoder per connection, or shares one when it keeps no state,
 * so an idle connection pays nothing for framing.
 */
export interface Codec {
  /** Short stable name (`lp4`, `line`, `raw` …), used in config, logs and the load client. */
  readonly name: string;
  /** Largest frame the decoder accepts, in bytes. */
  readonly maxFrameBytes: number;
  decoder(events: DecoderEvents): Decoder;
  encoder(): Encoder;
  /** The same codec with a different `maxFrameBytes` (listeners apply `limits.maxFrameBytes` this way). */
  withMaxFrameBytes(maxFrameBytes: number): Codec;
}

/** Default bound on one frame or line: 1 MiB. Unbounded is never a default. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
