/**
 * A connection's deadlines, checked lazily: reads and writes only stamp plain
 * fields; the timer wheel calls back when the earliest deadline may be due, and
 * the check either acts (closes with the timeout's reason) or files the
 * connection again at its next deadline.
 *
 * | deadline           | runs from                         | on expiry                   |
 * |--------------------|-----------------------------------|-----------------------------|
 * | handshake          | accept (or connect, for clients)  | destroy `handshake-timeout` |
 * | first byte         | open, until the first byte        | destroy `first-byte-timeout`|
 * | frame              | the read that began a partial frame | destroy `frame-timeout`   |
 * | idle               | last byte read or written         | end `idle-timeout`          |
 * | write stall        | last completed write while queued | destroy `write-timeout`     |
 * | linger             | our FIN                           | destroy `linger-timeout`    |
 * | quiet (shutdown)   | last byte read, while draining    | end `shutdown`              |
 * | protocol           | set by the protocol on top (a WebSocket's upgrade, heartbeat, close handshake) | its own |
 */
import type { Connection } from './connection.js';
import { State } from './connection.js';
import { capstanError } from '../errors.js';
import { F_BP_PAUSED, F_DRAINING, F_GOT_FIRST_BYTE } from './flags.js';

/** Called by the wheel when one of `c`'s deadlines may have passed. */
export function checkDeadlines(c: Connection<any>, now: number): void {
  if (c.st >= State.Closing) return;
  const L = c.ctx.limits;
  if (c.st === State.Handshake) {
    const stage = c.stage;
    const due = stage !== null && stage.due > 0 ? stage.due : L.handshakeTimeoutMs > 0 ? c.createdAt + L.handshakeTimeoutMs : 0;
    if (due > 0) {
      if (now >= due) {
        if (stage === null) return void c.destroy('handshake-timeout');
        const { reason, error } = stage.timedOut();
        c.stage = null;
        return void c.destroy(reason, error);
      }
      c.ctx.wheel.schedule(c, due);
    }
    return;
  }
  let next = Infinity;
  if (c.protocolAt > 0) {
    if (now >= c.protocolAt) {
      c.protocolAt = 0;
      (c.protocolDue as (conn: Connection<any>, now: number) => void)(c, now);
      if (c.st >= State.Closing) return;
    }
    if (c.protocolAt > 0) next = c.protocolAt;
  }
  if (c.st === State.Ending && L.lingerMs > 0) {
    const due = c.endAt + L.lingerMs;
    if (now >= due) return void c.destroy('linger-timeout');
    next = due;
  }
  const s = c.socket;
  const pending = s.writableLength;
  if (pending > 0 && L.writeTimeoutMs > 0) {
    const done = s.bytesWritten - pending;
    if (c.stallSince === 0 || done !== c.stallDone) {
      c.stallSince = now;
      c.stallDone = done;
    } else if (now - c.stallSince >= L.writeTimeoutMs) {
      return void c.destroy('write-timeout');
    }
    next = Math.min(next, c.stallSince + L.writeTimeoutMs);
  } else if (pending === 0) {
    c.stallSince = 0;
    // The socket drained below the mark without a 'drain' event (a high-water mark below Node's own).
    if ((c.flags & F_BP_PAUSED) !== 0) c.drained();
  }
  if (c.st === State.Open) {
    if ((c.flags & F_GOT_FIRST_BYTE) === 0 && L.firstByteTimeoutMs > 0) {
      const due = c.openedAt + L.firstByteTimeoutMs;
      if (now >= due) return void c.destroy('first-byte-timeout');
      next = Math.min(next, due);
    }
    if (c.partialAt !== 0 && L.frameTimeoutMs > 0) {
      const due = c.partialAt + L.frameTimeoutMs;
      if (now >= due) {
        return void c.destroy(
          'frame-timeout',
          capstanError('ERR_FRAME_TIMEOUT', `a frame begun ${now - c.partialAt} ms ago is still incomplete (frameTimeoutMs ${L.frameTimeoutMs}): the peer sends too slowly`, {
            reason: 'frame-timeout',
            limit: L.frameTimeoutMs,
            actual: now - c.partialAt,
          }),
        );
      }
      next = Math.min(next, due);
    }
    if (L.idleTimeoutMs > 0) {
      const due = Math.max(c.lastRead, c.lastWrite) + L.idleTimeoutMs;
      if (now >= due) {
        c.reason ??= 'idle-timeout';
        c.end();
        return scheduleNextDeadline(c, now);
      }
      next = Math.min(next, due);
    }
    if ((c.flags & F_DRAINING) !== 0) {
      const due = Math.max(c.lastRead, c.openedAt) + c.drainQuietMs;
      if (now >= due && pending === 0 && c.outBytes === 0) {
        c.reason ??= 'shutdown';
        c.end();
        return scheduleNextDeadline(c, now);
      }
      next = Math.min(next, Math.max(due, now + 1));
    }
  }
  if (next !== Infinity) c.ctx.wheel.schedule(c, next);
}

/** Files `c` on the wheel at its earliest deadline, if it has one. */
export function scheduleNextDeadline(c: Connection<any>, now: number): void {
  const L = c.ctx.limits;
  let next = c.protocolAt > 0 ? c.protocolAt : Infinity;
  if (c.st === State.Ending && L.lingerMs > 0) next = Math.min(next, c.endAt + L.lingerMs);
  if (c.st === State.Open) {
    if ((c.flags & F_GOT_FIRST_BYTE) === 0 && L.firstByteTimeoutMs > 0) next = Math.min(next, c.openedAt + L.firstByteTimeoutMs);
    if (c.partialAt !== 0 && L.frameTimeoutMs > 0) next = Math.min(next, c.partialAt + L.frameTimeoutMs);
    if (L.idleTimeoutMs > 0) next = Math.min(next, Math.max(c.lastRead, c.lastWrite, now) + L.idleTimeoutMs);
  }
  if (c.socket.writableLength > 0 && L.writeTimeoutMs > 0) next = Math.min(next, now + L.writeTimeoutMs);
  if (next !== Infinity) c.ctx.wheel.schedule(c, next);
}
