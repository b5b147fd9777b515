import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { raw, type Codec } from '../../src/index.js';
import { CODEC_CASES } from './cases.js';
import { RUNS, cutsArb, decodeChunks, encodeAll, ownCopy, splitAt, splitEvery } from './harness.js';

function hex(frames: readonly Buffer[]): string[] {
  return frames.map((f) => f.toString('hex'));
}

function assertDecodesTo(codec: Codec, chunks: readonly Buffer[], frames: readonly Buffer[]): void {
  const got = decodeChunks(codec, chunks);
  assert.equal(got.error, undefined);
  assert.deepEqual(hex(got.frames), hex(frames));
  assert.equal(got.left, 0);
}

for (const c of CODEC_CASES) {
  const framesArb = fc.array(c.frame, { maxLength: 12 });

  describe(`${c.label} codec`, () => {
    it('decodes what it encodes, frame for frame', () => {
      fc.assert(
        fc.property(framesArb, (frames) => assertDecodesTo(c.codec, [encodeAll(c.codec, frames)], frames)),
        RUNS,
      );
    });

    it('gives the same frames for any split of the stream into chunks', () => {
      fc.assert(
        fc.property(framesArb, cutsArb, (frames, cuts) => {
          const stream = encodeAll(c.codec, frames);
          assertDecodesTo(c.codec, splitAt(stream, cuts.map((x) => x % (stream.length + 1))), frames);
        }),
        RUNS,
      );
    });

    // A prefix before the length field is joined to the body, so those frames are copies by design.
    if (!/lengthOffset|type byte/.test(c.label)) {
      it('hands over every frame of a single read as a view sharing that read\'s memory', () => {
        fc.assert(
          fc.property(framesArb, (frames) => {
            const read = ownCopy(encodeAll(c.codec, frames));
            const got = decodeChunks(c.codec, [read]);
            assert.ok(got.frames.every((f) => f.length === 0 || f.buffer === read.buffer));
          }),
          RUNS,
        );
      });
    }

    it('gives the same frames when the stream is cut at every single boundary and when it arrives one byte at a time', () => {
      fc.assert(
        fc.property(fc.array(c.frame, { minLength: 1, maxLength: 5 }), (frames) => {
          const stream = encodeAll(c.codec, frames);
          const want = hex(frames);
          for (let cut = 1; cut < stream.length; cut++) {
            assert.deepEqual(hex(decodeChunks(c.codec, splitAt(stream, [cut])).frames), want, `cut at ${cut}`);
          }
          assert.deepEqual(hex(decodeChunks(c.codec, splitEvery(stream, 1)).frames), want);
        }),
        { numRuns: 25 },
      );
    });
  });
}

describe('raw codec', () => {
  it('hands over every byte in order, whatever the split, in frames no longer than maxFrameBytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), cutsArb, fc.integer({ min: 1, max: 100 }), (bytes, cuts, max) => {
        const stream = ownCopy(bytes);
        const got = decodeChunks(raw({ maxFrameBytes: max }), splitAt(stream, cuts.map((x) => x % (stream.length + 1))));
        assert.equal(got.error, undefined);
        assert.ok(got.frames.every((f) => f.length >= 1 && f.length <= max));
        assert.deepEqual(Buffer.concat(got.frames), stream);
      }),
      RUNS,
    );
  });
});
