/**
 * Certificate hot reload: a TLS listener's key and certificate files (and its
 * SNI entries') are watched, and re-read on change or on demand; new
 * handshakes get the new certificates, open connections keep theirs.
 *
 * ```
 *  files change ─► (debounce) ─► read all ─► server.updateTls(all) ─┬─ ok: new handshakes use them
 *  reload()    ─┘                                                   └─ bad or mismatched pair:
 *                                                                      refused, logged, the old set stays
 * ```
 *
 * Files are polled (`fs.watchFile`, a stat per file per interval): certificate
 * tools replace files by renaming new ones into place, which an inotify watch
 * on the old file does not follow.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import type { TlsServerOptions } from '../transport/options-schema.js';

/** Where a listener's TLS key material lives. */
export interface CertificateFiles {
  keyFile?: string;
  certFile?: string;
  pfxFile?: string;
  passphrase?: string;
  /** Certificates chosen by server name, each from its own files. */
  sni?: Array<{ servername: string; keyFile?: string; certFile?: string; pfxFile?: string; passphrase?: string }>;
}

export interface WatchCertificatesOptions {
  /** The listener's other TLS settings (CA, client certificates, ALPN, versions, ciphers …). */
  settings?: Omit<TlsServerOptions, 'key' | 'cert' | 'pfx' | 'passphrase' | 'sni'>;
  /** How often the files are checked, ms. Default 2,000. */
  intervalMs?: number;
  /** Where reloads and refused certificates are logged. */
  logger?: Logger;
}

/** What `watchCertificates` returns. */
export interface CertificateWatcher {
  /** Reads the files now and applies them; resolves false (logged) when they were refused and the old ones stay. */
  reload(): Promise<boolean>;
  /** Stops watching. */
  close(): void;
}

/** Reads the files into TLS settings `listen({ tls })` and `server.updateTls()` take. */
export async function readCertificateFiles(files: CertificateFiles, settings: WatchCertificatesOptions['settings'] = {}): Promise<TlsServerOptions> {
  const pem = (path: string | undefined) => (path === undefined ? Promise.resolve(undefined) : readFile(path, 'utf8'));
  const bin = (path: string | undefined) => (path === undefined ? Promise.resolve(undefined) : readFile(path));
  const [key, cert, pfx, sni] = await Promise.all([
    pem(files.keyFile),
    pem(files.certFile),
    bin(files.pfxFile),
    Promise.all(
      (files.sni ?? []).map(async (e) => {
        const [k, c, p] = await Promise.all([pem(e.keyFile), pem(e.certFile), bin(e.pfxFile)]);
        return { servername: e.servername, ...(k !== undefined ? { key: k } : {}), ...(c !== undefined ? { cert: c } : {}), ...(p !== undefined ? { pfx: p } : {}), ...(e.passphrase !== undefined ? { passphrase: e.passphrase } : {}) };
      }),
    ),
  ]);
  return {
    ...settings,
    ...(key !== undefined ? { key } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(pfx !== undefined ? { pfx } : {}),
    ...(files.passphrase !== undefined ? { passphrase: files.passphrase } : {}),
    ...(sni.length > 0 ? { sni } : {}),
  };
}

/**
 * Watches `files` and applies them to `server` (a TLS listener, or anything
 * with `updateTls`) whenever they change, and on `reload()`.
 */
export function watchCertificates(server: { updateTls(tls: TlsServerOptions): void; readonly name?: string }, files: CertificateFiles, options: WatchCertificatesOptions = {}): CertificateWatcher {
  const paths = [files.keyFile, files.certFile, files.pfxFile, ...(files.sni ?? []).flatMap((e) => [e.keyFile, e.certFile, e.pfxFile])].filter((p): p is string => p !== undefined);
  const interval = options.intervalMs ?? 2_000;
  const log = options.logger;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<boolean> | null = null;
  let again = false;

  const apply = async (): Promise<boolean> => {
    let tls: TlsServerOptions;
    try {
      tls = await readCertificateFiles(files, options.settings);
    } catch (err) {
      log?.warn({ listener: server.name, err: (err as Error).message }, 'certificate reload: cannot read the files; the certificates in use stay');
      return false;
    }
    try {
      server.updateTls(tls);
    } catch (err) {
      log?.warn({ listener: server.name, err: (err as Error).message }, 'certificate reload refused (a bad or mismatched key and certificate); the certificates in use stay');
      return false;
    }
    log?.info({ listener: server.name, files: paths }, 'certificates reloaded: new handshakes use them');
    return true;
  };

  const reload = (): Promise<boolean> => {
    if (running !== null) {
      // A change during a reload: read again once this one is done, so the last state wins.
      again = true;
      return running;
    }
    running = apply().finally(() => {
      running = null;
      if (again) {
        again = false;
        void reload();
      }
    });
    return running;
  };

  const changed = (now: Stats, before: Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
    // Key and certificate are usually replaced one after the other: wait for both.
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void reload();
    }, Math.min(250, interval));
    timer.unref();
  };
  for (const p of paths) watchFile(p, { interval, persistent: false }, changed);

  return {
    reload,
    close() {
      for (const p of paths) unwatchFile(p, changed);
      if (timer !== null) clearTimeout(timer);
    },
  };
}
