/**
 * The messages a run sends, encoded once before the first connection opens.
 *
 * A connection sends a cycle of `count` distinct messages, starting at its own
 * offset in the cycle. The train holds the cycle followed by its first `cap`
 * messages again, so any run of up to `cap` consecutive messages (everything a
 * connection may have in flight) is one contiguous slice: a batch of sends is
 * one `write` of a view, and the reply stream is compared with one call.
 *
 * ```
 *   train:  │ m0 │ m1 │ … │ m(count-1) │ m0 │ m1 │ … │ m(cap-1) │
 *   starts:  0    s1   s2 …                                     end
 * ```
 */
import type { Codec, FrameSink } from '../codecs/codec.js';
import { ByteQueue } from '../buffers/byte-queue.js';
import { capstanError } from '../errors.js';

export interface MessageSet {
  /** Distinct messages in the cycle. */
  readonly count: number;
  /** Longest run of consecutive messages the train holds as one slice. */
  readonly cap: number;
  /** The encoded messages: the cycle, then its first `cap` messages again. */
  readonly train: Buffer;
  /** `starts[i]`: offset of message i of the train; `starts[i + 1] - starts[i]` is its wire size. Length `count + cap + 1`. */
  readonly starts: Int32Array;
  /** Frame bodies of the cycle's messages (what a decoder yields for each). */
  readonly bodies: readonly Buffer[];
  /** The wire size when every message has the same size, else 0. */
  readonly fixedSize: number;
  /** The payload kind used (`random` may fall back to `ascii` for delimiter framings). */
  readonly payload: string;
}

/** Where a connection's next messages come from: the pre-encoded train, or requests rendered per message. */
export interface Outbox {
  /**
   * The wire bytes of messages `issued … issued + k - 1` of connection `conn`, whose
   * cycle starts at `base`; valid until the socket has written them.
   */
  take(issued: number, base: number, conn: number, k: number): Buffer;
}

export interface MessageSpec {
  sizeMin: number;
  sizeMax: number;
  payload: string;
  /** Messages that may be in flight on one connection. */
  cap: number;
  /** Sizes are of the body, not the wire (a compressing codec, whose wire size follows from the bytes). */
  plainSizes?: boolean;
}

/** Upper bound on the train, so a large size times a deep window cannot exhaust memory. */
const TRAIN_BUDGET = 256 * 1024 * 1024;
const CYCLE = 61;

/** An encoder's output, collected into one growing buffer. */
export class Collector implements FrameSink {
  buf = Buffer.alloc(256);
  length = 0;
  /** Everything is copied here anyway. */
  readonly copyLimit = Number.MAX_SAFE_INTEGER;

  reserve(n: number): number {
    this.ensure(n);
    const at = this.length;
    this.length += n;
    return at;
  }

