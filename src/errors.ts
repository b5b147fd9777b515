/**
 * Every error Capstan raises is a {@link CapstanError} with a stable `code`.
 * Match on `code`, never on `instanceof` or message text: messages may improve,
 * codes do not change. The table of codes lives in `docs/errors.md`.
 */
import type { CloseReason } from './connection/close-reason.js';

/**
 * Stable error codes; docs/errors.md says what each means and what to do.
 * Adding a code is a minor change; renaming one is breaking.
 * @category Errors and logging
 */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_UNKNOWN_OPTION'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_PROTOCOL'
  | 'ERR_TRUNCATED_FRAME'
  | 'ERR_INVALID_FRAME'
  | 'ERR_NOT_OPEN'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_CONNECT_FAILED'
  | 'ERR_RECONNECT_EXHAUSTED'
  | 'ERR_LISTEN_FAILED'
  | 'ERR_TLS_CONFIG'
  | 'ERR_TLS_UNAUTHORIZED'
  | 'ERR_TLS_HANDSHAKE_ABORTED'
  | 'ERR_TLS_RENEGOTIATION'
  | 'ERR_FRAME_TIMEOUT'
  | 'ERR_PROXY_MALFORMED'
  | 'ERR_PROXY_TOO_LARGE'
  | 'ERR_PROXY_CHECKSUM'
  | 'ERR_PROXY_UNTRUSTED'
  | 'ERR_PROXY_REQUIRED'
  | 'ERR_PROXY_TIMEOUT'
  | 'ERR_STARTTLS'
  | 'ERR_TLS_UNKNOWN_SERVERNAME'
  | 'ERR_COMPRESSION'
  | 'ERR_COMPRESSION_BUDGET'
  | 'ERR_INFLATE_LIMIT'
  | 'ERR_BARE_CR'
  | 'ERR_SLOW_CONSUMER'
  | 'ERR_CONFIG'
  | 'ERR_PLUGIN'
  | 'ERR_OVERLOADED'
  | 'ERR_WORKER'
  | 'ERR_WS_HANDSHAKE'
  | 'ERR_WS_PROTOCOL'
  | 'ERR_WS_INVALID_UTF8'
  | 'ERR_WS_MESSAGE_TOO_LARGE'
  | 'ERR_WS_INFLATE'
  | 'ERR_WS_HEARTBEAT'
  | 'ERR_WS_CLOSE_TIMEOUT'
  | 'ERR_MULTICAST'
  | 'ERR_REQUEST_TIMEOUT';

/**
 * Extra facts an error carries: the numbers involved and, when it closes a connection, why.
 * @category Errors and logging
 */
export interface ErrorDetails {
  /** The close reason this error causes when raised on a connection. */
  readonly reason?: CloseReason;
  /** The option or config path the error is about, e.g. `limits.maxFrameBytes`. */
  readonly path?: string;
  /** A limit that was exceeded. */
  readonly limit?: number;
  /** The value that exceeded it or was rejected. */
  readonly actual?: unknown;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * The one error class Capstan throws and rejects with.
 *
 * Match on `code` (or use {@link isCapstanError}), never on `instanceof` or the
 * message: messages may improve, codes do not change. `name` is `CapstanError`;
 * `cause` holds the underlying error, if any.
 *
 * ```ts
 * try { await listen({ port: 7000, handler }); }
 * catch (err) { if (isCapstanError(err, 'ERR_LISTEN_FAILED')) console.error(err.message); else throw err; }
 * ```
 * @category Errors and logging
 */
export class CapstanError extends Error {
  /** What went wrong, as a stable code (see docs/errors.md). */
  readonly code: ErrorCode;
  /** The close reason the error causes when it ends a connection. */
  readonly reason: CloseReason | undefined;
  /** The option or config path the error is about, e.g. `limits.maxFrameBytes`. */
  readonly path: string | undefined;
  /** The limit that was exceeded, when one was. */
  readonly limit: number | undefined;
  /** The value that exceeded the limit or was rejected. */
  readonly actual: unknown;

  /**
   * Builds an error; Capstan's own code does it through one helper, so every
   * error it raises has the same shape.
   * @param code - the stable code.
   * @param message - what was wrong and what to do about it.
   * @param details - the numbers involved, the close reason, the cause.
   */
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CapstanError';
    this.code = code;
    this.reason = details.reason;
    this.path = details.path;
    this.limit = details.limit;
    this.actual = details.actual;
  }
}

/** The one helper that builds every Capstan error. */
export function capstanError(code: ErrorCode, message: string, details?: ErrorDetails): CapstanError {
  return new CapstanError(code, message, details);
}

/**
 * True when `err` is a Capstan error, with the given code when one is given.
 *
 * Checks `name` and `code`, not `instanceof`, so it works across package copies.
 * @category Errors and logging
 */
export function isCapstanError(err: unknown, code?: ErrorCode): err is CapstanError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'CapstanError' &&
    (code === undefined || (err as { code?: unknown }).code === code)
  );
}
