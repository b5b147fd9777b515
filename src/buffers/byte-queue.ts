/** The queue of received bytes a decoder reads from; drawn and explained on the class. */
const EMPTY = Buffer.alloc(0);

import { viewAt } from './view.js';

/**
 * The bytes received on one connection and not yet decoded, kept as
 * the list of chunks the socket delivered, never joined eagerly.
 *
 * ```
 *   first (offset ──►)          rest[restHead] …  rest[n-1]
 *  ┌──────────┬─────────┐      ┌──────────────┐   ┌─────────┐
 *  │ consumed │ pending │  ──► │   pending    │ … │ pending │
 *  └──────────┴─────────┘      └──────────────┘   └─────────┘
 *             ◄──────────────────── length ──────────────────►
 * ```
 *
 * `take(n)` returns a zero-copy `subarray` view when the n bytes lie in the
 * first chunk and copies only to join bytes that span chunks. Most reads hold
 * whole frames, so the chunk array is created only when a second chunk waits.
 *
 * Views share memory with the received chunk. Node gives every read its own
 * memory, so a view stays valid; holding one keeps its whole chunk alive.
 *
 * Decoders read it with `length`, `byteAt`, `readUInt`, `indexOf` and `peek`
 * (nothing consumed) and consume with `take`, `takeAfter`, `takeAll` and `skip`.
 * @category Codecs
 */
export class ByteQueue {
  /** Bytes waiting to be consumed. */
  length = 0;
  private first: Buffer | null = null;
  /** `first`'s memory and where in it `first` begins: read once per chunk, not per frame. */
  private memory: ArrayBufferLike = EMPTY.buffer;
  private base = 0;
  private offset = 0;
  private rest: Buffer[] | null = null;
  private restHead = 0;

