/**
 * The outbound batch: where encoders write and where one socket write per
 * event-loop turn comes from.
 *
 * Small frames and headers are copied into a shared slab (a process-wide bump
 * allocator, 16 KiB at a time): the frames one connection sends in a turn sit
 * next to each other there and leave in a single `write`, so a read of sixteen
 * requests costs one write syscall, not sixteen. Payloads above
 * `COPY_LIMIT` are queued as their own buffers (no copy) and go out together
 * with the slab region through cork/uncork, which Node turns into one `writev`.
 *
 * ```
 *   slab: │ A: hdr+frame hdr+frame │ B: hdr+frame │ A: hdr+frame │ free … │
 *           └──── A region 1 ────┘                └ A region 2 ┘
 * ```
 * A region is never written to again once flushed; the slab is freed by the GC
 * when the last write that points into it completes. A connection holds no
 * slab between turns, so an idle connection pins no memory.
 */
import type { FrameSink } from '../codecs/codec.js';
import { viewAt } from '../buffers/view.js';

const SLAB_BYTES = 64 * 1024;
/** Payloads up to this size are copied next to their header; larger ones are sent as they are. */
export const COPY_LIMIT = 1024;

let slab: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabMemory: ArrayBufferLike = slab.buffer;
let slabPos = 0;

/** A view of `start`–`end` of a slab: a slab of its own memory (allocUnsafeSlow), whose memory the current one keeps at hand. */
function regionOf(s: Buffer, start: number, end: number): Buffer {
  return viewAt(s === slab ? slabMemory : s.buffer, start, end - start);
}

/** The per-connection state of the batch (fields live on the connection itself). */
export interface OutboundState {
  outSlab: Buffer | null;
  outStart: number;
  outEnd: number;
  outChunks: Buffer[] | null;
  /** Bytes queued in the batch, not yet handed to the socket. */
  outBytes: number;
}

function closeRegion(o: OutboundState): void {
  if (o.outSlab !== null && o.outEnd > o.outStart) {
    const piece = regionOf(o.outSlab, o.outStart, o.outEnd);
    if (o.outChunks === null) o.outChunks = [piece];
    else o.outChunks.push(piece);
  }
  o.outSlab = null;
}

function reserveSlow(o: OutboundState, n: number): number {
  closeRegion(o);
  if (slabPos + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(n > SLAB_BYTES ? n : SLAB_BYTES);
    slabMemory = slab.buffer;
    slabPos = 0;
  }
  const at = slabPos;
  slabPos += n;
  o.outSlab = slab;
  o.outStart = at;
  o.outEnd = slabPos;
  o.outBytes += n;
  return at;
}

/**
 * The sink encoders write into. One shared object: the connection that is
 * encoding points it at itself first (encoding is synchronous, so there is
 * never a second user at the same time).
 */
class Sink implements FrameSink {
  target: OutboundState = null as unknown as OutboundState;
  readonly copyLimit = COPY_LIMIT;

  get buf(): Buffer {
    return slab;
  }

  reserve(n: number): number {
    const o = this.target;
    if (o.outSlab === slab && o.outEnd === slabPos && slabPos + n <= slab.length) {
      const at = slabPos;
      slabPos += n;
      o.outEnd = slabPos;
      o.outBytes += n;
      return at;
    }
    return reserveSlow(o, n);
  }

  append(bytes: Buffer): void {
    const n = bytes.length;
    if (n <= COPY_LIMIT) {
      const at = this.reserve(n);
      slab.set(bytes, at);
      return;
    }
    const o = this.target;
    closeRegion(o);
    if (o.outChunks === null) o.outChunks = [bytes];
    else o.outChunks.push(bytes);
    o.outBytes += n;
  }
}

export const sink = new Sink();

/**
 * Takes what the batch holds: a single buffer (the common case), an array of
 * buffers to write under one cork, or `null` when empty. Resets the batch.
 */
export function takeBatch(o: OutboundState): Buffer | Buffer[] | null {
  const total = o.outBytes;
  if (total === 0) return null;
  o.outBytes = 0;
  if (o.outChunks === null) {
    const one = regionOf(o.outSlab as Buffer, o.outStart, o.outEnd);
    o.outSlab = null;
    return one;
  }
  closeRegion(o);
  const chunks = o.outChunks;
  o.outChunks = null;
  if (chunks.length === 1) return chunks[0] as Buffer;
  // Pieces interleaved with other connections' (a broadcast): one small copy beats a writev of many.
  if (total <= JOIN_LIMIT) return Buffer.concat(chunks, total);
  return chunks;
}

/** Batches of several pieces up to this size are joined into one buffer; larger ones go out with writev. */
const JOIN_LIMIT = 16 * 1024;

/** Drops whatever the batch holds (the connection is being destroyed). */
export function discardBatch(o: OutboundState): void {
  o.outBytes = 0;
  o.outSlab = null;
  o.outChunks = null;
}