  append(bytes: Buffer): void {
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

function encode(codec: Codec, body: Buffer): Buffer {
  const out = new Collector();
  codec.encoder().encode(body, out);
  return out.buf.subarray(0, out.length);
}

/** The body length whose encoding takes exactly `wire` bytes. */
function bodyBytes(codec: Codec, wire: number): number {
  let overhead: number;
  try {
    overhead = encode(codec, Buffer.alloc(wire)).length - wire;
  } catch (err) {
    throw capstanError('ERR_INVALID_OPTION', `load: framing ${codec.name} cannot carry a ${wire}-byte message: ${(err as Error).message}`, { path: 'size', actual: wire, cause: err });
  }
  let body = wire - overhead;
  // A header that grows with the body (WebSocket's 7-, 16- or 64-bit length) may shrink again for the smaller body.
  if (body >= 0 && overhead !== 0 && encodedLength(codec, body) !== wire) body = wire - (encodedLength(codec, body) - body);
  if (body < 0 || (overhead !== 0 && encodedLength(codec, body) !== wire)) {
    throw capstanError('ERR_INVALID_OPTION', `load: framing ${codec.name} adds ${overhead} bytes, so a message cannot be exactly ${wire} bytes on the wire; choose a larger size`, {
      path: 'size',
      actual: wire,
    });
  }
  return body;
}

function encodedLength(codec: Codec, body: number): number {
  try {
    return encode(codec, Buffer.alloc(body)).length;
  } catch {
    return -1;
  }
}

/** splitmix32-style generator: the same bytes on every run and in every worker. */
function pattern(kind: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  if (kind === 'zeros') return out;
  if (kind.startsWith('text:')) {
    const text = Buffer.from(kind.slice(5));
    for (let i = 0; i < length; i++) out[i] = text[i % text.length] as number;
    return out;
  }
  let s = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let z = Math.imul(s ^ (s >>> 15), 1 | s);
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z;
    const r = (z ^ (z >>> 14)) >>> 0;
    out[i] = kind === 'ascii' ? 33 + (r % 94) : r & 255;
  }
  return out;
}

/** The first message that does not decode back to its own body, consuming exactly its bytes; -1 when all do. */
export function roundTrips(codec: Codec, encoded: readonly Buffer[], bodies: readonly Buffer[]): number {
  const decoder = codec.decoder({ frameDiscarded() {} });
  for (let i = 0; i < encoded.length; i++) {
    const queue = new ByteQueue();
    queue.push(Buffer.from(encoded[i] as Buffer));
    let frame: Buffer | undefined;
    try {
      frame = decoder.decode(queue);
    } catch {
      return i;
    }
    if (frame === undefined || queue.length !== 0 || !frame.equals(bodies[i] as Buffer)) return i;
  }
  return -1;
}

function build(codec: Codec, spec: MessageSpec, payload: string, count: number): MessageSet {
  const bodyLengths: number[] = [];
  const wireSizes: number[] = [];
  for (let i = 0; i < count; i++) {
    // Sizes spread evenly over the range, visited in a scrambled order.
    let wire = spec.sizeMin === spec.sizeMax ? spec.sizeMin : spec.sizeMin + Math.round((((i * 37) % count) / Math.max(1, count - 1)) * (spec.sizeMax - spec.sizeMin));
    let body = -1;
    // In a range, a size the framing cannot make exactly (WebSocket: 132 and 133 bytes, where the length grows to 16 bits) gives way to the next few.
    for (let tries = spec.sizeMin === spec.sizeMax ? 1 : 16; body < 0; tries--) {
      try {
        body = spec.plainSizes === true ? wire : bodyBytes(codec, wire);
      } catch (err) {
        if (tries <= 1 || wire >= spec.sizeMax) throw err;
        wire++;
      }
    }
    wireSizes.push(wire);
    bodyLengths.push(body);
  }
  const source = pattern(payload, Math.max(...bodyLengths) + 256);
  const bodies = bodyLengths.map((n, i) => {
    const at = (i * 7) % 251;
    return source.subarray(at, at + n);
  });
  let encoded: Buffer[] = [];
  let why = 'a message does not decode back to itself (the body may contain the delimiter)';
  try {
    encoded = bodies.map((b) => encode(codec, b));
  } catch (err) {
    why = (err as Error).message;
  }
  if (encoded.length === 0 || roundTrips(codec, encoded, bodies) !== -1) {
    throw capstanError('ERR_INVALID_OPTION', `load: payload ${payload} cannot be framed with ${codec.name}: ${why}; use payload ascii or text:<string>`, {
      path: 'payload',
      actual: payload,
    });
  }
  const total = count + spec.cap;
  const starts = new Int32Array(total + 1);
  for (let i = 0; i < total; i++) starts[i + 1] = (starts[i] as number) + (encoded[i % count] as Buffer).length;
  const train = Buffer.allocUnsafe(starts[total] as number);
  for (let i = 0; i < total; i++) (encoded[i % count] as Buffer).copy(train, starts[i]);
  const lengths = spec.plainSizes === true ? encoded.map((e) => e.length) : wireSizes;
  const fixed = lengths.every((w) => w === lengths[0]) ? (lengths[0] as number) : 0;
  return { count, cap: spec.cap, train, starts, bodies, fixedSize: fixed, payload };
}

/** The train as an {@link Outbox}: any run of up to `cap` consecutive messages is one view of it. */
export function trainOutbox(m: MessageSet): Outbox {
  return {
    take(issued, base, _conn, k) {
      const first = (issued + base) % m.count;
      return m.train.subarray(m.starts[first] as number, m.starts[first + k] as number);
    },
  };
}

/**
 * Encodes the messages of a run with `codec`.
 * @throws CapstanError `ERR_INVALID_OPTION` when a size cannot be framed exactly,
 *   the payload does not survive the framing, or `cap × size` exceeds 256 MiB.
 */
export function buildMessages(codec: Codec, spec: MessageSpec): MessageSet {
  const count = Math.max(1, Math.min(CYCLE, Math.floor(TRAIN_BUDGET / spec.sizeMax) - spec.cap));
  if ((count + spec.cap) * spec.sizeMax > TRAIN_BUDGET) {
    throw capstanError('ERR_INVALID_OPTION', `load: ${spec.cap} messages in flight of up to ${spec.sizeMax} bytes need more than 256 MiB per connection window; lower depth or size`, {
      path: 'depth',
      actual: spec.cap,
    });
  }
  if (spec.payload !== 'random') return build(codec, spec, spec.payload, count);
  try {
    return build(codec, spec, 'random', count);
  } catch (err) {
    // Binary bytes may contain a delimiter; printable bytes never contain CR or LF.
    if ((err as { path?: string }).path !== 'payload') throw err;
    return build(codec, spec, 'ascii', count);
  }
}

/**
 * How many of a connection's last `issued` messages (its cycle starting at `base`)
 * are not wholly in the last `bytes` bytes it wrote: what is still queued when a
 * connection ends is the tail of its stream, and a message cut anywhere was not taken.
 */
export function messagesInTail(messages: MessageSet, base: number, issued: number, bytes: number): number {
  if (bytes <= 0) return 0;
  if (messages.fixedSize > 0) return Math.min(issued, Math.ceil(bytes / messages.fixedSize));
  const starts = messages.starts;
  let n = 0;
  for (let i = issued - 1; i >= 0 && bytes > 0; i--, n++) {
    const m = (i + base) % messages.count;
    bytes -= (starts[m + 1] as number) - (starts[m] as number);
  }
  return n;
}
