/**
 * Fixed-size framing: every frame is exactly `frameBytes` bytes, with nothing
 * between frames.
 *
 * ```
 *  ┌──────────────┬──────────────┬──────────────┐
 *  │ frameBytes   │ frameBytes   │ frameBytes   │ …
 *  └──────────────┴──────────────┴──────────────┘
 * ```
 *
 * Frames that lie in one read are zero-copy views. A frame can never be
 * oversized, so `maxFrameBytes` only has to admit `frameBytes`.
 */
import { capstanError } from '../errors.js';
import type { Codec, Decoder, Encoder } from './codec.js';
import { checkInteger, checkKeys } from './frame-errors.js';

/**
 * Options of {@link fixedSize}.
 * @category Codecs
 */
export interface FixedSizeOptions {
  /** Size of every frame, in bytes (1 B to 1 GiB). Required. */
  frameBytes: number;
}

/**
 * Frames of exactly `frameBytes` bytes.
 *
 * ```ts
 * listen({ port: 7000, codec: fixedSize({ frameBytes: 16 }), handler });
 * ```
 *
 * Name `fixed:<frameBytes>`. Frames that lie in one read are zero-copy views;
 * a frame to send of any other size throws `ERR_INVALID_FRAME`.
 * @throws CapstanError `ERR_INVALID_OPTION` unless `frameBytes` is an integer from 1 to 2^30.
 * @category Codecs
 */
export function fixedSize(options: FixedSizeOptions): Codec {
  checkKeys('fixedSize', options ?? {}, ['frameBytes']);
  const size = checkInteger('fixedSize', 'frameBytes', options?.frameBytes, 1, 1024 * 1024 * 1024);
  const name = `fixed:${size}`;
  const decoder: Decoder = {
    decode(queue) {
      return queue.length < size ? undefined : queue.take(size);
    },
  };
  const encoder: Encoder = {
    encode(frame, out) {
      if (frame.length !== size) {
        throw capstanError('ERR_INVALID_FRAME', `${name}: a frame to send must be exactly ${size} bytes, got ${frame.length}`, {
          limit: size,
          actual: frame.length,
        });
      }
      out.append(frame);
    },
  };
  const codec: Codec = {
    name,
    maxFrameBytes: size,
    decoder: () => decoder,
    encoder: () => encoder,
    withMaxFrameBytes(maxFrameBytes) {
      checkInteger(name, 'maxFrameBytes', maxFrameBytes, size);
      return codec;
    },
  };
  return codec;
}
