/**
 * Every error Capstan raises is a {@link CapstanError} with a stable `code`.
 * Match on `code`, never on `instanceof` or message text: messages may improve,
 * codes do not change. The table of codes lives in `docs/errors.md`.
 */
import type { CloseReason } from './connection/close-reason.js';

/** Stable error codes. Adding a code is a minor change; renaming one is breaking. */
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
  | 'ERR_WS_CLOSE_TIMEOUT';

/** Extra facts an error carries: the numbers involved and, when it closes a connection, why. */
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

export class CapstanError extends Error {
  readonly code: ErrorCode;
  readonly reason: CloseReason | undefined;
  readonly path: string | undefined;
  readonly limit: number | undefined;
  readonly actual: unknown;

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

/** True when `err` is a Capstan error with the given code (works across package copies). */
export function isCapstanError(err: unknown, code?: ErrorCode): err is CapstanError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'CapstanError' &&
    (code === undefined || (err as { code?: unknown }).code === code)
  );
}
