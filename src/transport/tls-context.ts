/**
 * TLS settings turned into Node's secure contexts, once per listener, with
 * Capstan's defaults: TLS 1.2 minimum, no client certificate unless asked.
 */
import tls, { type ConnectionOptions, type SecureContext, type TLSSocketOptions } from 'node:tls';
import { capstanError } from '../errors.js';
import type { TlsServerOptions } from './options-schema.js';

export function createServerContext(o: TlsServerOptions): SecureContext {
  if (o.pfx === undefined && (o.key === undefined || o.cert === undefined)) {
    throw capstanError('ERR_TLS_CONFIG', 'tls: give key and cert (PEM), or pfx', { path: 'tls' });
  }
  if (o.clientCertificate !== undefined && o.clientCertificate !== 'none' && o.ca === undefined) {
    throw capstanError('ERR_TLS_CONFIG', `tls: clientCertificate ${o.clientCertificate} needs tls.ca, the CA that signs client certificates`, {
      path: 'tls.ca',
    });
  }
  try {
    return tls.createSecureContext({
      key: o.key as ConnectionOptions['key'],
      cert: o.cert as ConnectionOptions['cert'],
      pfx: o.pfx as ConnectionOptions['pfx'],
      passphrase: o.passphrase,
      ca: o.ca as ConnectionOptions['ca'],
      ciphers: o.ciphers,
      minVersion: o.minVersion ?? 'TLSv1.2',
    });
  } catch (err) {
    throw capstanError('ERR_TLS_CONFIG', `tls: cannot load the key or certificate: ${(err as Error).message}`, { path: 'tls', cause: err });
  }
}

/** Options for the server side of one TLS connection. */
export function tlsSocketOptions(secureContext: SecureContext | null, o: TlsServerOptions): TLSSocketOptions {
  const mode = o.clientCertificate ?? 'none';
  return {
    isServer: true,
    ...(secureContext !== null ? { secureContext } : {}),
    requestCert: mode !== 'none',
    // 'required' lets OpenSSL refuse the handshake itself; 'optional' verifies and reports.
    rejectUnauthorized: mode === 'required',
    ...(o.alpnProtocols !== undefined ? { ALPNProtocols: o.alpnProtocols } : {}),
  };
}
