/**
 * The write path: a connection's batch to the socket, once per event-loop
 * turn, and backpressure (the marks, pausing reads, `drain`).
 *
 * ```
 *  send ─► encoder ─► batch (outbound.ts) ─┬─ below the mark: queued for the turn's write
 *                                          └─ above it: written now, reads pause if the
 *                                             kernel did not take it all, `drain` resumes them
 * ```
 *
 * Connections with replies waiting are written once per event-loop turn:
 * after the poll phase has handed over every read that was ready (setImmediate
 * runs right after it), not after each read. The system calls are the same
 * (one write per connection), but the replies leave together, so a client
 * serving many connections wakes once for the lot instead of once per reply,
 * and each write costs the server less: the 64-byte echo at one message per read
 * went from 0.94x to 1.00x the raw echo's messages per second in paired runs.
 * At most MAX_DEFERRED connections wait: the eighth writes them all at once,
 * which bounds what a reply waits for (at a fixed 500 msgs/s x 100 connections,
 * an unbounded wait added 60 µs to the median, 8 add about 25 µs).
 * Connections that took a published frame (`sendEncoded`) are the exception:
 * they wait for the turn's end whatever their number, so a publish to many and
 * several publishes in one turn cost each of them one write.
 */
import { capstanError } from '../errors.js';
import { State, type Connection } from './connection.js';
import {
  F_BP_PAUSED,
  F_DIRTY,
  F_DRAIN_LISTENING,
  F_DRAIN_QUEUED,
  F_FILTER_HELD,
  F_FRAMES_HELD,
  F_IN_DATA,
  F_IN_LOOP,
  F_NEED_DRAIN,
  F_OVER_HIGH,
  F_PEER_END_HANDLED,
  F_PEER_ENDED,
  F_USER_PAUSED,
} from './flags.js';
import { takeBatch } from './outbound.js';
import { listenForDrain } from './socket-events.js';

const dirty: Connection<any>[] = [];
let flushScheduled = false;
const MAX_DEFERRED = 8;
/**
 * Connections that took a published frame this turn. They are written when the
 * turn ends and never early: one publish reaches many connections at once, and
 * the MAX_DEFERRED rule would write each of them once per message published in
 * the turn instead of once.
 */
const turnEnd: Connection<any>[] = [];

/** Connections whose batch this turn is being timed for handler latency, and when decoding began. */
const timed: Connection<any>[] = [];
const timedAt: number[] = [];

/** Queues `c`'s batch for this turn's write. */
export function scheduleFlush(c: Connection<any>): void {
  c.flags |= F_DIRTY;
  if (dirty.push(c) >= MAX_DEFERRED) {
    flushDirty();
    return;
  }
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(onTurnEnd);
  }
}

/** Queues `c`'s batch for the end of this turn's writes (see {@link turnEnd}). */
export function scheduleTurnFlush(c: Connection<any>): void {
  c.flags |= F_DIRTY;
  turnEnd.push(c);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(onTurnEnd);
  }
}

/** Records `c`'s handler latency from `t0` when this turn's write takes its replies. */
export function timeUntilWritten(c: Connection<any>, t0: number): void {
  timed.push(c);
  timedAt.push(t0);
}

function onTurnEnd(): void {
  flushScheduled = false;
  flushDirty();
  // A flush may queue more (a drain handler that publishes); the loop takes those too.
  for (let i = 0; i < turnEnd.length; i++) {
    const c = turnEnd[i] as Connection<any>;
    c.flags &= ~F_DIRTY;
    flushBatch(c);
  }
  turnEnd.length = 0;
}

function flushDirty(): void {
  // A flush may make another connection dirty (a handler called from drain); loop until quiet.
  for (let i = 0; i < dirty.length; i++) {
    const c = dirty[i] as Connection<any>;
    c.flags &= ~F_DIRTY;
    flushBatch(c);
  }
  dirty.length = 0;
  if (timed.length > 0) {
    const now = performance.now();
    for (let i = 0; i < timed.length; i++) (timed[i] as Connection<any>).ctx.latency?.record((now - (timedAt[i] as number)) * 1000);
    timed.length = 0;
    timedAt.length = 0;
  }
}

/** Writes `c`'s batch: one socket write, or one cork/uncork for several buffers. Returns the bytes written. */
export function flushBatch(c: Connection<any>): number {
  const bytes = c.outBytes;
  if (bytes === 0) return 0;
  const batch = takeBatch(c);
  if (batch === null) return 0;
  const chain = c.filters;
  if (chain === null) return writeBatch(c, batch, bytes);
  chain.outbound(batch);
  c.sockQueued = c.socket.writableLength + chain.pendingBytes;
  // An asynchronous filter (a compressor) holds the batch: the socket's queue alone would never pass the mark.
  if (c.sockQueued > c.ctx.limits.highWaterBytes && (c.flags & F_BP_PAUSED) === 0 && c.st <= State.Open) pauseForBackpressure(c);
  return bytes;
}

