import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue, delimited, lines, type Codec } from '../../src/index.js';
import { RUNS, cutsArb, decodeChunks, encodeAll, ownCopy, splitAt, splitEvery } from './harness.js';

const text = (frames: readonly Buffer[]) => frames.map((f) => f.toString());
const chunks = (...parts: string[]) => parts.map((p) => ownCopy(Buffer.from(p)));

/** Feeds `stream` one byte at a time and returns how many bytes were pushed when the decoder raised. */
function bytesUntilError(codec: Codec, stream: string): { at: number; error: unknown } | null {
  const decoder = codec.decoder({ frameDiscarded() {} });
  const queue = new ByteQueue();
  const bytes = Buffer.from(stream);
  for (let i = 0; i < bytes.length; i++) {
    queue.push(ownCopy(bytes.subarray(i, i + 1)));
    try {
      while (decoder.decode(queue) !== undefined);
    } catch (error) {
      return { at: i + 1, error };
    }
  }
  return null;
}

describe('lines codec', () => {
  it('splits at LF and at CRLF, keeping a CR that is not before an LF', () => {
    const got = decodeChunks(lines(), chunks('one\r\ntwo\nthree\rstill three\r\n\n'));
    assert.deepEqual(text(got.frames), ['one', 'two', 'three\rstill three', '']);
    assert.equal(got.left, 0);
  });

  it('ends every sent line with CRLF', () => {
    assert.equal(encodeAll(lines(), [Buffer.from('a'), Buffer.from(''), Buffer.from('bc')]).toString(), 'a\r\n\r\nbc\r\n');
  });

  it('accepts a line of exactly maxLineBytes, with LF or with CRLF', () => {
    const got = decodeChunks(lines({ maxLineBytes: 4 }), chunks('abcd\nefgh\r\n'));
    assert.equal(got.error, undefined);
    assert.deepEqual(text(got.frames), ['abcd', 'efgh']);
  });

  it('raises frame-too-large as soon as more than maxLineBytes bytes are pending without a line end', () => {
    const hit = bytesUntilError(lines({ maxLineBytes: 10 }), 'x'.repeat(100));
    assert.equal(hit?.at, 11);
    assert.equal((hit?.error as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
    assert.equal((hit?.error as { reason?: string }).reason, 'frame-too-large');
  });

  it('waits on a CR that may start the CRLF after a full-length line, and raises on the byte after it', () => {
    assert.equal(bytesUntilError(lines({ maxLineBytes: 3 }), 'abc\r\n'), null);
    assert.equal(bytesUntilError(lines({ maxLineBytes: 3 }), 'abc\rx')?.at, 5);
  });

  it('drops exactly the oversize lines in discard mode and keeps the lines around them, for any split', () => {
    const codec = lines({ maxLineBytes: 8, onOversize: 'discard' });
    const stream = Buffer.from(`ok1\r\n${'x'.repeat(50)}\r\nok2\n\n${'y'.repeat(9)}\nok3\r\n${'z'.repeat(20)}`);
    fc.assert(
      fc.property(cutsArb, (cuts) => {
        const got = decodeChunks(codec, splitAt(stream, cuts.map((c) => c % stream.length)), { finish: true });
        assert.equal(got.error, undefined);
        assert.deepEqual(text(got.frames), ['ok1', 'ok2', '', 'ok3']);
        assert.deepEqual(got.discarded, [52, 10, 20]);
        assert.equal(got.last, undefined);
        assert.equal(got.left, 0);
      }),
      RUNS,
    );
  });

  it('hands over an unterminated last line at peer EOF, without a trailing CR', () => {
    const got = decodeChunks(lines(), chunks('a\nlast\r'), { finish: true });
    assert.deepEqual(text(got.frames), ['a']);
    assert.equal(got.last?.toString(), 'last');
    assert.equal(got.left, 0);
  });

  it('leaves an unterminated last line to be reported as truncated when emitUnterminated is false', () => {
    const got = decodeChunks(lines({ emitUnterminated: false }), chunks('a\nlast'), { finish: true });
    assert.equal(got.last, undefined);
    assert.equal(got.left, 4);
  });

  it('refuses to send a line containing LF, unless checkOutbound is false', () => {
    for (const bad of ['a\nb', '\n', 'a\r\nb']) {
      assert.throws(() => encodeAll(lines(), [Buffer.from(bad)]), { code: 'ERR_INVALID_FRAME' });
    }
    assert.equal(encodeAll(lines({ checkOutbound: false }), [Buffer.from('a\nb')]).toString(), 'a\nb\r\n');
  });

  it('treats a bare CR as line content both ways, so the line echoes back unchanged', () => {
    const got = decodeChunks(lines(), chunks('hello\na\rb\ntail\r\r\nafter\n'));
    assert.deepEqual(text(got.frames), ['hello', 'a\rb', 'tail\r', 'after']);
    const wire = encodeAll(lines(), got.frames);
    assert.equal(wire.toString(), 'hello\r\na\rb\r\ntail\r\r\nafter\r\n');
    assert.deepEqual(text(decodeChunks(lines(), [wire]).frames), ['hello', 'a\rb', 'tail\r', 'after']);
  });

  it("closes at the first bare CR with bareCR: 'reject', and refuses to send one", () => {
    const got = decodeChunks(lines({ bareCR: 'reject' }), chunks('ok\r\nbad\rline\nnever\n'));
    assert.deepEqual(text(got.frames), ['ok']);
    assert.equal((got.error as { code?: string }).code, 'ERR_BARE_CR');
    assert.equal((got.error as { reason?: string }).reason, 'protocol-error');
    const tail = decodeChunks(lines({ bareCR: 'reject' }), chunks('unterminated\rtail'), { finish: true });
    assert.equal((tail.error as { code?: string }).code, 'ERR_BARE_CR');
    for (const bad of ['a\rb', 'tail\r']) assert.throws(() => encodeAll(lines({ bareCR: 'reject' }), [Buffer.from(bad)]), { code: 'ERR_INVALID_FRAME' });
    assert.throws(() => lines({ bareCR: 'strip' as 'reject' }), { code: 'ERR_INVALID_OPTION' });
  });

  it('applies withMaxFrameBytes as the new line bound and keeps the other options', () => {
    const codec = lines({ maxLineBytes: 100, onOversize: 'discard' }).withMaxFrameBytes(3);
    assert.equal(codec.maxFrameBytes, 3);
    const got = decodeChunks(codec, chunks('abcd\nabc\n'));
    assert.deepEqual(text(got.frames), ['abc']);
    assert.deepEqual(got.discarded, [5]);
  });
});

describe('delimited codec', () => {
  it('splits at CRLF by default, is named crlf, and keeps a lone LF inside a frame', () => {
    const codec = delimited();
    assert.equal(codec.name, 'crlf');
    assert.deepEqual(text(decodeChunks(codec, chunks('a\nb\r\nc\r', '\n')).frames), ['a\nb', 'c']);
  });

  it('splits at a delimiter that arrives split over three reads', () => {
    const codec = delimited({ delimiter: '<END>' });
    assert.equal(codec.name, 'delimited');
    assert.deepEqual(text(decodeChunks(codec, chunks('one<E', 'N', 'D>two<END>')).frames), ['one', 'two']);
  });

  it('keeps the delimiter on decoded frames and expects it on sent frames with keepDelimiter', () => {
    const codec = delimited({ delimiter: ';', keepDelimiter: true });
    assert.deepEqual(text(decodeChunks(codec, chunks('a;b;')).frames), ['a;', 'b;']);
    assert.equal(encodeAll(codec, [Buffer.from('a;')]).toString(), 'a;');
    assert.throws(() => encodeAll(codec, [Buffer.from('a')]), { code: 'ERR_INVALID_FRAME' });
    assert.throws(() => encodeAll(codec, [Buffer.from('a;b;')]), { code: 'ERR_INVALID_FRAME' });
  });

  it('waits on a possible delimiter start after a full-length frame, and raises once none can fit', () => {
    const codec = delimited({ maxFrameBytes: 4 });
    assert.equal(bytesUntilError(codec, 'abcd\r\n'), null);
    assert.equal(bytesUntilError(codec, 'abcd\rx')?.at, 6);
    assert.equal(bytesUntilError(codec, 'abcdefgh')?.at, 5);
  });

  it('raises frame-too-large when the delimiter arrives after more than maxFrameBytes bytes in one read', () => {
    const got = decodeChunks(delimited({ delimiter: '\0', maxFrameBytes: 2 }), chunks('abc\0'));
    assert.equal((got.error as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
  });

  it('resumes the scan where it stopped instead of rescanning a long frame from its start', () => {
    const starts: Array<{ from: number; length: number }> = [];
    class RecordingQueue extends ByteQueue {
      override indexOf(needle: Buffer, from = 0): number {
        starts.push({ from, length: this.length });
        return super.indexOf(needle, from);
      }
    }
    const frame = Buffer.alloc(256 * 1024, 'r');
    const stream = Buffer.concat([frame, Buffer.from('\r\n')]);
    const got = decodeChunks(delimited({ maxFrameBytes: frame.length }), splitEvery(stream, 1024), { queue: new RecordingQueue() });
    assert.equal(got.frames.length, 1);
    assert.ok(got.frames[0]?.equals(frame));
    for (let i = 1; i < starts.length; i++) {
      const prev = starts[i - 1] as { from: number; length: number };
      assert.ok((starts[i] as { from: number }).from >= prev.length - 1, `scan ${i} restarted at ${starts[i]?.from}`);
    }
  });

  it('drops the oversize frame through its delimiter in discard mode, even when the delimiter is split', () => {
    const codec = delimited({ delimiter: '||', maxFrameBytes: 3, onOversize: 'discard' });
    const got = decodeChunks(codec, chunks('ok||toolong|', '|nxt||'));
    assert.deepEqual(text(got.frames), ['ok', 'nxt']);
    assert.deepEqual(got.discarded, [9]);
  });

  it('does not hand over an unterminated tail at peer EOF unless emitUnterminated is set', () => {
    assert.equal(decodeChunks(delimited(), chunks('a\r\nb'), { finish: true }).last, undefined);
    assert.equal(decodeChunks(delimited({ emitUnterminated: true }), chunks('a\r\nb'), { finish: true }).last?.toString(), 'b');
  });

  it('refuses to send a frame that would reach the peer as more than one frame', () => {
    assert.throws(() => encodeAll(delimited(), [Buffer.from('a\r\nb')]), { code: 'ERR_INVALID_FRAME' });
    // With a self-overlapping delimiter, "xa" + "aa" would decode as "x".
    assert.throws(() => encodeAll(delimited({ delimiter: 'aa' }), [Buffer.from('xa')]), { code: 'ERR_INVALID_FRAME' });
    assert.equal(encodeAll(delimited({ delimiter: 'aa' }), [Buffer.from('ax')]).toString(), 'axaa');
    assert.throws(() => encodeAll(delimited({ delimiter: 'aba' }), [Buffer.from('xab')]), { code: 'ERR_INVALID_FRAME', actual: 1 });
    assert.equal(encodeAll(delimited({ checkOutbound: false }), [Buffer.from('a\r\nb')]).toString(), 'a\r\nb\r\n');
  });

  it('uses its own copy of the delimiter, so changing the caller buffer later changes nothing', () => {
    const d = Buffer.from('#');
    const codec = delimited({ delimiter: d });
    d[0] = 0x21;
    assert.deepEqual(text(decodeChunks(codec, chunks('a#b!')).frames), ['a']);
  });

  it('names a bad option: unknown key, empty delimiter, unknown oversize policy, both line bounds', () => {
    assert.throws(() => delimited({ delimter: ';' } as never), { code: 'ERR_UNKNOWN_OPTION', path: 'delimter' });
    assert.throws(() => delimited({ delimiter: '' }), { code: 'ERR_INVALID_OPTION', path: 'delimiter' });
    assert.throws(() => delimited({ onOversize: 'drop' as never }), { code: 'ERR_INVALID_OPTION', path: 'onOversize' });
    assert.throws(() => delimited({ maxFrameBytes: 0 }), { code: 'ERR_INVALID_OPTION', path: 'maxFrameBytes' });
    assert.throws(() => lines({ maxLineBytes: 5, maxFrameBytes: 5 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => lines({ checkOutbound: 'yes' as never }), { code: 'ERR_INVALID_OPTION', path: 'checkOutbound' });
  });
});

describe('delimiter codecs and memory', () => {
  it('hands over a frame that lies in one read as a view of that read, and a split frame as a copy', () => {
    const first = ownCopy(Buffer.from('one\ntw'));
    const second = ownCopy(Buffer.from('o\n'));
    const got = decodeChunks(lines(), [first, second]);
    assert.deepEqual(text(got.frames), ['one', 'two']);
    assert.equal(got.frames[0]?.buffer, first.buffer);
    assert.notEqual(got.frames[1]?.buffer, first.buffer);
    assert.notEqual(got.frames[1]?.buffer, second.buffer);
  });
});
