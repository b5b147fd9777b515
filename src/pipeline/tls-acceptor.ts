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
import { TLSSocket, type SecureContext, type TLSSocketOptions } from 'node:tls';
import type { Connection } from '../connection/connection.js';
import { detachSocket } from '../connection/socket-events.js';
import { peerVerdict } from '../connection/tls-info.js';
import { capstanError } from '../errors.js';
import type { TlsServerOptions } from '../transport/options-schema.js';
import { tlsSocketOptions } from '../transport/tls-context.js';
import type { EventLog } from '../connection/event-log.js';
import type { ListenerCounters } from '../metrics/listener-counters.js';
import { CertificateSet, DEFAULT_NAME } from './certificates.js';

const kName = Symbol('capstan.sni');
type NamedSocket = TLSSocket & { [kName]?: string };

export class TlsAcceptor {
  private certificates: CertificateSet;
  private options: TlsServerOptions;

  /** `counters`: where handshakes are counted by protocol version and certificate name (a listener's). */
  constructor(
    options: TlsServerOptions,
    private readonly counters: ListenerCounters | null = null,
    private readonly log: EventLog | null = null,
  ) {
    this.certificates = new CertificateSet(options);
    this.options = options;
    this.noteExpiries();
  }

  /** New settings for handshakes from now on (certificate rotation); validated first, so bad ones change nothing. */
  update(options: TlsServerOptions): void {
    const certificates = new CertificateSet(options);
    this.certificates = certificates;
    this.options = options;
    this.noteExpiries();
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
    const certificates = this.certificates;
    const options: TLSSocketOptions = tlsSocketOptions(certificates.default, this.options);
    if (certificates.byName || certificates.default === null) options.SNICallback = (servername, cb) => this.choose(tls as NamedSocket, certificates, servername, cb);
    const tls: TLSSocket = new TLSSocket(raw, options);
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
      this.count(tls as NamedSocket);
      then();
    });
    return tls;
  }

  private choose(tls: NamedSocket, certificates: CertificateSet, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    const chosen = certificates.select(servername);
    if (chosen === null) {
      if (this.counters !== null) this.counters.tls.unknownName++;
      this.log?.refused(`${tls.remoteAddress ?? ''}:${tls.remotePort ?? 0}`, 'unknown-servername', { servername }, 'refusing a TLS handshake: no certificate for that server name and no default (tls.sni)');
      cb(capstanError('ERR_TLS_UNKNOWN_SERVERNAME', `no certificate for server name ${JSON.stringify(servername)}`, { reason: 'tls-error' }));
      return;
    }
    tls[kName] = chosen.name;
    cb(null, chosen.context);
  }

  private count(tls: NamedSocket): void {
    const c = this.counters;
    if (c === null) return;
    const version = tls.getProtocol() ?? 'unknown';
    c.tls.versions[version] = (c.tls.versions[version] ?? 0) + 1;
    // Names are the configured entries (and "default"), so the label set stays bounded.
    const name = tls[kName] ?? DEFAULT_NAME;
    c.tls.names[name] = (c.tls.names[name] ?? 0) + 1;
  }

  private noteExpiries(): void {
    if (this.counters === null) return;
    const days = this.counters.tls.expiryDays;
    for (const k of Object.keys(days)) delete days[k];
    for (const [name, at] of this.certificates.expiries) days[name] = Math.floor(((at - Date.now()) / 86_400_000) * 100) / 100;
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
