/**
 * The codecs every property test runs against, each with a generator of frames
 * its encoder accepts. Frames use a small alphabet rich in delimiter bytes so
 * that near-delimiters and split delimiters are common.
 */
import fc from 'fast-check';
import { codecFromName, delimited, lengthPrefixed, type Codec } from '../../src/index.js';
import { encodable, ownCopy } from './harness.js';

export interface CodecCase {
  label: string;
  codec: Codec;
  frame: fc.Arbitrary<Buffer>;
  /** Most bytes an incomplete frame may keep queued beyond `maxFrameBytes` (header or delimiter slack). */
  slack: number;
}

/** Frames of `minLength`–`maxLength` bytes, biased towards `special` bytes, that `codec` can encode. */
export function framesFor(codec: Codec, special: readonly number[], minLength = 0, maxLength = 48): fc.Arbitrary<Buffer> {
  const byte =
    special.length === 0
      ? fc.integer({ min: 0, max: 255 })
      : fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...special) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) });
  return fc
    .array(byte, { minLength, maxLength })
    .map((bytes) => ownCopy(Uint8Array.from(bytes)))
    .filter((f) => encodable(codec, f));
}

function bytesOf(s: string): number[] {
  return [...Buffer.from(s)];
}

function lengthCase(label: string, codec: Codec, minLength = 0): CodecCase {
  // Prefix bytes count towards maxFrameBytes; only the length field comes on top.
  const lengthBytes = Number(/^lp(\d)/.exec(codec.name)?.[1]);
  return { label, codec, frame: framesFor(codec, [0, 255], minLength), slack: lengthBytes };
}

function delimiterCase(label: string, codec: Codec, delimiter: string, slack: number): CodecCase {
  return { label, codec, frame: framesFor(codec, bytesOf(delimiter)), slack };
}

const keep = delimited({ delimiter: '||', keepDelimiter: true });

/** One case per framing shape the project ships (raw is covered on its own: it does not keep frame bounds). */
export const CODEC_CASES: readonly CodecCase[] = [
  ...['lp1', 'lp2', 'lp3', 'lp4', 'lp8', 'lp2le', 'lp3le', 'lp4le', 'lp8le'].map((n) => lengthCase(n, codecFromName(n))),
  lengthCase('lp2 after a 2-byte prefix (lengthOffset)', lengthPrefixed({ lengthBytes: 2, lengthOffset: 2 }), 2),
  lengthCase('lp3le counting its header (lengthIncludesHeader)', lengthPrefixed({ lengthBytes: 3, littleEndian: true, lengthIncludesHeader: true })),
  lengthCase('lp1 with lengthAdjustment 3 after a type byte', lengthPrefixed({ lengthBytes: 1, lengthOffset: 1, lengthAdjustment: 3 }), 4),
  delimiterCase('line', codecFromName('line'), '\r\n', 1),
  delimiterCase('crlf', codecFromName('crlf'), '\r\n', 1),
  delimiterCase('delimited by NUL', delimited({ delimiter: '\0' }), '\0', 0),
  delimiterCase('delimited by the self-overlapping "aa"', delimited({ delimiter: 'aa' }), 'aa', 1),
  delimiterCase('delimited by "abab"', delimited({ delimiter: 'abab' }), 'abab', 3),
  delimiterCase('delimited by "aba"', delimited({ delimiter: 'aba' }), 'aba', 2),
  {
    label: 'delimited by "||" keeping the delimiter',
    codec: keep,
    frame: framesFor(delimited({ delimiter: '||' }), bytesOf('||'))
      .map((body) => Buffer.concat([body, Buffer.from('||')]))
      .filter((f) => encodable(keep, f)),
    slack: 1,
  },
  { label: 'fixed:1', codec: codecFromName('fixed:1'), frame: framesFor(codecFromName('fixed:1'), [], 1, 1), slack: 0 },
  { label: 'fixed:7', codec: codecFromName('fixed:7'), frame: framesFor(codecFromName('fixed:7'), [], 7, 7), slack: 0 },
];
