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
import { isCapstanError } from '../../errors.js';
import type { CertificateFiles } from '../../pipeline/certificate-watch.js';
import { CertificateSet } from '../../pipeline/certificates.js';
import type { ConfigIssue, ConfigPath } from './explain.js';
import type { ConfigStartTls, ConfigTls } from './schema.js';

export interface TlsMaterial {
  tls: TlsServerOptions;
  /** True when the certificate was generated here rather than read from files. */
  selfSigned: boolean;
  /** `tls.watch`: the files to poll and the settings they go with. */
  watch?: { files: CertificateFiles; intervalMs: number; settings: Omit<TlsServerOptions, 'key' | 'cert' | 'pfx' | 'passphrase' | 'sni'> };
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
 * Reads the files a listener's `tls` (or `startTls`) names, relative to `dir`.
 * Problems are added to `issues` at the key that named the file, all of them
 * in one pass.
 */
export async function loadTlsMaterial(tls: ConfigTls | ConfigStartTls | undefined, dir: string, at: ConfigPath, issues: ConfigIssue[]): Promise<TlsMaterial | undefined> {
  const { certFile, keyFile, pfxFile, caFile, sni, watch, ...settings } = { sni: undefined, watch: undefined, ...(tls ?? {}) } as ConfigTls;
  const before = issues.length;
  const read = async (path: ConfigPath, file: string | undefined, binary: boolean): Promise<string | Buffer | undefined> => {
    if (file === undefined) return undefined;
    const full = resolve(dir, file);
    try {
      // A PKCS#12 file is binary; PEM files are text.
      return binary ? await readFile(full) : await readFile(full, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      issues.push({ path, message: `cannot read ${full}: ${why}` });
      return undefined;
    }
  };
  /** Adds an issue when a key pair is given wrongly (or, if `required`, not at all). */
  const pairChecked = (where: ConfigPath, e: { certFile?: string | undefined; keyFile?: string | undefined; pfxFile?: string | undefined }, required: boolean): void => {
    if (e.pfxFile !== undefined && (e.certFile !== undefined || e.keyFile !== undefined)) issues.push({ path: [...where, 'pfxFile'], message: 'give pfxFile or certFile with keyFile, not both' });
    else if ((e.certFile === undefined) !== (e.keyFile === undefined)) issues.push({ path: [...where, e.certFile === undefined ? 'certFile' : 'keyFile'], message: 'is required: certFile and keyFile go together' });
    else if (required && e.pfxFile === undefined && e.certFile === undefined) issues.push({ path: where, message: 'needs certFile with keyFile, or pfxFile' });
  };
  pairChecked(at, { certFile, keyFile, pfxFile }, false);
  if (settings.clientCertificate !== undefined && settings.clientCertificate !== 'none' && caFile === undefined) {
    issues.push({ path: [...at, 'caFile'], message: `is required with clientCertificate ${settings.clientCertificate}: the CA that signs client certificates` });
  }
  const entries = (sni ?? []).map((e, i) => {
    const where: ConfigPath = [...at, 'sni', i];
    pairChecked(where, e, true);
    return { e, where };
  });
  const [cert, key, pfx, ca, sniRead] = await Promise.all([
    read([...at, 'certFile'], certFile, false),
    read([...at, 'keyFile'], keyFile, false),
    read([...at, 'pfxFile'], pfxFile, true),
    read([...at, 'caFile'], caFile, false),
    Promise.all(
      entries.map(async ({ e, where }) => {
        const [c, k, p] = await Promise.all([read([...where, 'certFile'], e.certFile, false), read([...where, 'keyFile'], e.keyFile, false), read([...where, 'pfxFile'], e.pfxFile, true)]);
        return {
          servername: e.servername,
          ...(c !== undefined ? { cert: c as string } : {}),
          ...(k !== undefined ? { key: k as string } : {}),
          ...(p !== undefined ? { pfx: p as Buffer } : {}),
          ...(e.passphrase !== undefined ? { passphrase: e.passphrase } : {}),
        };
      }),
    ),
  ]);
  if (issues.length > before) return undefined;
  const base: TlsServerOptions = { ...settings, ...(ca !== undefined ? { ca: ca as string } : {}), ...(sniRead.length > 0 ? { sni: sniRead } : {}) };
  const watching =
    watch === undefined || watch === false
      ? undefined
      : {
          files: watchedFiles(dir, { certFile, keyFile, pfxFile, passphrase: settings.passphrase, sni }),
          intervalMs: typeof watch === 'object' ? (watch.intervalMs ?? 2_000) : 2_000,
          settings: { ...settings, ...(ca !== undefined ? { ca: ca as string } : {}) },
        };
  let material: TlsServerOptions;
  let selfSigned = false;
  if (pfx !== undefined) material = { ...base, pfx: pfx as Buffer };
  else if (cert !== undefined) material = { ...base, cert: cert as string, key: key as string };
  else if (sniRead.length > 0) material = base;
  else {
    material = { ...base, ...(await selfSignedCertificate()) };
    selfSigned = true;
  }
  try {
    // Builds every secure context once, so a bad PEM or a key that does not match is a config error, not a start failure.
    new CertificateSet(material);
  } catch (err) {
    const path = isCapstanError(err) && err.path?.startsWith('tls.sni.') ? [...at, 'sni', Number(err.path.slice('tls.sni.'.length))] : at;
    issues.push({ path, message: (err as Error).message });
    return undefined;
  }
  return { tls: material, selfSigned, ...(watching !== undefined ? { watch: watching } : {}) };
}

/** The files a watcher polls, as absolute paths. */
function watchedFiles(dir: string, t: Pick<ConfigTls, 'certFile' | 'keyFile' | 'pfxFile' | 'passphrase' | 'sni'>): CertificateFiles {
  const abs = (f: string | undefined) => (f === undefined ? undefined : resolve(dir, f));
  const strip = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return strip({
    certFile: abs(t.certFile),
    keyFile: abs(t.keyFile),
    pfxFile: abs(t.pfxFile),
    passphrase: t.passphrase,
    ...(t.sni !== undefined && t.sni.length > 0 ? { sni: t.sni.map((e) => strip({ servername: e.servername, certFile: abs(e.certFile), keyFile: abs(e.keyFile), pfxFile: abs(e.pfxFile), passphrase: e.passphrase })) } : {}),
  });
}
