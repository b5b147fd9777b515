import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteQueue, lengthPrefixed, type LengthPrefixedOptions } from '../../src/index.js';
import { decodeChunks, encodeAll, ownCopy } from './harness.js';

const hex = (s: string) => ownCopy(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('length-prefixed codec', () => {
  const shapes: Array<[LengthPrefixedOptions, string]> = [
    [{ lengthBytes: 1 }, '03 616263'],
    [{ lengthBytes: 2 }, '0003 616263'],
    [{ lengthBytes: 2, littleEndian: true }, '0300 616263'],
    [{ lengthBytes: 3 }, '000003 616263'],
    [{ lengthBytes: 3, littleEndian: true }, '030000 616263'],
    [{ lengthBytes: 4 }, '00000003 616263'],
    [{ lengthBytes: 4, littleEndian: true }, '03000000 616263'],
    [{ lengthBytes: 8 }, '0000000000000003 616263'],
    [{ lengthBytes: 8, littleEndian: true }, '0300000000000000 616263'],
  ];
  for (const [options, wire] of shapes) {
    it(`writes and reads "abc" as ${wire} with ${JSON.stringify(options)}`, () => {
      const codec = lengthPrefixed(options);
      assert.deepEqual(encodeAll(codec, [Buffer.from('abc')]), hex(wire));
      assert.deepEqual(decodeChunks(codec, [hex(wire)]).frames.map(String), ['abc']);
    });
  }

  it('keeps the bytes before the length field at the start of the frame with lengthOffset', () => {
    const codec = lengthPrefixed({ lengthBytes: 2, lengthOffset: 1 });
    // type byte 07, length 2, body "hi": the frame is type + body.
    const wire = hex('07 0002 6869');
    assert.deepEqual(decodeChunks(codec, [wire]).frames, [hex('07 6869')]);
    assert.deepEqual(encodeAll(codec, [hex('07 6869')]), wire);
  });

  it('adds lengthAdjustment to the field to get the body length', () => {
    const codec = lengthPrefixed({ lengthBytes: 1, lengthAdjustment: 2 });
    assert.deepEqual(decodeChunks(codec, [hex('01 616263')]).frames.map(String), ['abc']);
    assert.deepEqual(encodeAll(codec, [Buffer.from('abc')]), hex('01 616263'));
  });

  it('counts the header in the field with lengthIncludesHeader', () => {
    const codec = lengthPrefixed({ lengthBytes: 2, lengthIncludesHeader: true });
    assert.deepEqual(encodeAll(codec, [Buffer.from('abc')]), hex('0005 616263'));
    assert.deepEqual(decodeChunks(codec, [hex('0005 616263')]).frames.map(String), ['abc']);
  });

  it('raises protocol-error for a field that gives a negative body length', () => {
    const got = decodeChunks(lengthPrefixed({ lengthBytes: 2, lengthIncludesHeader: true }), [hex('0001')]);
    assert.equal((got.error as { code?: string }).code, 'ERR_PROTOCOL');
    assert.equal((got.error as { reason?: string }).reason, 'protocol-error');
  });

  it('raises frame-too-large for an 8-byte length above 2^53, whole or split over reads', () => {
    const codec = lengthPrefixed({ lengthBytes: 8 });
    for (const chunks of [[hex('0020000000000001')], [hex('002000'), hex('0000000001')]]) {
      const got = decodeChunks(codec, chunks);
      assert.equal((got.error as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
    }
  });

  it('raises frame-too-large from the header alone, before any of the body is buffered', () => {
    const codec = lengthPrefixed({ lengthBytes: 4, maxFrameBytes: 1000 });
    const decoder = codec.decoder({ frameDiscarded() {} });
    const queue = new ByteQueue();
    queue.push(hex('000003e8'));
    assert.equal(decoder.decode(queue), undefined, 'a frame of exactly maxFrameBytes is fine');
    const over = new ByteQueue();
    over.push(hex('000003e9'));
    assert.throws(() => decoder.decode(over), { code: 'ERR_FRAME_TOO_LARGE', reason: 'frame-too-large', limit: 1000, actual: 1001 });
  });

  it('counts prefix bytes towards maxFrameBytes', () => {
    const codec = lengthPrefixed({ lengthBytes: 1, lengthOffset: 2, maxFrameBytes: 4 });
    assert.equal(decodeChunks(codec, [hex('aabb 02 6869')]).error, undefined);
    assert.equal((decodeChunks(codec, [hex('aabb 03')]).error as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
  });

  it('refuses to send a frame its length field cannot describe', () => {
    assert.throws(() => encodeAll(lengthPrefixed({ lengthBytes: 1 }), [Buffer.alloc(256)]), { code: 'ERR_FRAME_TOO_LARGE' });
    assert.throws(() => encodeAll(lengthPrefixed({ lengthOffset: 2 }), [Buffer.alloc(1)]), { code: 'ERR_FRAME_TOO_LARGE' });
  });

  it('hands over a frame that lies in one read as a view of that read', () => {
    const chunk = hex('0002 6869 0001 21');
    const frames = decodeChunks(lengthPrefixed({ lengthBytes: 2 }), [chunk]).frames;
    assert.deepEqual(frames.map(String), ['hi', '!']);
    assert.ok(frames.every((f) => f.buffer === chunk.buffer));
  });

  it('names a bad option', () => {
    assert.throws(() => lengthPrefixed({ lengthBytes: 5 as never }), { code: 'ERR_INVALID_OPTION', path: 'lengthBytes' });
    assert.throws(() => lengthPrefixed({ lengthIncludesHeader: true, lengthAdjustment: 1 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => lengthPrefixed({ lenghtBytes: 2 } as never), { code: 'ERR_UNKNOWN_OPTION', path: 'lenghtBytes' });
  });
});