/** Writes a batch to the socket and keeps the marks: what every flush, and a filter's output, ends in. */
export function writeBatch(c: Connection<any>, batch: Buffer | Buffer[], bytes: number): number {
  const s = c.socket;
  const ctx = c.ctx;
  const before = s.writableLength;
  if (Array.isArray(batch)) {
    s.cork();
    for (let i = 0; i < batch.length; i++) s.write(batch[i] as Buffer);
    s.uncork();
  } else {
    s.write(batch);
  }
  ctx.counters.bytesOut += bytes;
  const after = s.writableLength;
  c.sockQueued = c.filters === null ? after : after + c.filters.pendingBytes;
  if (after > 0) {
    const now = ctx.wheel.now();
    c.lastWrite = now;
    if (before === 0 && ctx.limits.writeTimeoutMs > 0) {
      c.stallSince = now;
      c.stallDone = s.bytesWritten - after;
      ctx.wheel.scheduleBy(c, now + ctx.limits.writeTimeoutMs);
    }
    if (after > ctx.limits.highWaterBytes && (c.flags & F_BP_PAUSED) === 0 && c.st <= State.Open) {
      pauseForBackpressure(c);
      return bytes;
    }
  }
  // Told to wait (send returned false) but the kernel took the batch: below the mark already.
  if ((c.flags & F_NEED_DRAIN) !== 0 && (c.flags & F_BP_PAUSED) === 0 && (c.flags & F_DRAIN_QUEUED) === 0) {
    c.flags |= F_DRAIN_QUEUED;
    process.nextTick(emitDrain, c);
  }
  return bytes;
}

/** The queue passed the high-water mark and the kernel did not take it: stop reading until `drain`. */
function pauseForBackpressure(c: Connection<any>): void {
  c.flags |= F_BP_PAUSED;
  c.flags |= F_NEED_DRAIN;
  c.ctx.counters.backpressurePauses++;
  if ((c.flags & F_DRAIN_LISTENING) === 0) {
    c.flags |= F_DRAIN_LISTENING;
    listenForDrain(c.socket);
  }
  if ((c.flags & F_USER_PAUSED) === 0) c.socket.pause();
}

/**
 * A filter finished a batch (its output, if any, is written): what it held
 * counts no more. The socket's `drain` resumes a paused connection only when
 * the socket had a queue; when the filter held the bytes, this does.
 */
export function filterSettled(c: Connection<any>): void {
  const chain = c.filters;
  if (chain === null || c.st > State.Ending) return;
  const s = c.socket;
  const queued = s.writableLength;
  c.sockQueued = queued + chain.pendingBytes;
  if ((c.flags & F_BP_PAUSED) === 0) return;
  if (queued === 0) {
    if (c.bufferedBytes <= c.ctx.limits.highWaterBytes) socketDrained(c);
    return;
  }
  // The socket emits `drain` only after a write it refused; under its own mark it never will,
  // so an empty write's callback (after the queued ones) looks again.
  if (s.writableNeedDrain || chain.settling) return;
  chain.settling = true;
  s.write(NO_BYTES, () => {
    chain.settling = false;
    filterSettled(c);
  });
}

const NO_BYTES = Buffer.alloc(0);

function emitDrain(c: Connection<any>): void {
  c.flags &= ~F_DRAIN_QUEUED;
  if (c.bufferedBytes <= c.ctx.limits.highWaterBytes) socketDrained(c);
}

/**
 * A send took the queue near the high-water mark: reads the socket's exact
 * figure and decides. Returns what `send` returns.
 */
export function checkMarks(c: Connection<any>): boolean {
  const limits = c.ctx.limits;
  c.sockQueued = c.socket.writableLength + (c.filters?.pendingBytes ?? 0);
  const buffered = c.outBytes + c.sockQueued;
  if (buffered > limits.maxBufferedBytes) {
    c.destroy(
      'slow-consumer',
      capstanError('ERR_SLOW_CONSUMER', `outbound queue of ${buffered} bytes exceeds maxBufferedBytes ${limits.maxBufferedBytes}: the peer reads slower than the handler sends`, {
        reason: 'slow-consumer',
        limit: limits.maxBufferedBytes,
        actual: buffered,
      }),
    );
    return false;
  }
  if (buffered > limits.highWaterBytes) {
    c.flags |= F_NEED_DRAIN;
    c.flags |= F_OVER_HIGH;
    return false;
  }
  return true;
}

/** The socket's queue is empty again: resume reading, tell the handler, deliver what waited. */
export function socketDrained(c: Connection<any>): void {
  c.stallSince = 0;
  const chain = c.filters;
  c.sockQueued = c.socket.writableLength;
  if (chain !== null) {
    c.sockQueued += chain.pendingBytes;
    // The socket is empty but a filter still holds more than the mark: its batch's end (filterSettled) resumes.
    if (c.sockQueued > c.ctx.limits.highWaterBytes && (c.flags & F_BP_PAUSED) !== 0) return;
  }
  c.flags &= ~F_OVER_HIGH;
  if ((c.flags & F_BP_PAUSED) !== 0) {
    c.flags &= ~F_BP_PAUSED;
    if ((c.flags & F_USER_PAUSED) === 0 && c.st <= State.Ending) {
      // A filter that holds the socket's reads (it has received bytes to work through) restarts them itself.
      if ((c.flags & (F_FILTER_HELD | F_FRAMES_HELD)) === 0) c.socket.resume();
      c.filters?.resume();
    }
  }
  if ((c.flags & F_NEED_DRAIN) !== 0 && c.st === State.Open) {
    c.flags &= ~F_NEED_DRAIN;
    const h = c.ctx.handler;
    if (h.drain !== undefined) {
      c.flags |= F_IN_DATA;
      try {
        h.drain(c);
      } catch (err) {
        c.handlerThrew(err, 'drain');
      }
      c.flags &= ~F_IN_DATA;
    }
  }
  // Frames that waited for the queue to drain, and then the peer's FIN that came after them.
  if ((c.flags & F_IN_DATA) === 0 && (c.flags & F_IN_LOOP) === 0) {
    if (c.queue.length > 0 && c.st === State.Open && (c.flags & (F_USER_PAUSED | F_FRAMES_HELD)) === 0) c.pump();
    else flushBatch(c);
    if ((c.flags & F_PEER_ENDED) !== 0 && (c.flags & F_PEER_END_HANDLED) === 0 && c.st === State.Open) c.peerEnd();
  }
}
