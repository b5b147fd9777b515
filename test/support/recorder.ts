/** A handler that records every call, to assert lifecycle order. */
import type { CloseReason, Connection, Handler } from '../../src/index.js';

export interface Recorded {
  events: string[];
  reasons: CloseReason[];
  errors: Array<Error | undefined>;
  closed: Promise<CloseReason>;
  conn: Connection | null;
}

/**
 * Records `open`, `message:<frame>`, `end`, `drain`, `close:<reason>` for the
 * first connection; `extra` methods run after recording (they may throw).
 */
export function recordingHandler(extra: Partial<Handler> = {}): { handler: Handler; rec: Recorded } {
  let resolveClosed!: (r: CloseReason) => void;
  const rec: Recorded = {
    events: [],
    reasons: [],
    errors: [],
    closed: new Promise<CloseReason>((r) => (resolveClosed = r)),
    conn: null,
  };
  const handler: Handler = {
    open(conn) {
      rec.conn ??= conn;
      rec.events.push('open');
      extra.open?.call(this, conn);
    },
    message(conn, frame) {
      rec.events.push(`message:${frame.toString()}`);
      extra.message?.call(this, conn, frame);
    },
    drain(conn) {
      rec.events.push('drain');
      extra.drain?.call(this, conn);
    },
    end(conn) {
      rec.events.push('end');
      if (extra.end !== undefined) extra.end.call(this, conn);
      else conn.end();
    },
    close(conn, reason, error) {
      rec.events.push(`close:${reason}`);
      rec.reasons.push(reason);
      rec.errors.push(error);
      resolveClosed(reason);
      extra.close?.call(this, conn, reason, error);
    },
  };
  return { handler, rec };
}
