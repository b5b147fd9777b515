import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CODEC_NAMES, codecFromName } from '../../src/index.js';
import { decodeChunks, encodeAll } from './harness.js';

describe('codec registry', () => {
  it('builds a codec for every listed name, each named as asked', () => {
    for (const listed of CODEC_NAMES) {
      const name = listed === 'fixed:<N>' ? 'fixed:8' : listed;
      const codec = codecFromName(name);
      assert.equal(codec.name, name === 'delimited' ? 'crlf' : name);
    }
  });

  it('gives lp names their length field size and byte order', () => {
    assert.deepEqual(encodeAll(codecFromName('lp2'), [Buffer.from('x')]), Buffer.from([0, 1, 0x78]));
    assert.deepEqual(encodeAll(codecFromName('lp3le'), [Buffer.from('x')]), Buffer.from([1, 0, 0, 0x78]));
    assert.deepEqual(encodeAll(codecFromName('lp8'), [Buffer.from('')]), Buffer.alloc(8));
  });

  it('reads LF or CRLF lines and writes CRLF for line, and keeps a CRLF-only frame byte-exact for crlf', () => {
    assert.deepEqual(decodeChunks(codecFromName('line'), [Buffer.from('a\nb\r\n')]).frames.map(String), ['a', 'b']);
    assert.equal(encodeAll(codecFromName('line'), [Buffer.from('a')]).toString(), 'a\r\n');
    assert.deepEqual(decodeChunks(codecFromName('crlf'), [Buffer.from('a\nb\r\n')]).frames.map(String), ['a\nb']);
  });

  it('passes options to the codec', () => {
    assert.equal(codecFromName('lp4', { maxFrameBytes: 100 }).maxFrameBytes, 100);
    assert.equal(codecFromName('line', { maxLineBytes: 10 }).maxFrameBytes, 10);
    const nul = codecFromName('delimited', { delimiter: '\0' });
    assert.equal(encodeAll(nul, [Buffer.from('a')]).toString(), 'a\0');
  });

  it('rejects an unknown name with a message listing the known ones', () => {
    for (const bad of ['lp5', 'lp1le', 'fixed:', 'fixed:0', 'LP4', 'json']) {
      assert.throws(() => codecFromName(bad), (err: { code?: string; message?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_OPTION');
        if (bad !== 'fixed:0') assert.match(err.message ?? '', /known codecs are raw, lp1, .*fixed:<N>/);
        return true;
      });
    }
  });

  it('rejects options that contradict the name', () => {
    assert.throws(() => codecFromName('lp2', { lengthBytes: 4 }), { code: 'ERR_INVALID_OPTION', path: 'lengthBytes' });
    assert.throws(() => codecFromName('lp4le', { littleEndian: false }), { code: 'ERR_INVALID_OPTION', path: 'littleEndian' });
    assert.throws(() => codecFromName('fixed:4', { frameBytes: 8 }), { code: 'ERR_INVALID_OPTION', path: 'frameBytes' });
    assert.throws(() => codecFromName('crlf', { delimiter: '\n' }), { code: 'ERR_INVALID_OPTION', path: 'delimiter' });
    assert.throws(() => codecFromName('raw', { lengthBytes: 2 }), { code: 'ERR_UNKNOWN_OPTION' });
  });
});
