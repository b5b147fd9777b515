/**
 * STARTTLS: a plaintext connection turns into TLS mid-stream (SMTP, IMAP,
 * XMPP, LDAP …), keeping its codec, handler and `data`.
 *
 * ```
 *  plaintext … "STARTTLS" ─► handler replies "220 ready", calls conn.startTls()
 *                               │  the reply is written, then the socket is wrapped
 *                               │  any byte the peer sent after its command, before
 *                               │  the handshake, is refused (ERR_STARTTLS): it was
 *                               │  never encrypted, so it must never be read as if it were
 *                               ▼
 *                            TLS handshake (under handshakeTimeoutMs) ─► frames again, over TLS
 * ```
 *
 * During the handshake the connection is in the `handshake` state: `send`
 * returns false and nothing is delivered.
 */
import tls, { type TLSSocket } from 'node:tls';
import { State, type Connection, type HandshakeStage } from '../connection/connection.js';
import { detachSocket } from '../connection/socket-events.js';
import type { TlsInfo } from '../connection/tls-info.js';
import { capstanError, type CapstanError } from '../errors.js';
import type { TlsAcceptor } from './tls-acceptor.js';
import type { ClientTlsOptions } from '../transport/connect.js';

/** How a connection's side starts TLS: the listener's acceptor, or a client's options. */
export type StartTls = { side: 'server'; acceptor: TlsAcceptor } | { side: 'client'; host: string; defaults: ClientTlsOptions };

function injected(what: string): CapstanError {
  return capstanError('ERR_STARTTLS', `${what} arrived after the STARTTLS command and before the TLS handshake: refused, never read as plaintext (a STARTTLS injection)`, { reason: 'protocol-error' });
}

/** The handshake phase of an upgrade: plaintext bytes now are injected, the deadline is the handshake's. */
class UpgradeStage implements HandshakeStage {
  constructor(readonly due: number) {}
  bytes(c: Connection<any>): void {
    c.stage = null;
    c.ctx.counters.starttls.refused++;
    c.destroy('protocol-error', injected(`${c.queue.length} bytes`));
  }
  abandoned(c: Connection<any>): void {
    c.destroy('tls-error', capstanError('ERR_TLS_HANDSHAKE_ABORTED', 'the peer closed the connection during the STARTTLS handshake', { reason: 'tls-error' }));
  }
  timedOut(): { reason: 'handshake-timeout'; error: Error } {
    return { reason: 'handshake-timeout', error: capstanError('ERR_STARTTLS', 'the STARTTLS handshake did not finish in time', { reason: 'handshake-timeout' }) };
  }
}

/**
 * Upgrades `c` to TLS. Resolves with its TLS facts once the handshake is done;
 * rejects (and the connection closes) when it fails or bytes were injected.
 */
export function upgradeToTls(c: Connection<any>, how: StartTls, options: ClientTlsOptions = {}): Promise<TlsInfo> {
  if (c.st !== State.Open) return Promise.reject(capstanError('ERR_STARTTLS', `startTls: the connection is ${c.state}, not open`));
  if (c.tls !== undefined) return Promise.reject(capstanError('ERR_STARTTLS', 'startTls: the connection is already encrypted'));
  if (c.filters !== null) return Promise.reject(capstanError('ERR_STARTTLS', 'startTls: not on a connection with filters (they sit after TLS, which must then start at accept)'));
  const raw = c.socket;
  // Bytes already received past the command (this read, or buffered in the socket) were sent before our reply.
  const early = c.queue.length + raw.readableLength;
  if (early > 0) {
    c.ctx.counters.starttls.refused++;
    const error = injected(`${early} bytes`);
    // Graceful, as for any bad input: the replies to earlier commands still go out; the rest is never read.
    c.fail('protocol-error', error);
    return Promise.reject(error);
  }
  const wheel = c.ctx.wheel;
  const timeout = c.ctx.limits.handshakeTimeoutMs;
  c.st = State.Handshake;
  c.stage = new UpgradeStage(timeout > 0 ? wheel.now() + timeout : 0);
  if (timeout > 0) wheel.scheduleBy(c, c.stage.due);
  c.flush();
  return new Promise<TlsInfo>((resolve, reject) => {
    const secured = (): void => {
      c.stage = null;
      c.st = State.Open;
      c.ctx.counters.starttls.upgraded++;
      c.lastRead = wheel.now();
      c.scheduleNext(c.lastRead);
      resolve(c.tls as TlsInfo);
      // Bytes that arrived with the end of the handshake.
      if (c.queue.length > 0) c.pump();
    };
    const failed = (): void => reject(c.closeError ?? capstanError('ERR_STARTTLS', `startTls: the connection closed (${c.closeReason ?? 'during the handshake'})`));
    const wrap = (): void => {
      if (c.st !== State.Handshake) return failed();
      if (how.side === 'server') {
        const secure = how.acceptor.wrap(c, raw, undefined, secured);
        secure.once('close', () => void (c.st !== State.Open && failed()));
        return;
      }
      raw.pause();
      detachSocket(raw);
      const t: TLSSocket = tls.connect({
        socket: raw,
        servername: options.servername ?? how.defaults.servername ?? (isName(how.host) ? how.host : undefined),
        ca: options.ca ?? how.defaults.ca,
        key: options.key ?? how.defaults.key,
        cert: options.cert ?? how.defaults.cert,
        pfx: options.pfx ?? how.defaults.pfx,
        passphrase: options.passphrase ?? how.defaults.passphrase,
        rejectUnauthorized: options.rejectUnauthorized ?? how.defaults.rejectUnauthorized ?? true,
        ALPNProtocols: options.alpnProtocols ?? how.defaults.alpnProtocols,
        minVersion: options.minVersion ?? how.defaults.minVersion ?? 'TLSv1.2',
      });
      c.attach(t);
      t.once('secureConnect', secured);
      t.once('close', () => void (c.st !== State.Open && failed()));
    };
    // The reply that told the peer to start TLS must be out before TLS owns the socket.
    if (raw.writableLength === 0) wrap();
    else raw.once('drain', wrap);
  });
}

function isName(host: string): boolean {
  return !/^[\d.]+$/.test(host) && !host.includes(':');
}
