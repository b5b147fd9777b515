/**
 * The read path: bytes from the socket to frames delivered to the handler.
 *
 * ```
 *  chunk ─► queue (lent) ─► decoder ─► handler.message ─► replies queued for the turn
 *              │                 └─ needs more: the frame deadline starts
 *              └─ peer FIN: frames first, then a last frame (finish) or a truncated one
 * ```
 *
 * Queues for received bytes are lent per read: a connection holds one only while
 * a partial frame waits, so idle connections cost no queue. NO_BYTES is the
 * shared empty stand-in (never pushed to); `spareQueue` keeps one returned queue
 * for the next read.
 */
import { ByteQueue } from '../buffers/byte-queue.js';
import { capstanError, isCapstanError } from '../errors.js';
import { State, type Connection } from './connection.js';
import { F_BP_PAUSED, F_DIRTY, F_FRAMES_HELD, F_GOT_FIRST_BYTE, F_IN_DATA, F_IN_LOOP, F_OVER_HIGH, F_PEER_END_HANDLED, F_PEER_ENDED, F_PEER_ENDED_FIRST, F_USER_PAUSED } from './flags.js';
import { flushBatch, scheduleFlush, timeUntilWritten } from './write-path.js';

export const NO_BYTES = new ByteQueue();
let spareQueue: ByteQueue | null = null;

/**
 * Handler latency is timed on one read batch in eight: two clock reads per batch
 * cost a measurable share of small-message throughput, and one in eight keeps the
 * percentiles just as representative under load.
 */
const LATENCY_SAMPLE_MASK = 7;
let sampledBatches = 0;

/** A chunk arrived from the socket. */
export function readChunk(c: Connection<any>, chunk: Buffer): void {
  const ctx = c.ctx;
  ctx.counters.bytesIn += chunk.length;
  c.lastRead = ctx.wheel.now();
  c.flags |= F_GOT_FIRST_BYTE;
  if (c.st !== State.Open && c.st !== State.Handshake) return; // ending: read only to see the peer's FIN
  if (c.filters !== null) return c.filters.inbound(chunk);
  acceptBytes(c, chunk);
}

/** Bytes for the codec: straight from the socket, or out of the connection's filters. */
export function acceptBytes(c: Connection<any>, chunk: Buffer): void {
  const ctx = c.ctx;
  let q = c.queue;
  if (q === NO_BYTES) {
    q = spareQueue ?? new ByteQueue();
    spareQueue = null;
    c.queue = q;
  }
  q.push(chunk);
  if (c.stage !== null) return c.stage.bytes(c); // a PROXY header or TLS detection looks first
  if (c.st === State.Handshake) return; // delivered once open
  const rec = ctx.latency;
  if (rec === null || (++sampledBatches & LATENCY_SAMPLE_MASK) !== 0) pumpFrames(c);
  else {
    // The sample spans decoding to the turn's write that takes the replies.
    const t0 = performance.now();
    const written = pumpFrames(c);
    if ((c.flags & F_DIRTY) !== 0) timeUntilWritten(c, t0);
    else if (written > 0) rec.record((performance.now() - t0) * 1000);
  }
  if (q.length === 0 && c.queue === q) {
    c.queue = NO_BYTES;
    spareQueue = q;
  }
}

/**
 * Delivers queued frames and queues their replies for the turn's write. When
 * replies pass the high-water mark mid-chunk, it writes them and carries on only
 * if the kernel took them; otherwise the rest of the frames wait for `drain`, so
 * one read of many small requests cannot queue unbounded replies.
 */
export function pumpFrames(c: Connection<any>): number {
  let written = 0;
  c.flags |= F_IN_DATA;
  for (;;) {
    decodeLoop(c);
    if ((c.flags & F_OVER_HIGH) === 0) {
      if (c.outBytes > 0 && (c.flags & F_DIRTY) === 0) scheduleFlush(c);
      break;
    }
    written += flushBatch(c);
    if ((c.flags & F_OVER_HIGH) === 0 || (c.flags & F_BP_PAUSED) !== 0 || c.st !== State.Open || c.queue.length === 0) break;
    c.flags &= ~F_OVER_HIGH;
  }
  c.flags &= ~F_IN_DATA;
  return written;
}