  /** Appends a received chunk (not copied). */
  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.length += n;
    if (this.first === null) {
      this.setFirst(chunk);
      return;
    }
    if (this.rest === null) this.rest = [];
    this.rest.push(chunk);
  }

  /** Number of chunks holding pending bytes (1 for the common whole-frame read). */
  get chunkCount(): number {
    if (this.first === null) return 0;
    return 1 + (this.rest === null ? 0 : this.rest.length - this.restHead);
  }

  /** The byte at `index` (0 = the oldest pending byte). The caller keeps index < length. */
  byteAt(index: number): number {
    const first = this.first as Buffer;
    const inFirst = first.length - this.offset;
    if (index < inFirst) return first[this.offset + index] as number;
    let i = index - inFirst;
    const rest = this.rest as Buffer[];
    for (let k = this.restHead; k < rest.length; k++) {
      const c = rest[k] as Buffer;
      if (i < c.length) return c[i] as number;
      i -= c.length;
    }
    throw new RangeError(`byteAt(${index}) beyond queue length ${this.length}`);
  }

  /**
   * Reads an unsigned integer of `bytes` (1–8) bytes at `index` without consuming.
   * Eight-byte values above 2^53 come back as `Infinity` so a size check rejects them.
   */
  readUInt(index: number, bytes: number, littleEndian: boolean): number {
    const first = this.first as Buffer;
    const at = this.offset + index;
    if (at + bytes <= first.length) {
      // The common header sizes, read byte by byte: several times cheaper than the checked readers.
      if (bytes === 4) {
        return littleEndian
          ? (first[at] as number) + (first[at + 1] as number) * 0x100 + (first[at + 2] as number) * 0x10000 + (first[at + 3] as number) * 0x1000000
          : (first[at] as number) * 0x1000000 + (first[at + 1] as number) * 0x10000 + (first[at + 2] as number) * 0x100 + (first[at + 3] as number);
      }
      if (bytes === 2) {
        return littleEndian ? (first[at] as number) + (first[at + 1] as number) * 0x100 : (first[at] as number) * 0x100 + (first[at + 1] as number);
      }
      if (bytes === 1) return first[at] as number;
      if (bytes <= 6) return littleEndian ? first.readUIntLE(at, bytes) : first.readUIntBE(at, bytes);
      const big = littleEndian ? first.readBigUInt64LE(at) : first.readBigUInt64BE(at);
      return big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
    }
    let value = 0;
    for (let k = 0; k < bytes; k++) {
      const b = this.byteAt(index + (littleEndian ? bytes - 1 - k : k));
      value = value * 256 + b;
    }
    return value > Number.MAX_SAFE_INTEGER ? Infinity : value;
  }

  /**
   * Position of `needle` at or after `from`, or -1. Searches each chunk with the
   * native `indexOf` and checks only the few positions where a match would span
   * two chunks byte by byte.
   */
  indexOf(needle: Buffer, from = 0): number {
    if (this.first === null || from >= this.length) return -1;
    const nlen = needle.length;
    const first = this.first;
    if (this.rest === null || this.restHead === this.rest.length) {
      const i = chunkIndexOf(first, needle, this.offset + from);
      return i === -1 ? -1 : i - this.offset;
    }
    let base = 0; // queue index of the current chunk's first pending byte
    let chunk: Buffer = first;
    let start = this.offset;
    let k = this.restHead - 1;
    for (;;) {
      const avail = chunk.length - start;
      const localFrom = from - base;
      if (localFrom < avail) {
        const i = chunkIndexOf(chunk, needle, start + Math.max(0, localFrom));
        if (i !== -1) return base + (i - start);
        // A match may begin in this chunk's last nlen-1 bytes and end in a later chunk.
        const spanFrom = Math.max(from, base + avail - nlen + 1);
        for (let p = spanFrom; p < base + avail; p++) {
          if (p + nlen > this.length) return -1;
          if (this.matchesAt(needle, p)) return p;
        }
      }
      base += avail;
      k++;
      if (k >= (this.rest as Buffer[]).length) return -1;
      chunk = (this.rest as Buffer[])[k] as Buffer;
      start = 0;
    }
  }

  private matchesAt(needle: Buffer, index: number): boolean {
    for (let j = 0; j < needle.length; j++) {
      if (this.byteAt(index + j) !== needle[j]) return false;
    }
    return true;
  }

  /** The next `n` bytes without consuming them: a view when they lie in one chunk, else a copy. `n` ≤ length. */
  peek(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.first as Buffer;
    if (this.offset + n <= first.length) return viewAt(this.memory, this.base + this.offset, n);
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.byteAt(i);
    return out;
  }

  /** Removes and returns the next `n` bytes: a view when they lie in one chunk, else a copy. */
  take(n: number): Buffer {
    // An empty frame (a zero length field, an empty line) may come when nothing is queued.
    if (n === 0) return EMPTY;
    const first = this.first as Buffer;
    const end = this.offset + n;
    if (end <= first.length) {
      const view = viewAt(this.memory, this.base + this.offset, n);
      if (end < first.length) this.offset = end;
      else this.advanceFirst(end);
      this.length -= n;
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.first as Buffer;
      const want = Math.min(n - filled, c.length - this.offset);
      c.copy(out, filled, this.offset, this.offset + want);
      filled += want;
      this.advanceFirst(this.offset + want);
    }
    this.length -= n;
    return out;
  }

  /**
   * Discards `skip` bytes (a header), then removes and returns the next `n`: one
   * step for the common frame that lies in the first chunk.
   */
  takeAfter(skip: number, n: number): Buffer {
    const first = this.first as Buffer;
    const start = this.offset + skip;
    const end = start + n;
    if (end <= first.length && n > 0) {
      const view = viewAt(this.memory, this.base + start, n);
      this.length -= skip + n;
      if (end < first.length) this.offset = end;
      else this.advanceFirst(end);
      return view;
    }
    this.skip(skip);
    return this.take(n);
  }

  /** Removes and returns everything pending (a view when it is one chunk). */
  takeAll(): Buffer {
    return this.take(this.length);
  }

  /** Discards the next `n` bytes. */
  skip(n: number): void {
    const first = this.first;
    if (first !== null && this.offset + n < first.length) {
      this.offset += n;
      this.length -= n;
      return;
    }
    let left = n;
    while (left > 0) {
      const c = this.first as Buffer;
      const want = Math.min(left, c.length - this.offset);
      left -= want;
      this.advanceFirst(this.offset + want);
    }
    this.length -= n;
  }

  /** Discards everything and drops references to the chunks. */
  clear(): void {
    this.length = 0;
    this.first = null;
    this.memory = EMPTY.buffer;
    this.offset = 0;
    this.rest = null;
    this.restHead = 0;
  }

  private setFirst(chunk: Buffer): void {
    this.first = chunk;
    this.memory = chunk.buffer;
    this.base = chunk.byteOffset;
    this.offset = 0;
  }

  private advanceFirst(newOffset: number): void {
    const first = this.first as Buffer;
    if (newOffset < first.length) {
      this.offset = newOffset;
      return;
    }
    this.offset = 0;
    const rest = this.rest;
    if (rest === null || this.restHead === rest.length) {
      this.first = null;
      // A spare queue must not keep the last read's memory alive.
      this.memory = EMPTY.buffer;
      this.rest = null;
      this.restHead = 0;
      return;
    }
    this.setFirst(rest[this.restHead] as Buffer);
    rest[this.restHead] = undefined as unknown as Buffer;
    this.restHead++;
    if (this.restHead === rest.length) {
      this.rest = null;
      this.restHead = 0;
    } else if (this.restHead > 32 && this.restHead * 2 > rest.length) {
      this.rest = rest.slice(this.restHead);
      this.restHead = 0;
    }
  }
}

/**
 * `chunk.indexOf(needle, start)`, faster: Node searches for a number several
 * times faster than for a Buffer, so the needle's first byte is found that way
 * and the rest compared here; only a false start falls back to the Buffer search.
 */
export function chunkIndexOf(chunk: Buffer, needle: Buffer, start: number): number {
  const i = chunk.indexOf(needle[0] as number, start);
  const n = needle.length;
  if (i === -1 || n === 1) return i;
  if (i + n <= chunk.length) {
    let j = 1;
    while (j < n && chunk[i + j] === needle[j]) j++;
    if (j === n) return i;
  }
  return chunk.indexOf(needle, i + 1);
}
