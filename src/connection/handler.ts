/** The handler contract: what Capstan calls on each connection, and in which order. */
import type { CloseReason } from './close-reason.js';
import type { Connection } from './connection.js';

/**
 * The handler: one flat object of optional methods, shared by every connection
 * of a listener.
 *
 * Per connection, Capstan guarantees this order:
 *
 * ```
 *   open ─► message* ─► [end] ─► message* ─► close(reason)      (exactly once, last)
 *             │  ▲
 *             ▼  │ drain (after backpressure)
 * ```
 *
 * - `open` is called once, when the connection is ready (after the TLS handshake).
 * - `message` is called per decoded frame, in arrival order.
 * - `close` is called exactly once and last, after every queued write has
 *   completed or failed, even when `open` or `message` threw. Afterwards
 *   nothing is called and `send` returns `false`.
 * - A method that throws closes its own connection with `handler-error`; no
 *   other connection notices.
 *
 * All methods are synchronous: they run on the hot path. Hand slow work to a
 * worker pool and `send` the answer when it arrives.
 *
 * @typeParam D - the type of `conn.data`, the per-connection state (set it in
 *   `open`; `listen<D>` and `definePlugin<S, D>` pass it on).
 * @category Connections
 */
export interface Handler<D = unknown> {
  /** The connection is ready. Set `conn.data` here; a greeting sent here goes out first. */
  open?(conn: Connection<D>): void;
  /**
   * One decoded frame. The buffer may be a view of the received bytes: it stays
   * valid after the call (Capstan never reuses read memory), but keeping it keeps
   * its whole read chunk alive, so copy small frames you keep for long.
   */
  message?(conn: Connection<D>, frame: Buffer): void;
  /**
   * A `send` returned `false` because the outbound queue was above
   * `limits.highWaterBytes`, and the queue is back at or below it: send more.
   * Reading from the peer, paused meanwhile, has resumed.
   */
  drain?(conn: Connection<D>): void;
  /**
   * The peer half-closed (sent FIN). You may still send; call `conn.end()` when
   * done. Without this method Capstan ends the connection for you.
   */
  end?(conn: Connection<D>): void;
  /**
   * The server is shutting down: say goodbye at the protocol level (send a
   * farewell frame, then `conn.end()`). Connections that do not end themselves
   * are ended once quiet and destroyed at the grace deadline.
   */
  shutdown?(conn: Connection<D>): void;
  /**
   * The connection is gone: called exactly once, last. `reason` says why (see
   * {@link CloseReason}); `error` tells more for abnormal reasons (a
   * {@link CapstanError} with a `code` for Capstan's own, the socket's error
   * otherwise).
   */
  close?(conn: Connection<D>, reason: CloseReason, error?: Error): void;
}