function decodeLoop(c: Connection<any>): void {
  if ((c.flags & F_IN_LOOP) !== 0) return;
  c.flags |= F_IN_LOOP;
  const q = c.queue;
  const ctx = c.ctx;
  const h = ctx.handler;
  let frames = 0;
  let needMore = false;
  while (c.st === State.Open && (c.flags & (F_USER_PAUSED | F_OVER_HIGH | F_FRAMES_HELD)) === 0 && q.length > 0) {
    const before = q.length;
    let frame: Buffer | undefined;
    try {
      frame = c.decoder.decode(q);
    } catch (err) {
      decodeFailed(c, err);
      break;
    }
    if (frame === undefined) {
      needMore = true;
      break;
    }
    if (q.length >= before) {
      c.fail('protocol-error', capstanError('ERR_PROTOCOL', `codec ${c.codec.name} returned a frame without consuming input (a codec bug)`));
      break;
    }
    frames++;
    if (h.message !== undefined) {
      try {
        h.message(c, frame);
      } catch (err) {
        c.handlerThrew(err, 'message');
        break;
      }
    }
  }
  ctx.counters.framesIn += frames;
  c.flags &= ~F_IN_LOOP;
  // The frame deadline runs from the read that began the frame still waiting for bytes.
  if (c.partialAt !== 0 && (frames > 0 || q.length === 0)) c.partialAt = 0;
  if (needMore && c.partialAt === 0) frameStarted(c);
}

function frameStarted(c: Connection<any>): void {
  const at = c.lastRead;
  c.partialAt = at;
  const ms = c.ctx.limits.frameTimeoutMs;
  if (ms > 0 && c.st === State.Open) c.ctx.wheel.scheduleBy(c, at + ms);
}

function decodeFailed(c: Connection<any>, err: unknown): void {
  if (isCapstanError(err) && err.reason !== undefined) {
    c.fail(err.reason, err);
    return;
  }
  // A decoder must only raise typed errors; anything else is a codec bug, reported as such.
  c.fail('protocol-error', capstanError('ERR_PROTOCOL', `codec ${c.codec.name} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
}

/**
 * The peer sent FIN. Every complete frame received before it is delivered
 * first, in order, even when backpressure is holding some of them (then
 * `socketDrained` finishes the job); only what is left after that can be a last
 * unterminated frame or a truncated one.
 */
export function peerEnded(c: Connection<any>): void {
  if ((c.flags & F_PEER_ENDED) === 0) {
    c.flags |= F_PEER_ENDED;
    if (c.st !== State.Ending) c.flags |= F_PEER_ENDED_FIRST;
  }
  if (c.st === State.Handshake) {
    c.handshakeAbandoned();
    return;
  }
  if (c.st !== State.Open || (c.flags & F_PEER_END_HANDLED) !== 0) return;
  // The FIN goes through the filters first; they hand on what they hold, then call back.
  if (c.filters !== null && !c.filters.inboundEnded) return c.filters.endInbound();
  if ((c.flags & (F_USER_PAUSED | F_FRAMES_HELD)) !== 0) return; // finished by resume() or holdFrames(false), after the frames it still holds
  const q = c.queue;
  if (q.length > 0) {
    if ((c.flags & (F_IN_DATA | F_IN_LOOP)) !== 0) return; // inside a pump: it calls back when done
    if ((c.flags & (F_BP_PAUSED | F_OVER_HIGH)) === 0) pumpFrames(c);
    if (c.st !== State.Open || (c.flags & (F_USER_PAUSED | F_FRAMES_HELD)) !== 0) return;
    // Replies to earlier frames are still queued above the mark: socketDrained() calls back.
    if (q.length > 0 && (c.flags & (F_BP_PAUSED | F_OVER_HIGH)) !== 0) return;
  }
  c.flags |= F_PEER_END_HANDLED;
  if (q.length > 0) {
    let last: Buffer | undefined;
    try {
      last = c.decoder.finish?.(q);
    } catch (err) {
      decodeFailed(c, err);
      return;
    }
    if (last !== undefined) {
      c.ctx.counters.framesIn++;
      c.flags |= F_IN_DATA;
      try {
        c.ctx.handler.message?.(c, last);
      } catch (err) {
        c.handlerThrew(err, 'message');
      }
      c.flags &= ~F_IN_DATA;
    } else if (q.length > 0) {
      const left = q.length;
      c.fail('protocol-error', capstanError('ERR_TRUNCATED_FRAME', `peer closed with ${left} bytes of an unfinished ${c.codec.name} frame`, {
        reason: 'protocol-error',
        actual: left,
      }));
      return;
    }
  }
  if (c.st !== State.Open) return;
  const h = c.ctx.handler;
  if (h.end !== undefined) {
    c.flags |= F_IN_DATA;
    try {
      h.end(c);
    } catch (err) {
      c.handlerThrew(err, 'end');
    }
    c.flags &= ~F_IN_DATA;
    flushBatch(c);
  } else {
    c.end();
  }
}
