/**
 * The certificates of one TLS listener: a default pair and any number chosen
 * by the server name the client asks for (SNI), exact or wildcard.
 *
 * ```
 *  ClientHello server_name ─┬─ "api.example.com"  exact entry          ─► its certificate
 *                           ├─ "www.example.com"  "*.example.com"       ─► the wildcard's
 *                           ├─ "a.b.example.com"  (a wildcard covers one label only)
 *                           └─ none / unknown ────────────────────────── ─► the default, or
 *                                                                          refused when there is none
 * ```
 *
 * Every pair is loaded into a secure context when the set is built, so a bad
 * PEM or a key that does not match its certificate is refused there, before
 * any handshake uses it, and the set in use stays as it was.
 */
import { X509Certificate } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import { capstanError } from '../errors.js';
import type { TlsServerOptions } from '../transport/options-schema.js';
import { createServerContext } from '../transport/tls-context.js';

/** The name counted for handshakes that got the default certificate. */
export const DEFAULT_NAME = 'default';

export class CertificateSet {
  readonly default: SecureContext | null;
  private readonly exact = new Map<string, SecureContext>();
  private readonly wildcard = new Map<string, SecureContext>();
  /** Expiry of each certificate, by entry name: epoch ms (absent when it cannot be read, as for pfx). */
  readonly expiries = new Map<string, number>();

  constructor(options: TlsServerOptions) {
    const sni = options.sni ?? [];
    const hasDefault = options.pfx !== undefined || options.key !== undefined || options.cert !== undefined;
    if (!hasDefault && sni.length === 0) throw capstanError('ERR_TLS_CONFIG', 'tls: give key and cert (PEM), or pfx, or sni entries', { path: 'tls' });
    this.default = hasDefault ? createServerContext(options) : null;
    if (hasDefault) this.noteExpiry(DEFAULT_NAME, options.cert);
    sni.forEach((entry, i) => {
      const name = entry.servername.toLowerCase();
      let context: SecureContext;
      try {
        // Each entry has its own key material and shares the listener's other settings (CA, ciphers, versions).
        context = createServerContext({ ...options, sni: undefined, key: entry.key, cert: entry.cert, pfx: entry.pfx, passphrase: entry.passphrase });
      } catch (err) {
        throw capstanError('ERR_TLS_CONFIG', `tls.sni.${i} (${entry.servername}): ${(err as Error).message}`, { path: `tls.sni.${i}`, cause: err });
      }
      if (name.startsWith('*.')) this.wildcard.set(name.slice(1), context);
      else this.exact.set(name, context);
      this.noteExpiry(name, entry.cert);
    });
  }

  /** The certificate for `servername` and the entry name it came from; `null` when there is no match and no default. */
  select(servername: string | undefined): { context: SecureContext; name: string } | null {
    if (servername !== undefined && servername !== '') {
      const name = servername.toLowerCase();
      const exact = this.exact.get(name);
      if (exact !== undefined) return { context: exact, name };
      const dot = name.indexOf('.');
      if (dot > 0) {
        const suffix = name.slice(dot);
        const wild = this.wildcard.get(suffix);
        if (wild !== undefined) return { context: wild, name: `*${suffix}` };
      }
    }
    return this.default === null ? null : { context: this.default, name: DEFAULT_NAME };
  }

  /** Whether any certificate is chosen by name (then handshakes go through an SNI callback). */
  get byName(): boolean {
    return this.exact.size > 0 || this.wildcard.size > 0;
  }

  private noteExpiry(name: string, cert: TlsServerOptions['cert']): void {
    const pem = Array.isArray(cert) ? cert[0] : cert;
    if (pem === undefined) return;
    try {
      this.expiries.set(name, Date.parse(new X509Certificate(typeof pem === 'string' ? pem : Buffer.from(pem)).validTo));
    } catch {
      // Unreadable here means unusable for TLS too, which createServerContext has already said.
    }
  }
}
