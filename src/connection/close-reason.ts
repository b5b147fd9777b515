/**
 * Why a connection closed. A closed union with one stable string each; every
 * listener counts closes by reason.
 *
 * | reason               | who closed | what happened                                                   |
 * |----------------------|------------|-----------------------------------------------------------------|
 * | `peer-closed`        | peer       | the peer sent FIN and the connection finished cleanly            |
 * | `peer-reset`         | peer       | the peer reset the connection (ECONNRESET, EPIPE)               |
 * | `local-end`          | us         | `conn.end()` completed: queued writes flushed, FIN exchanged    |
 * | `local-destroy`      | us         | `conn.destroy()` without a more specific reason                 |
 * | `idle-timeout`       | us         | no bytes either way for `idleTimeoutMs`                         |
 * | `first-byte-timeout` | us         | the peer sent nothing within `firstByteTimeoutMs` of connecting |
 * | `frame-timeout`      | us         | a frame begun was not complete within `frameTimeoutMs`          |
 * | `write-timeout`      | us         | queued writes made no progress for `writeTimeoutMs`             |
 * | `handshake-timeout`  | us         | the TLS handshake did not finish within `handshakeTimeoutMs`    |
 * | `linger-timeout`     | us         | after our FIN the peer did not close within `lingerMs`          |
 * | `frame-too-large`    | us         | a frame or line exceeded `maxFrameBytes`                        |
 * | `protocol-error`     | us         | the peer sent bytes the codec cannot decode, or cut a frame     |
 * | `slow-consumer`      | us         | queued outbound bytes passed `maxBufferedBytes`                 |
 * | `handler-error`      | us         | a handler method threw                                          |
 * | `tls-error`          | either     | the TLS handshake or session failed (bad cert, bad record …)    |
 * | `connect-failed`     | -          | a client connection could not be established                    |
 * | `shutdown`           | us         | the server closed and the grace period ran out                  |
 * | `refused`            | us         | turned away after accept: a limit, once a PROXY header named the client |
 * | `upgrade-refused`    | us         | an HTTP upgrade (WebSocket handshake) was answered with an error status |
 * | `invalid-data`       | us         | a WebSocket text message or close reason was not valid UTF-8 (1007) |
 * | `policy-violation`   | us         | a WebSocket peer broke a rule of ours, not of the protocol (1008) |
 * | `heartbeat-timeout`  | us         | a WebSocket peer did not answer our ping in time                |
 * | `close-timeout`      | us         | a WebSocket peer did not answer our close frame in time         |
 * | `peer-unreachable`   | network    | a datagram to the peer drew an ICMP error (port or host unreachable) |
 * | `error`              | -          | any other socket error (see the `error` passed to `close`)      |
 *
 * @category Connections
 */
export type CloseReason =
  | 'peer-closed'
  | 'peer-reset'
  | 'local-end'
  | 'local-destroy'
  | 'idle-timeout'
  | 'first-byte-timeout'
  | 'frame-timeout'
  | 'write-timeout'
  | 'handshake-timeout'
  | 'linger-timeout'
  | 'frame-too-large'
  | 'protocol-error'
  | 'slow-consumer'
  | 'handler-error'
  | 'tls-error'
  | 'connect-failed'
  | 'shutdown'
  | 'refused'
  | 'upgrade-refused'
  | 'invalid-data'
  | 'policy-violation'
  | 'heartbeat-timeout'
  | 'close-timeout'
  | 'peer-unreachable'
  | 'error';

/**
 * Every close reason, in a fixed order (used to lay out counters).
 * @category Connections
 */
export const CLOSE_REASONS: readonly CloseReason[] = [
  'peer-closed',
  'peer-reset',
  'local-end',
  'local-destroy',
  'idle-timeout',
  'first-byte-timeout',
  'frame-timeout',
  'write-timeout',
  'handshake-timeout',
  'linger-timeout',
  'frame-too-large',
  'protocol-error',
  'slow-consumer',
  'handler-error',
  'tls-error',
  'connect-failed',
  'shutdown',
  'refused',
  'upgrade-refused',
  'invalid-data',
  'policy-violation',
  'heartbeat-timeout',
  'close-timeout',
  'peer-unreachable',
  'error',
];

/** Close reasons that are not the normal end of a conversation (logged, by default). */
export function isAbnormal(reason: CloseReason): boolean {
  return reason !== 'peer-closed' && reason !== 'local-end' && reason !== 'local-destroy' && reason !== 'shutdown';
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** The close reason a socket error stands for. */
export function reasonForError(err: Error): CloseReason {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (RESET_CODES.has(code)) return 'peer-reset';
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL routines/.test(err.message)) return 'tls-error';
  return 'error';
}
