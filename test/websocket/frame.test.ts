/** The frame decoder on its own: any split of a valid stream gives the same messages; UTF-8 checks agree with Node's. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { ByteQueue } from '../../src/buffers/byte-queue.js';
import { FrameDecoder, OP_FAILED } from '../../src/websocket/frame.js';
import { Utf8Stream } from '../../src/websocket/utf8.js';
import { frame } from './support.js';

const LIMITS = { maxMessageBytes: 1 << 20, maxFragments: 64 };

interface Event {
  op: number;
  payload: Buffer;
}

/** Feeds `chunks` (copied: unmasking happens in place) and collects what the decoder returns. */
function decodeAll(chunks: readonly Buffer[]): { events: Event[]; failed: number } {
  const d = new FrameDecoder(LIMITS, true);
  const q = new ByteQueue();
  const events: Event[] = [];
  for (const c of chunks) {
    q.push(Buffer.from(c));
    for (;;) {
      const out = d.decode(q);
      if (out === undefined) break;
      if (d.opcode === OP_FAILED) return { events, failed: d.failure?.code ?? 0 };
      events.push({ op: d.opcode, payload: Buffer.from(out) });
    }
  }
  assert.equal(q.length, 0, 'bytes left undecoded');
  return { events, failed: 0 };
}

/** A message, possibly fragmented, with control frames between its fragments. */
const messageArb = fc.record({
  op: fc.constantFrom(1, 2),
  text: fc.string({ unit: 'binary', maxLength: 300 }),
  bin: fc.uint8Array({ maxLength: 70_000 }).map((a) => Buffer.from(a)),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  pings: fc.array(fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)), { maxLength: 2 }),
});

interface Msg {
  op: number;
  text: string;
  bin: Buffer;
  cuts: number[];
  pings: Buffer[];
}

function encode(msgs: readonly Msg[]): { stream: Buffer; expected: Event[] } {
  const parts: Buffer[] = [];
  const expected: Event[] = [];
  for (const m of msgs) {
    const payload = m.op === 1 ? Buffer.from(m.text) : m.bin;
    const cuts = [...new Set(m.cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
    const pieces: Buffer[] = [];
    let at = 0;
    for (const c of cuts) {
      pieces.push(payload.subarray(at, c));
      at = c;
    }
    pieces.push(payload.subarray(at));
    pieces.forEach((p, i) => {
      parts.push(frame({ op: i === 0 ? m.op : 0, fin: i === pieces.length - 1, payload: p }));
      // Control frames may come between fragments.
      const ping = m.pings[i];
      if (ping !== undefined && i < pieces.length - 1) {
        parts.push(frame({ op: 9, payload: ping }));
        expected.push({ op: 9, payload: ping });
      }
    });
    expected.push({ op: m.op, payload });
  }
  return { stream: Buffer.concat(parts), expected };
}

function same(got: Event[], expected: Event[]): void {
  assert.deepEqual(
    got.map((e) => [e.op, e.payload.toString('hex')]),
    expected.map((e) => [e.op, e.payload.toString('hex')]),
  );
}

describe('the WebSocket frame decoder', () => {
  it('returns the same messages and control frames at every single chunk boundary of a stream', () => {
    fc.assert(
      fc.property(fc.array(messageArb.map((m) => ({ ...m, bin: m.bin.subarray(0, 300) })), { minLength: 1, maxLength: 4 }), (msgs) => {
        const { stream, expected } = encode(msgs);
        for (let i = 0; i <= stream.length; i++) {
          const r = decodeAll([stream.subarray(0, i), stream.subarray(i)]);
          assert.equal(r.failed, 0);
          same(r.events, expected);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('returns the same messages for any split of the stream into many chunks, 16- and 64-bit lengths included', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 40 }), (msgs, cuts) => {
        const { stream, expected } = encode(msgs);
        const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const c of at) {
          chunks.push(stream.subarray(from, c));
          from = c;
        }
        chunks.push(stream.subarray(from));
        const r = decodeAll(chunks);
        assert.equal(r.failed, 0);
        same(r.events, expected);
      }),
      { numRuns: 80 },
    );
  });

  it('delivers one byte at a time the same as all at once', () => {
    const { stream, expected } = encode([{ op: 1, text: 'a€𝄞b'.repeat(40), bin: Buffer.alloc(0), cuts: [3, 7, 100], pings: [Buffer.from('p')] }]);
    same(decodeAll([...stream].map((b) => Buffer.from([b]))).events, expected);
  });

  it('reports the same failure for any split of a stream that breaks a rule', () => {
    const bad = Buffer.concat([frame({ op: 1, fin: false, payload: 'ok' }), frame({ op: 0, payload: Buffer.from([0xe2, 0x28, 0xa1]) })]);
    for (let i = 0; i <= bad.length; i++) assert.equal(decodeAll([bad.subarray(0, i), bad.subarray(i)]).failed, 1007);
  });
});

describe('the streaming UTF-8 check', () => {
  it('agrees with Node’s isUtf8 on any bytes split anywhere', () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      fc.string({ unit: 'binary', maxLength: 20 }).map((s) => Buffer.from(s)),
      fc.array(fc.constantFrom(0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xa0, 0x90, 0x8f, 0x9f), { maxLength: 12 }).map((a) => Buffer.from(a)),
    );
    fc.assert(
      fc.property(bytesArb, fc.nat(), (b, cut) => {
        const at = cut % (b.length + 1);
        const u = new Utf8Stream();
        const ok = u.push(b.subarray(0, at)) < 0 && u.push(b.subarray(at)) < 0 && u.complete;
        assert.equal(ok, isUtf8(b));
      }),
      { numRuns: 2000 },
    );
  });
});
