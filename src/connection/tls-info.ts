/** What a connection can tell about its TLS session. */
import type { PeerCertificate, TLSSocket } from 'node:tls';

/**
 * TLS facts about a connection (`conn.tls`), read from the session when asked.
 * @category TLS
 */
export interface TlsInfo {
  /** Negotiated protocol version, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** ALPN protocol the peers agreed on, or `false`. */
  alpnProtocol: string | false | null;
  /** Whether the peer presented a certificate that verified against the configured CA (on a client: the server's, against `tls.ca`). */
  authorized: boolean;
  /** Why the peer's certificate did not verify, when it did not. */
  authorizationError: string | null;
  /** SNI server name the client asked for. */
  servername: string | false | null;
  /** The certificate the peer presented, as Node decodes it, or `null` when it sent none. */
  peerCertificate(): PeerCertificate | null;
}

/**
 * Did the peer's certificate verify? Client sockets know (`authorized`). A
 * server-side TLSSocket made outside tls.Server is never told, so ask the TLS
 * handle for its verification result the way tls.Server does; without that
 * method, fail closed.
 */
export function peerVerdict(s: TLSSocket): { authorized: boolean; error: string | null } {
  if (s.authorized === true) return { authorized: true, error: null };
  const cert = s.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return { authorized: false, error: 'no peer certificate' };
  const handle = (s as unknown as { ssl?: { verifyError?: () => Error | null } }).ssl;
  if (typeof handle?.verifyError !== 'function') return { authorized: false, error: 'verification result unavailable' };
  const err = handle.verifyError();
  return err === null ? { authorized: true, error: null } : { authorized: false, error: String((err as NodeJS.ErrnoException).code ?? err.message) };
}

/** TLS facts for `socket`, or `undefined` when it is not encrypted. */
export function tlsInfoOf(socket: unknown): TlsInfo | undefined {
  const s = socket as TLSSocket;
  if (s.encrypted !== true) return undefined;
  const verdict = peerVerdict(s);
  return {
    protocol: s.getProtocol(),
    alpnProtocol: s.alpnProtocol ?? null,
    authorized: verdict.authorized,
    authorizationError: verdict.error,
    servername: (s as TLSSocket & { servername?: string | false | null }).servername ?? null,
    peerCertificate: () => {
      const cert = s.getPeerCertificate();
      return cert !== null && Object.keys(cert).length > 0 ? cert : null;
    },
  };
}
