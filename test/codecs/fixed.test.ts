import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fixedSize } from '../../src/index.js';
import { decodeChunks, encodeAll, ownCopy } from './harness.js';

describe('fixed-size codec', () => {
  it('cuts the stream into frames of exactly frameBytes and waits for the rest of a partial one', () => {
    const got = decodeChunks(fixedSize({ frameBytes: 3 }), [ownCopy(Buffer.from('abcde')), ownCopy(Buffer.from('fg'))]);
    assert.deepEqual(got.frames.map(String), ['abc', 'def']);
    assert.equal(got.left, 1);
  });

  it('sends frames as they are and refuses frames of another size with ERR_INVALID_FRAME', () => {
    const codec = fixedSize({ frameBytes: 2 });
    assert.equal(encodeAll(codec, [Buffer.from('ab'), Buffer.from('cd')]).toString(), 'abcd');
    assert.throws(() => encodeAll(codec, [Buffer.from('abc')]), { code: 'ERR_INVALID_FRAME', limit: 2, actual: 3 });
    assert.throws(() => encodeAll(codec, [Buffer.from('a')]), { code: 'ERR_INVALID_FRAME' });
  });

  it('is named fixed:<N> and accepts any maxFrameBytes that admits its frames', () => {
    const codec = fixedSize({ frameBytes: 16 });
    assert.equal(codec.name, 'fixed:16');
    assert.equal(codec.withMaxFrameBytes(1 << 20).maxFrameBytes, 16);
    assert.throws(() => codec.withMaxFrameBytes(15), { code: 'ERR_INVALID_OPTION', path: 'maxFrameBytes' });
  });

  it('names a bad frameBytes', () => {
    assert.throws(() => fixedSize({ frameBytes: 0 }), { code: 'ERR_INVALID_OPTION', path: 'frameBytes' });
    assert.throws(() => fixedSize({} as never), { code: 'ERR_INVALID_OPTION', path: 'frameBytes' });
  });
});
