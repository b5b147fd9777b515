/**
 * Errors a load run counts, by kind. A failed connection is counted once, under
 * the kind that ended it; the first message of each kind is kept to be shown.
 */

/**
 * - `refused`: nothing listens there (ECONNREFUSED; for `udp://`, an ICMP port unreachable).
 * - `unreachable`: no route, no such address or socket file, name not found.
 * - `timeout`: no connection, handshake or due reply within its time limit.
 * - `reset`: the peer reset the connection (ECONNRESET, EPIPE).
 * - `closed`: the peer closed while replies were due or before the run ended.
 * - `mismatch`: a reply differed from what was sent (for `udp://`, one per wrong reply;
 *   the socket goes on).
 * - `tls`: the TLS handshake failed (certificate, protocol).
 * - `unconfirmed`: a `send` connection ended without the server confirming it had
 *   read everything (it reset the connection, or did not close within the drain
 *   timeout after our FIN); its messages are counted as unconfirmed.
 * - `other`: anything else (EMFILE, a worker that died …).
 * @category Load client
 */
export type ErrorKind = 'refused' | 'unreachable' | 'timeout' | 'reset' | 'closed' | 'mismatch' | 'tls' | 'unconfirmed' | 'other';
export const ERROR_KINDS: readonly ErrorKind[] = ['refused', 'unreachable', 'timeout', 'reset', 'closed', 'mismatch', 'tls', 'unconfirmed', 'other'];

/**
 * Errors of a load run, counted by kind.
 * @category Load client
 */
export type ErrorCounts = Record<ErrorKind, number>;

const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOENT', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENOTDIR']);
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** The kind of a socket error; `handshaking` when it ended a TLS handshake (certificate errors have many codes). */
export function classify(err: Error, handshaking = false): ErrorKind {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (UNREACHABLE.has(code)) return 'unreachable';
  if (RESET.has(code)) return 'reset';
  if (handshaking || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO/.test(code) || /SSL routines/.test(err.message)) return 'tls';
  return 'other';
}

/** Error counters plus the first message seen of each kind. */
export class ErrorLog {
  readonly counts: ErrorCounts = { refused: 0, unreachable: 0, timeout: 0, reset: 0, closed: 0, mismatch: 0, tls: 0, unconfirmed: 0, other: 0 };
  readonly samples: Partial<Record<ErrorKind, string>> = {};
  total = 0;

  add(kind: ErrorKind, message: string, count = 1): void {
    this.counts[kind] += count;
    this.total += count;
    if (this.samples[kind] === undefined) this.samples[kind] = message;
  }

  /** Adds another process's counts and samples. */
  merge(counts: ErrorCounts, samples: Partial<Record<ErrorKind, string>>): void {
    for (const kind of ERROR_KINDS) {
      if (counts[kind] > 0) this.add(kind, samples[kind] ?? kind, counts[kind]);
    }
  }
}
