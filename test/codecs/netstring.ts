/**
 * Netstrings (cr.yp.to/proto/netstrings.txt): a decimal length, a colon, the
 * bytes, a comma. `5:hello,` is the frame `hello`.
 */
import { DEFAULT_MAX_FRAME_BYTES, frameTooLarge, protocolError, type Codec, type Decoder, type Encoder } from '../../src/index.js';

const COLON = 0x3a;
const COMMA = Buffer.from(',');

export function netstring(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Codec {
  // Stateless: the header is a few bytes, so it is simply re-read until the frame is complete.
  const decoder: Decoder = {
    decode(queue) {
      let length = 0;
      let i = 0;
      for (; ; i++) {
        if (i === queue.length) return undefined;
        const b = queue.byteAt(i);
        if (b === COLON && i > 0) break;
        const digit = b - 0x30;
        if (digit < 0 || digit > 9 || (i > 0 && length === 0)) throw protocolError('netstring', `bad length byte ${b} at ${i}`, b);
        length = length * 10 + digit;
        // Checked per digit: an absurd length is refused before any of its body is buffered.
        if (length > maxFrameBytes) throw frameTooLarge('netstring', length, maxFrameBytes);
      }
      if (queue.length < i + length + 2) return undefined;
      if (queue.byteAt(i + 1 + length) !== COMMA[0]) throw protocolError('netstring', 'missing comma after the body');
      queue.skip(i + 1);
      const frame = queue.take(length); // a view when the frame lies in one read
      queue.skip(1);
      return frame;
    },
  };
  const encoder: Encoder = {
    encode(frame, out) {
      out.append(Buffer.from(`${frame.length}:`));
      out.append(frame);
      out.append(COMMA);
    },
  };
  return {
    name: 'netstring',
    maxFrameBytes,
    decoder: () => decoder,
    encoder: () => encoder,
    withMaxFrameBytes: (max) => netstring(max),
  };
}
