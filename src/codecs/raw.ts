/**
 * Raw: no framing. Each read becomes one frame (split at `maxFrameBytes`), and
 * sent frames go out as they are. For echo, proxies and protocols that parse
 * their own stream.
 */
import { DEFAULT_MAX_FRAME_BYTES, type Codec, type Decoder, type Encoder } from './codec.js';
import { checkInteger, checkKeys } from './frame-errors.js';

export interface RawOptions {
  /** Largest frame handed to `message`; longer reads arrive as several frames. Default 1 MiB. */
  maxFrameBytes?: number;
}

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
