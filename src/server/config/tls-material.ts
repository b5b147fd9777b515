/**
 * TLS key material for a listener: read from the files its config names, or,
 * when it names none, a self-signed certificate for localhost generated once
 * per process (so a reload does not see a "changed" certificate, and workers
 * all get the one the primary made).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generate } from 'selfsigned';
import type { TlsServerOptions } from '../../transport/options-schema.js';
import { createServerContext } from '../../transport/tls-context.js';
import type { ConfigIssue, ConfigPath } from './explain.js';
import type { ConfigTls } from './schema.js';

export interface TlsMaterial {
  tls: TlsServerOptions;
  /** True when the certificate was generated here rather than read from files. */
  selfSigned: boolean;
}

let selfSignedPromise: Promise<{ key: string; cert: string }> | null = null;

/** A self-signed EC certificate for localhost, 127.0.0.1 and ::1, valid for a year; one per process. */
export function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  if (selfSignedPromise === null) {
    const notBeforeDate = new Date(Date.now() - 60_000);
    const notAfterDate = new Date(notBeforeDate.getTime() + 365 * 24 * 3600_000);
    selfSignedPromise = generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    }).then((pems) => ({ key: pems.private, cert: pems.cert }));
  }
  return selfSignedPromise;
}

/**
 * Reads the files a listener's `tls` names (relative to `dir`). Problems are
 * added to `issues` at the key that named the file.
 */
export async function loadTlsMaterial(tls: ConfigTls | undefined, dir: string, at: ConfigPath, issues: ConfigIssue[]): Promise<TlsMaterial | undefined> {
  const { certFile, keyFile, pfxFile, caFile, ...settings } = tls ?? {};
  const read = async (key: string, file: string | undefined): Promise<string | Buffer | undefined> => {
    if (file === undefined) return undefined;
    const path = resolve(dir, file);
    try {
      // A PKCS#12 file is binary; PEM files are text.
      return key === 'pfxFile' ? await readFile(path) : await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      issues.push({ path: [...at, key], message: `cannot read ${path}: ${why}` });
      return undefined;
    }
  };
  if (pfxFile !== undefined && (certFile !== undefined || keyFile !== undefined)) {
    issues.push({ path: [...at, 'pfxFile'], message: 'give pfxFile or certFile with keyFile, not both' });
    return undefined;
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    issues.push({ path: [...at, certFile === undefined ? 'certFile' : 'keyFile'], message: 'is required: certFile and keyFile go together' });
    return undefined;
  }
  if (settings.clientCertificate !== undefined && settings.clientCertificate !== 'none' && caFile === undefined) {
    issues.push({ path: [...at, 'caFile'], message: `is required with clientCertificate ${settings.clientCertificate}: the CA that signs client certificates` });
    return undefined;
  }
  const [cert, key, pfx, ca] = await Promise.all([
    read('certFile', certFile),
    read('keyFile', keyFile),
    read('pfxFile', pfxFile),
    read('caFile', caFile),
  ]);
  const base: TlsServerOptions = { ...settings, ...(ca !== undefined ? { ca: ca as string } : {}) };
  if (pfxFile !== undefined) return pfx === undefined ? undefined : usable({ ...base, pfx: pfx as Buffer }, false, [...at, 'pfxFile'], issues);
  if (certFile !== undefined) {
    return cert === undefined || key === undefined ? undefined : usable({ ...base, cert: cert as string, key: key as string }, false, [...at, 'certFile'], issues);
  }
  const generated = await selfSignedCertificate();
  return usable({ ...base, ...generated }, true, at, issues);
}

/** Builds the secure context once, so a bad PEM or a key that does not match is a config error, not a start failure. */
function usable(tls: TlsServerOptions, selfSigned: boolean, at: ConfigPath, issues: ConfigIssue[]): TlsMaterial | undefined {
  try {
    createServerContext(tls);
    return { tls, selfSigned };
  } catch (err) {
    issues.push({ path: at, message: (err as Error).message });
    return undefined;
  }
}
