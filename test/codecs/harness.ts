/**
 * Drives codecs without sockets: encodes frames into one stream, feeds a stream
 * to a decoder in chosen chunks, and checks the decoder contract on the way
 * (every frame consumes bytes; only typed errors escape).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue, isCapstanError, type Codec, type FrameSink } from '../../src/index.js';

/** A FrameSink that collects what an encoder writes, in order. */
export class CollectingSink implements FrameSink {
  buf: Buffer = Buffer.alloc(0);
  readonly copyLimit = 1024;
  private readonly parts: Buffer[] = [];

  reserve(n: number): number {
    this.buf = Buffer.alloc(n);
    this.parts.push(this.buf);
    return 0;
  }

  append(bytes: Buffer): void {
    this.parts.push(Buffer.from(bytes));
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The wire bytes for `frames`, in order. */
export function encodeAll(codec: Codec, frames: readonly Buffer[]): Buffer {
  const sink = new CollectingSink();
  const encoder = codec.encoder();
  for (const f of frames) encoder.encode(f, sink);
  return sink.bytes();
}

/** True when the codec's encoder accepts `frame`. */
export function encodable(codec: Codec, frame: Buffer): boolean {
  try {
    codec.encoder().encode(frame, new CollectingSink());
    return true;
  } catch (err) {
    if (isCapstanError(err)) return false;
    throw err;
  }
}

export interface Decoded {
  frames: Buffer[];
  /** Sizes reported to `frameDiscarded`, in order. */
  discarded: number[];
  /** The error the decoder raised, if any (decoding stops there). */
  error?: unknown;
  /** What `finish` returned at the end, when it was called. */
  last?: Buffer;
  /** Bytes still queued after decoding (and after `finish`). */
  left: number;
}

/**
 * Pushes each chunk and decodes until the decoder wants more, as a connection
 * does. With `finish`, calls `decoder.finish` at the end like a peer EOF would.
 */
export function decodeChunks(
  codec: Codec,
  chunks: readonly Buffer[],
  options: { finish?: boolean; queue?: ByteQueue; afterChunk?: (queue: ByteQueue) => void } = {},
): Decoded {
  const discarded: number[] = [];
  const decoder = codec.decoder({ frameDiscarded: (n) => discarded.push(n) });
  const queue = options.queue ?? new ByteQueue();
  const frames: Buffer[] = [];
  const out: Decoded = { frames, discarded, left: 0 };
  try {
    for (const chunk of chunks) {
      queue.push(chunk);
      // Every frame consumes at least one byte, so more rounds than bytes means a stuck decoder.
      const rounds = queue.length + 1;
      for (let round = 0; queue.length > 0; round++) {
        assert.ok(round < rounds, 'decoder made no progress');
        const before = queue.length;
        const frame = decoder.decode(queue);
        if (frame === undefined) break;
        assert.ok(queue.length < before, 'decoder returned a frame without consuming bytes');
        frames.push(frame);
      }
      options.afterChunk?.(queue);
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    out.error = err;
  }
  if (options.finish === true && out.error === undefined && queue.length > 0) {
    try {
      out.last = decoder.finish?.(queue);
    } catch (err) {
      out.error = err;
    }
  }
  out.left = queue.length;
  return out;
}

/** Cuts `stream` at the given positions (any order, duplicates and out-of-range ignored). */
export function splitAt(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < stream.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(ownCopy(stream.subarray(from, p)));
    from = p;
  }
  chunks.push(ownCopy(stream.subarray(from)));
  return chunks;
}

/** Splits into chunks of `size` bytes. */
export function splitEvery(stream: Buffer, size: number): Buffer[] {
  const cuts: number[] = [];
  for (let p = size; p < stream.length; p += size) cuts.push(p);
  return splitAt(stream, cuts);
}

/**
 * A copy with its own ArrayBuffer, like a socket read: never from Node's shared
 * pool, so `frame.buffer === chunk.buffer` proves a zero-copy view.
 */
export function ownCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(bytes.length);
  out.set(bytes);
  return out;
}

/** Cut positions for a stream of up to `maxLength` bytes. */
export const cutsArb = fc.array(fc.nat({ max: 4096 }), { maxLength: 40 });

/** The property-test run count: enough to find boundary bugs, small enough for a loaded CI box. */
export const RUNS = { numRuns: 150 };

/** Asserts `err` is a typed decode error: frame-too-large or protocol-error, reason set. */
export function assertDecodeError(err: unknown): void {
  assert.ok(isCapstanError(err), `expected a CapstanError, got ${String(err)}`);
  assert.ok(err.code === 'ERR_FRAME_TOO_LARGE' || err.code === 'ERR_PROTOCOL', `unexpected code ${err.code}`);
  assert.equal(err.reason, err.code === 'ERR_FRAME_TOO_LARGE' ? 'frame-too-large' : 'protocol-error');
}
