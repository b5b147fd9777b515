import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codecFromName } from '../../src/codecs/registry.js';
import { buildMessages } from '../../src/load/messages.js';
import { ByteVerifier, EchoJudge, FrameVerifier, type Progress, type Verifier } from '../../src/load/verify.js';

function progress(issued: number, base: number): Progress {
  return { issued, done: 0, rxOff: 0, base, queue: null, decoder: null };
}

/** The reply stream an echo server sends for messages 0 … n-1 of a connection starting at `base`. */
function replies(train: Buffer, starts: Int32Array, count: number, base: number, n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const m = (i + base) % count;
    parts.push(train.subarray(starts[m], starts[m + 1]));
  }
  return Buffer.concat(parts);
}

/** Feeds `stream` cut at `cuts` through a fresh verifier; returns the completions or -1. */
function feed(v: Verifier, p: Progress, stream: Buffer, cuts: number[]): number {
  let at = 0;
  for (const end of [...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length]) {
    if (end === at) continue;
    // A shared read buffer is reused after each read: prove the verifier keeps nothing from it.
    const read = Buffer.from(stream.subarray(at, end));
    const k = v.consume(p, read, read.length);
    read.fill(0xee);
    if (k < 0) return -1;
    at = end;
  }
  return p.done;
}

for (const framing of ['raw', 'lp4', 'lp1', 'line', 'fixed:24']) {
  describe(`reply verification for ${framing} framing`, () => {
    const codec = codecFromName(framing);
    const sizeRange: [number, number] = framing.startsWith('fixed') ? [24, 24] : framing === 'lp1' ? [8, 200] : [10, 300];
    const set = buildMessages(codec, { sizeMin: sizeRange[0], sizeMax: sizeRange[1], payload: 'random', cap: 40 });
    const verifiers: Array<[string, () => Verifier]> = [['bytes', () => new ByteVerifier(set)]];
    if (framing !== 'raw') verifiers.push(['frames', () => new FrameVerifier(codec, new EchoJudge(set))]);

    for (const [name, make] of verifiers) {
      it(`counts every reply once however the stream is split (${name})`, () => {
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 60 }), fc.array(fc.nat(), { maxLength: 30 }), (n, base, cuts) => {
            const b = base % set.count;
            const stream = replies(set.train, set.starts, set.count, b, n);
            const p = progress(n, b);
            assert.equal(feed(make(), p, stream, cuts.map((c) => c % (stream.length + 1))), n);
            assert.equal(p.done, n);
          }),
          { numRuns: 150 },
        );
      });

      it(`rejects a reply stream with any one byte changed (${name})`, () => {
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 10 }), (n, where, flip, cuts) => {
            const stream = Buffer.from(replies(set.train, set.starts, set.count, 0, n));
            const i = where % stream.length;
            stream[i] = (stream[i] as number) ^ flip;
            const p = progress(n, 0);
            const result = feed(make(), p, stream, cuts.map((c) => c % (stream.length + 1)));
            // A frame verifier cannot see a changed length header that only makes the last frame look incomplete.
            assert.ok(result === -1 || (name === 'frames' && result < n), `corruption at byte ${i} of ${stream.length} went unnoticed`);
          }),
          { numRuns: 150 },
        );
      });
    }
  });
}

describe('message sets', () => {
  it('sizes each message on the wire with its framing included', () => {
    const set = buildMessages(codecFromName('lp4'), { sizeMin: 64, sizeMax: 64, payload: 'zeros', cap: 4 });
    assert.equal(set.fixedSize, 64);
    assert.equal(set.bodies[0]?.length, 60);
    assert.equal(set.starts[set.count + 4], (set.count + 4) * 64);
  });

  it('falls back to printable bytes when random bytes would contain the delimiter', () => {
    const set = buildMessages(codecFromName('line'), { sizeMin: 100, sizeMax: 100, payload: 'random', cap: 1 });
    assert.equal(set.payload, 'ascii');
    assert.ok(set.bodies.every((b) => !b.includes('\r') && !b.includes('\n')));
  });

  it('refuses a size the framing cannot make exactly, and an explicit payload it cannot carry', () => {
    assert.throws(() => buildMessages(codecFromName('lp4'), { sizeMin: 3, sizeMax: 3, payload: 'random', cap: 1 }), { code: 'ERR_INVALID_OPTION', message: /adds 4 bytes/ });
    assert.throws(() => buildMessages(codecFromName('line'), { sizeMin: 20, sizeMax: 20, payload: 'text:a\nb', cap: 1 }), { code: 'ERR_INVALID_OPTION', path: 'payload' });
  });
});
