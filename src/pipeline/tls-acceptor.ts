/**
 * The server side of TLS for one listener: wraps an accepted socket (at once,
 * after a PROXY header, after detecting a ClientHello, or for STARTTLS) and
 * opens the connection when the handshake is done.
 *
 * ```
 *  raw socket ─► [bytes already read go back with unshift] ─► TLSSocket ─► 'secure'
 *                                                                ├─ client certificate checked (required)
 *                                                                ├─ renegotiation refused from here on
 *                                                                └─ conn.open()
 * ```
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Connection } from '../connection/connection.js';
import { detachSocket } from '../connection/socket-events.js';
import { peerVerdict } from '../connection/tls-info.js';
import { capstanError } from '../errors.js';
import type { TlsServerOptions } from '../transport/options-schema.js';
import { createServerContext, tlsSocketOptions } from '../transport/tls-context.js';

export class TlsAcceptor {
  private context: SecureContext;
  private options: TlsServerOptions;

  constructor(options: TlsServerOptions) {
    this.context = createServerContext(options);
    this.options = options;
  }

  /** New settings for handshakes from now on (certificate rotation); validated first, so bad ones change nothing. */
  update(options: TlsServerOptions): void {
    const context = createServerContext(options);
    this.context = context;
    this.options = options;
  }

  /**
   * Starts the server handshake on `raw` for `conn`, which moves to the TLS
   * socket; `then` (default: `conn.open()`) runs once the handshake is done.
   * Bytes read from `raw` but not consumed (`leftover`) are handed to TLS first.
   */
  wrap(conn: Connection<any>, raw: Socket, leftover?: Buffer, then: () => void = () => conn.open()): TLSSocket {
    // Nothing may reach the connection from the raw socket now; what it holds unread goes to TLS.
    raw.pause();
    detachSocket(raw);
    if (leftover !== undefined && leftover.length > 0) raw.unshift(leftover);
    const tls = new TLSSocket(raw, tlsSocketOptions(this.context, this.options));
    conn.attach(tls);
    const required = this.options.clientCertificate === 'required';
    tls.once('secure', () => {
      if (required) {
        const verdict = peerVerdict(tls);
        if (!verdict.authorized) {
          conn.destroy('tls-error', capstanError('ERR_TLS_UNAUTHORIZED', `client certificate rejected: ${verdict.error}`, { reason: 'tls-error' }));
          return;
        }
      }
      refuseRenegotiation(tls);
      then();
    });
    return tls;
  }
}

/**
 * Client-initiated renegotiation (TLS 1.2) costs the server a full handshake per
 * request and serves no purpose here, so the first attempt closes the connection.
 * Node reports the attempt to a server socket made outside `tls.Server` only as
 * its `_tlsError` event (it withholds `error` until `tls.Server` releases
 * control), so that is where the refusal is heard; the tests fail if it is not.
 */
function refuseRenegotiation(socket: TLSSocket): void {
  socket.disableRenegotiation();
  socket.on('_tlsError', onTlsSessionError);
}

function onTlsSessionError(this: TLSSocket, err: NodeJS.ErrnoException): void {
  if (this.destroyed) return;
  const renegotiation = err.code === 'ERR_TLS_RENEGOTIATION_DISABLED' || err.code === 'ERR_TLS_SESSION_ATTACK';
  this.destroy(
    capstanError('ERR_TLS_RENEGOTIATION', renegotiation ? 'the client tried to renegotiate the TLS session, which this server refuses' : `TLS session failed: ${err.message}`, {
      reason: 'tls-error',
      cause: err,
    }),
  );
}
