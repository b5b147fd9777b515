import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { delimited, lines, raw, type Codec } from '../../src/index.js';
import { CODEC_CASES } from './cases.js';
import { RUNS, assertDecodeError, decodeChunks, encodeAll, ownCopy } from './harness.js';

const MAX = 64;

// Bytes that matter to some codec: line ends, delimiter letters, small and huge length bytes.
const hostile = fc
  .array(
    fc.array(fc.oneof(fc.constantFrom(0, 1, 10, 13, 97, 98, 124, 255), fc.integer({ min: 0, max: 255 })), { maxLength: 90 }),
    { maxLength: 12 },
  )
  .map((chunks) => chunks.map((c) => ownCopy(Uint8Array.from(c))));

interface Subject {
  label: string;
  codec: Codec;
  /** Bytes an incomplete frame may keep queued beyond maxFrameBytes. */
  slack: number;
  /** Bytes a frame may carry beyond maxFrameBytes (a kept delimiter). */
  frameSlack: number;
}

const subjects: Subject[] = [
  ...CODEC_CASES.map((c) => ({ label: c.label, codec: c.codec.withMaxFrameBytes(MAX), slack: c.slack, frameSlack: c.label.includes('keeping') ? 2 : 0 })),
  { label: 'raw', codec: raw({ maxFrameBytes: MAX }), slack: 0, frameSlack: 0 },
  { label: 'line in discard mode', codec: lines({ maxLineBytes: MAX, onOversize: 'discard' }), slack: 1, frameSlack: 0 },
  {
    label: 'delimited by "abab" in discard mode',
    codec: delimited({ delimiter: 'abab', maxFrameBytes: MAX, onOversize: 'discard' }),
    slack: 3,
    frameSlack: 0,
  },
];

for (const s of subjects) {
  describe(`${s.label} codec fed random bytes`, () => {
    it('raises nothing but frame-too-large or protocol-error, always makes progress, keeps frames within maxFrameBytes, and finishes without throwing', () => {
      fc.assert(
        fc.property(hostile, (chunks) => {
          const got = decodeChunks(s.codec, chunks, { finish: true });
          if (got.error !== undefined) assertDecodeError(got.error);
          assert.ok(got.frames.every((f) => f.length <= s.codec.maxFrameBytes + s.frameSlack));
        }),
        RUNS,
      );
    });

    it('encodes every frame it decodes from any bytes, back to the same frame: an echo of peer input never throws', () => {
      fc.assert(
        fc.property(hostile, (chunks) => {
          const got = decodeChunks(s.codec, chunks, { finish: true });
          for (const frame of got.frames) {
            const again = decodeChunks(s.codec, [encodeAll(s.codec, [frame])], { finish: true });
            assert.equal(again.error, undefined);
            assert.deepEqual(again.frames, [frame]);
          }
        }),
        RUNS,
      );
    });

    it('never keeps more than maxFrameBytes plus its header or delimiter queued for an incomplete frame', () => {
      fc.assert(
        fc.property(hostile, (chunks) => {
          decodeChunks(s.codec, chunks, {
            afterChunk: (queue) => assert.ok(queue.length <= s.codec.maxFrameBytes + s.slack, `${queue.length} bytes queued`),
          });
        }),
        RUNS,
      );
    });
  });
}

describe('codecs in discard mode fed random bytes', () => {
  it('never raise at all', () => {
    for (const s of subjects.filter((x) => x.label.includes('discard'))) {
      fc.assert(
        fc.property(hostile, (chunks) => {
          assert.equal(decodeChunks(s.codec, chunks, { finish: true }).error, undefined);
        }),
        RUNS,
      );
    }
  });
});
