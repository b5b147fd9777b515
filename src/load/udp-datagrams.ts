/**
 * The datagrams of a `udp://` run: the run's encoded messages, each one
 * datagram, with a tag at the start of its body that names the socket and
 * the in-flight slot it was sent from, so any reply can be matched to its
 * message whatever was lost, duplicated or reordered on the way.
 *
 * ```
 *   datagram:  │ codec header │ tag (16 ASCII hex) │ payload … │ codec trailer │
 *   tag:       │ socket (6)   │ position (4)       │ generation (6) │
 * ```
 *
 * A socket keeps up to `depth` datagrams in flight, each in a position of its
 * window; a position's generation counts the datagrams sent from it. Which of
 * the run's messages a datagram carries follows from its position and
 * generation, so a reply is checked against the message it answers even when
 * it comes after its datagram was counted lost. The tag is hex so that it
 * never holds a line codec's delimiter.
 */
import type { Codec } from '../codecs/codec.js';
import { capstanError } from '../errors.js';
import type { MessageSet } from './messages.js';

/** Bytes the tag takes at the start of every body. */
export const TAG_BYTES = 16;
/** Generations are 24-bit, so they wrap: a difference below half the range is "older". */
export const GEN_MASK = 0xffffff;

export interface DatagramSet {
  /** Distinct messages in the cycle. */
  readonly count: number;
  /** The encoded datagram of each message (its tag region holds zeros). */
  readonly wire: readonly Buffer[];
  /** Where each message's body (and so its tag) starts in its datagram. */
  readonly bodyAt: Int32Array;
  /** Body length of each message (tag included). */
  readonly bodyLength: Int32Array;
  /** The largest datagram. */
  readonly maxWire: number;
}

/**
 * The run's messages as datagram templates.
 * @throws CapstanError `ERR_INVALID_OPTION` when a body is too short for the tag.
 */
export function datagramSet(codec: Codec, m: MessageSet): DatagramSet {
  const wire: Buffer[] = [];
  const bodyAt = new Int32Array(m.count);
  const bodyLength = new Int32Array(m.count);
  let maxWire = 0;
  for (let i = 0; i < m.count; i++) {
    const encoded = Buffer.from(m.train.subarray(m.starts[i] as number, m.starts[i + 1] as number));
    const body = m.bodies[i] as Buffer;
    if (body.length < TAG_BYTES) {
      throw capstanError('ERR_INVALID_OPTION', `load: a udp:// message carries a ${TAG_BYTES}-byte tag in its body, so with framing ${codec.name} its size must be at least ${encoded.length - body.length + TAG_BYTES} bytes`, {
        path: 'size',
        actual: encoded.length,
      });
    }
    // Every core codec writes the body whole, after a header that does not depend on it; a random body occurs once.
    const at = encoded.indexOf(body);
    if (at < 0) throw capstanError('ERR_INVALID_OPTION', `load: framing ${codec.name} does not carry the body as it is, so udp:// replies cannot be matched`, { path: 'framing', actual: codec.name });
    encoded.fill(0x30, at, at + TAG_BYTES);
    wire.push(encoded);
    bodyAt[i] = at;
    bodyLength[i] = body.length;
    if (encoded.length > maxWire) maxWire = encoded.length;
  }
  return { count: m.count, wire, bodyAt, bodyLength, maxWire };
}

/** The message a datagram from window position `pos`, generation `gen`, of a socket whose cycle starts at `base` carries. */
export function messageOf(set: DatagramSet, pos: number, gen: number, base: number): number {
  return (pos * 7 + gen + base) % set.count;
}

const HEX = Buffer.from('0123456789abcdef');
const VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) VALUE[HEX[i] as number] = i;

function putHex(buf: Buffer, at: number, digits: number, value: number): void {
  for (let i = digits - 1; i >= 0; i--) {
    buf[at + i] = HEX[value & 15] as number;
    value >>>= 4;
  }
}

/** Writes the tag of (socket, pos, gen) at `at`. */
export function writeTag(buf: Buffer, at: number, socket: number, pos: number, gen: number): void {
  putHex(buf, at, 6, socket & GEN_MASK);
  putHex(buf, at + 6, 4, pos);
  putHex(buf, at + 10, 6, gen & GEN_MASK);
}

/** The tag read by {@link readTag} (module fields, so a read allocates nothing). */
export const tag = { socket: 0, pos: 0, gen: 0 };

function getHex(buf: Buffer, at: number, digits: number): number {
  let v = 0;
  for (let i = 0; i < digits; i++) {
    const d = VALUE[buf[at + i] as number] as number;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** Reads the tag at `at` into {@link tag}; false when there is none (too short, or not hex). */
export function readTag(buf: Buffer, at: number): boolean {
  if (buf.length < at + TAG_BYTES) return false;
  tag.socket = getHex(buf, at, 6);
  tag.pos = getHex(buf, at + 6, 4);
  tag.gen = getHex(buf, at + 10, 6);
  return tag.socket >= 0 && tag.pos >= 0 && tag.gen >= 0;
}

/** Whether `body` is message `m`'s body after its tag (the tag itself is checked by the caller). */
export function payloadMatches(set: DatagramSet, m: number, body: Buffer): boolean {
  const len = set.bodyLength[m] as number;
  if (body.length !== len) return false;
  const at = set.bodyAt[m] as number;
  return (set.wire[m] as Buffer).compare(body, TAG_BYTES, len, at + TAG_BYTES, at + len) === 0;
}

/** Where `body` first differs from message `m`'s, described for a person. */
export function payloadDifference(set: DatagramSet, m: number, body: Buffer): string {
  const len = set.bodyLength[m] as number;
  if (body.length !== len) return `has ${body.length} bytes, expected ${len}`;
  const wire = set.wire[m] as Buffer;
  const at = set.bodyAt[m] as number;
  let i = TAG_BYTES;
  while (i < len && body[i] === wire[at + i]) i++;
  const hex = (b: number | undefined): string => `0x${(b ?? 0).toString(16).padStart(2, '0')}`;
  return `differs at body byte ${i}: expected ${hex(wire[at + i])}, got ${hex(body[i])}`;
}
