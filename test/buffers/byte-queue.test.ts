import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue } from '../../src/index.js';

/** A chunk with its own memory, as a socket read delivers it. */
function chunkOf(bytes: Uint8Array | string): Buffer {
  const src = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const out = Buffer.alloc(src.length);
  out.set(src);
  return out;
}

type Op =
  | { kind: 'push'; bytes: Uint8Array }
  | { kind: 'take' | 'skip' | 'byteAt'; at: number }
  | { kind: 'indexOf'; needle: Uint8Array; from: number }
  | { kind: 'readUInt'; at: number; bytes: number; le: boolean };

// A two-letter alphabet makes needles match often, and across chunk edges.
const smallBytes = (min: number, max: number) => fc.array(fc.constantFrom(97, 98), { minLength: min, maxLength: max }).map((a) => Uint8Array.from(a));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), bytes: fc.oneof(smallBytes(0, 9), fc.uint8Array({ maxLength: 9 })) }),
  fc.record({ kind: fc.constantFrom('take' as const, 'skip' as const, 'byteAt' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('indexOf' as const), needle: smallBytes(1, 4), from: fc.nat() }),
  fc.record({ kind: fc.constant('readUInt' as const), at: fc.nat(), bytes: fc.constantFrom(1, 2, 3, 4, 6, 8), le: fc.boolean() }),
);

function refReadUInt(ref: Buffer, at: number, bytes: number, le: boolean): number {
  if (bytes === 8) {
    const big = le ? ref.readBigUInt64LE(at) : ref.readBigUInt64BE(at);
    return big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
  }
  return le ? ref.readUIntLE(at, bytes) : ref.readUIntBE(at, bytes);
}

describe('ByteQueue', () => {
  it('agrees with one concatenated Buffer on take, skip, byteAt, indexOf and readUInt across chunk boundaries', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const q = new ByteQueue();
        let ref = Buffer.alloc(0);
        for (const op of ops) {
          if (op.kind === 'push') {
            q.push(chunkOf(op.bytes));
            ref = Buffer.concat([ref, op.bytes]);
          } else if (op.kind === 'indexOf') {
            const from = op.from % (ref.length + 2);
            const want = from >= ref.length ? -1 : ref.indexOf(Buffer.from(op.needle), from);
            assert.equal(q.indexOf(Buffer.from(op.needle), from), want);
          } else if (ref.length > 0) {
            if (op.kind === 'readUInt') {
              if (ref.length < op.bytes) continue;
              const at = op.at % (ref.length - op.bytes + 1);
              assert.equal(q.readUInt(at, op.bytes, op.le), refReadUInt(ref, at, op.bytes, op.le));
              continue;
            }
            const n = op.at % (ref.length + 1);
            if (op.kind === 'byteAt') {
              if (n < ref.length) assert.equal(q.byteAt(n), ref[n]);
            } else if (op.kind === 'take') {
              assert.deepEqual(q.take(n), ref.subarray(0, n));
              ref = ref.subarray(n);
            } else {
              q.skip(n);
              ref = ref.subarray(n);
            }
          }
          assert.equal(q.length, ref.length);
        }
        assert.deepEqual(q.takeAll(), ref);
        assert.equal(q.length, 0);
        assert.equal(q.chunkCount, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('returns a view sharing memory with the chunk when the bytes lie in one chunk', () => {
    const q = new ByteQueue();
    const a = chunkOf('hello world');
    q.push(a);
    q.push(chunkOf('!'));
    const view = q.take(5);
    assert.equal(view.toString(), 'hello');
    assert.equal(view.buffer, a.buffer);
    a[0] = 0x4a;
    assert.equal(view.toString(), 'Jello');
  });

  it('copies into fresh memory when the bytes span two chunks', () => {
    const q = new ByteQueue();
    const a = chunkOf('abc');
    const b = chunkOf('def');
    q.push(a);
    q.push(b);
    const joined = q.take(5);
    assert.equal(joined.toString(), 'abcde');
    assert.notEqual(joined.buffer, a.buffer);
    assert.notEqual(joined.buffer, b.buffer);
    assert.equal(q.takeAll().toString(), 'f');
  });

  it('gives an empty buffer for take(0) even when nothing is queued', () => {
    const q = new ByteQueue();
    assert.equal(q.take(0).length, 0);
    q.push(chunkOf('ab'));
    q.skip(2);
    assert.equal(q.take(0).length, 0);
    assert.equal(q.length, 0);
  });

  it('finds a needle that starts in one chunk and ends two chunks later', () => {
    const q = new ByteQueue();
    for (const part of ['xx\r', '\n', '\r', '\nyy']) q.push(chunkOf(part));
    assert.equal(q.indexOf(Buffer.from('\r\n\r\n')), 2);
    assert.equal(q.indexOf(Buffer.from('\r\n\r\n'), 3), -1);
    assert.equal(q.indexOf(Buffer.from('yy'), 1), 6);
  });

  it('reads an 8-byte value above 2^53 as Infinity in one chunk and across chunks', () => {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(2n ** 53n + 2n);
    const q = new ByteQueue();
    q.push(chunkOf(big));
    assert.equal(q.readUInt(0, 8, false), Infinity);
    const split = new ByteQueue();
    split.push(chunkOf(big.subarray(0, 3)));
    split.push(chunkOf(big.subarray(3)));
    assert.equal(split.readUInt(0, 8, false), Infinity);
    assert.equal(split.readUInt(0, 8, true), Infinity);
  });

  it('keeps working after thousands of small chunks pass through', () => {
    const q = new ByteQueue();
    let expected = '';
    let got = '';
    for (let i = 0; i < 5000; i++) {
      const s = String(i % 10);
      q.push(chunkOf(s));
      expected += s;
      if (q.length >= 7) got += q.take(7).toString();
    }
    got += q.takeAll().toString();
    assert.equal(got, expected);
    assert.equal(q.chunkCount, 0);
  });
});
