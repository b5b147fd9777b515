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
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import type { TlsServerOptions } from '../transport/options-schema.js';

/**
 * Where a listener's TLS key material lives: paths of PEM files (or a PKCS#12
 * file), read by {@link readCertificateFiles} and watched by {@link watchCertificates}.
 * @category TLS
 */
export interface CertificateFiles {
  /** The private key file (PEM). */
  keyFile?: string;
  /** The certificate chain file (PEM), matching the key. */
  certFile?: string;
  /** A PKCS#12 file with key and certificate, instead of `keyFile` and `certFile`. */
  pfxFile?: string;
  /** Passphrase of the key or PKCS#12 file. */
  passphrase?: string;
  /** Certificates chosen by server name, each from its own files (see {@link TlsServerOptions.sni}). */
  sni?: Array<{
    /** The name clients ask for: `api.example.com`, or `*.example.com`. */
    servername: string;
    /** This name's private key file (PEM). */
    keyFile?: string;
    /** This name's certificate chain file (PEM). */
    certFile?: string;
    /** This name's PKCS#12 file, instead of `keyFile` and `certFile`. */
    pfxFile?: string;
    /** Passphrase of this name's key or PKCS#12 file. */
    passphrase?: string;
  }>;
}

/**
 * Options of {@link watchCertificates} (and, for `settings`, of {@link readCertificateFiles}).
 * @category TLS
 */
export interface WatchCertificatesOptions {
  /** The listener's other TLS settings (CA, client certificates, ALPN, versions, ciphers …). */
  settings?: Omit<TlsServerOptions, 'key' | 'cert' | 'pfx' | 'passphrase' | 'sni'>;
  /** How often the files are checked (a stat each), ms. A change is applied up to 250 ms later, so a key and certificate replaced one after the other are read together. Default 2,000. */
  intervalMs?: number;
  /** Where reloads (`info`) and refused or unreadable files (`warn`) are logged. Default: nowhere. */
  logger?: Logger;
}

/**
 * What {@link watchCertificates} returns.
 * @category TLS
 */
export interface CertificateWatcher {
  /** Reads the files now and applies them; resolves false (logged) when they were refused and the old ones stay. */
  reload(): Promise<boolean>;
  /** Stops watching. */
  close(): void;
}

/**
 * Reads the files into the TLS settings `listen({ tls })` and
 * `server.updateTls()` take: PEM files as text, PKCS#12 files as bytes.
 * @param settings - the other TLS settings to merge in (CA, client certificates, ALPN …).
 * @throws (as a rejection) the file system's error when a file cannot be read.
 * @category TLS
 */
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
 * Watches `files` and applies them to `server` whenever they change, and on
 * `reload()`.
 *
 * New handshakes get the new certificates, open connections keep
 * theirs. Files are polled (`fs.watchFile`, a stat per file per
 * `intervalMs`): certificate tools replace files by renaming new ones into
 * place, which an inotify watch on the old file does not follow. Files that cannot be read, or a key that does not match its
 * certificate, are refused and logged, and the certificates in use stay.
 *
 * ```ts
 * const files = { keyFile: '/etc/app/key.pem', certFile: '/etc/app/cert.pem' };
 * const server = await listen({ port: 7443, tls: await readCertificateFiles(files), handler });
 * const watcher = watchCertificates(server, files, { logger });
 * process.on('SIGHUP', () => void watcher.reload());
 * ```
 * @param server - a TLS listener, or anything with `updateTls`.
 * @category TLS
 */
export function watchCertificates(
  server: {
    /** Applies new TLS settings, throwing when they are refused (see {@link Server.updateTls}). */
    updateTls(tls: TlsServerOptions): void;
    /** Named in log lines. */
    readonly name?: string;
  },
  files: CertificateFiles,
  options: WatchCertificatesOptions = {},
): CertificateWatcher {
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
