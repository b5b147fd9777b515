/**
 * Raw: no framing. Each read becomes one frame (split at `maxFrameBytes`), and
 * sent frames go out as they are. For echo, proxies and protocols that parse
 * their own stream.
 */
import { DEFAULT_MAX_FRAME_BYTES, type Codec, type Decoder, type Encoder } from './codec.js';
import { checkInteger, checkKeys } from './frame-errors.js';

/**
 * Options of {@link raw}.
 * @category Codecs
 */
export interface RawOptions {
  /** Largest frame handed to `message`; longer reads arrive as several frames. Default 1 MiB. */
  maxFrameBytes?: number;
}

/**
 * No framing: each read from the socket is one frame (longer reads are split
 * at `maxFrameBytes`), and sent frames go out as they are.
 *
 * Read boundaries depend on the network, so a message may arrive in pieces or
 * several in one frame: for echo, proxies and protocols that parse their own
 * stream. Name `raw`; the default codec of `listen` and `connect`.
 * @throws CapstanError `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` for a bad option.
 * @category Codecs
 */
export function raw(options: RawOptions = {}): Codec {
  checkKeys('raw', options, ['maxFrameBytes']);
  const max = checkInteger('raw', 'maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 1);
  const decoder: Decoder = {
    decode(queue) {
      const n = queue.length;
      if (n === 0) return undefined;
      return queue.take(n <= max ? n : max);
    },
  };
  const encoder: Encoder = {
    encode(frame, out) {
      out.append(frame);
    },
  };
  return {
    name: 'raw',
    maxFrameBytes: max,
    decoder: () => decoder,
    encoder: () => encoder,
    withMaxFrameBytes: (maxFrameBytes) => raw({ ...options, maxFrameBytes }),
  };
}
