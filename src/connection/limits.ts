/**
 * Every bound a connection lives under: {@link LimitsOptions} with each
 * default filled in from {@link DEFAULT_LIMITS}, as a listener or client
 * resolves them.
 *
 * Timeouts are in ms and zero disables one; sizes are in bytes, and there is no
 * "unlimited" for sizes and counts.
 * @category Listen and connect
 */
export interface Limits {
  /** Open connections on this listener; more are closed on accept. Default 10,000. */
  maxConnections: number;
  /** Open connections from one remote address. Default 1,000. */
  maxConnectionsPerAddress: number;
  /** Largest frame or line a codec accepts, in bytes (overrides the codec's own bound when given; absent: the codec's, 1 MiB by default). */
  maxFrameBytes?: number;
  /** Close a connection whose peer sends nothing within this many ms of connecting. Default 30,000. */
  firstByteTimeoutMs: number;
  /**
   * Destroy a connection whose frame (or line), once its first byte has arrived, is
   * not complete within this many ms: a peer dripping one byte at a time stays under
   * the idle timeout but not under this. Default 60,000.
   */
  frameTimeoutMs: number;
  /** Close a connection (gracefully) after this many ms without bytes in either direction. Default 300,000. */
  idleTimeoutMs: number;
  /** Destroy a connection whose queued writes make no progress for this many ms. Default 30,000. */
  writeTimeoutMs: number;
  /** Destroy a TLS connection whose handshake has not finished after this many ms. Default 10,000. */
  handshakeTimeoutMs: number;
  /** After our FIN, wait this many ms for the peer's before destroying. Default 5,000. */
  lingerMs: number;
  /** Queued outbound bytes above which reading from the peer pauses until the queue drains. Default 64 KiB. */
  highWaterBytes: number;
  /** Queued outbound bytes above which the connection closes with `slow-consumer`. Default 8 MiB. */
  maxBufferedBytes: number;
}

/**
 * The default of every limit, frozen.
 *
 * 10,000 connections per listener and 1,000 per address; first byte 30 s, frame
 * 60 s, idle 5 min, write stall 30 s, TLS handshake 10 s, linger 5 s; reading
 * pauses at 64 KiB queued and the connection closes at 8 MiB. Frozen.
 * @category Listen and connect
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  firstByteTimeoutMs: 30_000,
  frameTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  writeTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  lingerMs: 5_000,
  highWaterBytes: 64 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
});

export function resolveLimits(given: Partial<Limits> | undefined): Limits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  // Reading pauses at the high-water mark, so it can never sit above the hard cap.
  if (limits.highWaterBytes > limits.maxBufferedBytes) limits.highWaterBytes = limits.maxBufferedBytes;
  return limits;
}
