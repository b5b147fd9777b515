/**
 * `capstan serve`: start the server, say where it listens, then live by
 * signals until told to stop.
 *
 * | signal           | what happens                                                        |
 * |------------------|---------------------------------------------------------------------|
 * | SIGTERM, SIGINT  | stop accepting; drain (answer what arrived, plugin `shutdown` hook, |
 * |                  | end when quiet); force-close the rest at `shutdown.graceMs`; exit 0 |
 * | the same, again  | exit at once (status 1), without waiting for connections            |
 * | SIGHUP           | re-read the config and certificates and apply them; a bad config is |
 * |                  | rejected (logged) and the running one stays                         |
 *
 * With a pidfile, the process's pid is written there once every listener and
 * the admin endpoint are up (before `ready`), and removed when it exits.
 */
import type { Writable } from 'node:stream';
import { isCapstanError } from '../errors.js';
import { startAdminServer, type AdminServer, type StatsSource } from '../metrics/admin-server.js';
import type { AppServer } from './app.js';
import { loadConfig } from './config/load.js';
import type { Overrides, ResolvedConfig } from './config/resolve.js';
import type { Logger } from '../logger.js';
import { createServerLogger } from './logging.js';
import { checkPidfile, removePidfile, writePidfile } from './pidfile.js';
import { errorFields, type ListenerAddress } from './runtime.js';
import { SingleProcessServer } from './single.js';
import { Supervisor } from './supervisor.js';

/** Exit statuses (sysexits-style where one fits). */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 78 } as const;

export interface ServeOptions {
  /** Config file; the built-in default when absent. */
  config?: string;
  overrides: Overrides;
  /** Where the human-readable lines go (addresses, reload results). */
  out: Writable;
  /** Where errors that stop the command go. */
  err: Writable;
  version: string;
  /** Write this process's pid here once listening, and remove it on exit (see pidfile.ts). */
  pidfile?: string;
}

type Signal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

export async function runServe(o: ServeOptions): Promise<number> {
  // The console lines are a courtesy: a closed stdout (`serve | head`) must not stop the server.
  o.out.on('error', () => {});
  const claim = o.pidfile === undefined ? {} : checkPidfile(o.pidfile);
  if (claim.refusal !== undefined) {
    o.err.write(`capstan: cannot start: ${claim.refusal}\n`);
    return EXIT.failure;
  }
  let config: ResolvedConfig;
  try {
    config = await loadConfig(o.config, o.overrides);
  } catch (err) {
    return reportStartError(o.err, err);
  }
  const logger = createServerLogger(config.logging, config.workers > 1 ? 'primary' : 'main');
  const app: AppServer = config.workers > 1 ? new Supervisor(config, logger) : new SingleProcessServer(config, logger);

  // Signals that arrive while starting are held and handled once the start settles.
  const queue: Signal[] = [];
  let wake: (() => void) | null = null;
  const onSignal = (s: Signal) => {
    if (stopping && s !== 'SIGHUP') {
      logger.warn({ signal: s }, 'second stop signal: exiting now without waiting for connections');
      process.exit(EXIT.failure);
    }
    if (s !== 'SIGHUP') stopping = true;
    queue.push(s);
    wake?.();
  };
  let stopping = false;
  const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((s) => [s, () => onSignal(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const pidfile = o.pidfile;
  // Also on process.exit (a second stop signal), which skips the finally below.
  const removePid = () => {
    if (pidfile !== undefined) removePidfile(pidfile);
  };
  try {
    let addresses: ListenerAddress[];
    try {
      addresses = await app.start();
    } catch (err) {
      logger.error({ err: errorFields(err) }, 'start failed');
      return reportStartError(o.err, err);
    }
    let admin: AdminServer | null = null;
    try {
      admin = await startAdmin(config, app.stats, logger);
    } catch (err) {
      await app.shutdown();
      return reportStartError(o.err, err);
    }
    if (pidfile !== undefined) {
      if (claim.stale !== undefined) logger.info({ pidfile, stalePid: claim.stale.pid, why: claim.stale.why }, 'replacing a stale pidfile');
      try {
        writePidfile(pidfile);
      } catch (err) {
        await app.shutdown();
        await admin?.close();
        o.err.write(`capstan: cannot start: cannot write the pidfile ${pidfile}: ${(err as Error).message}\n`);
        return EXIT.failure;
      }
      process.on('exit', removePid);
      logger.info({ pidfile, pid: process.pid }, 'pidfile written');
    }
    printStart(o, config, app, addresses, admin);
    logger.info({ listeners: addresses.length, processes: app.processes }, 'ready');

    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const signal = queue.shift() as Signal;
      if (signal === 'SIGHUP') {
        if (!stopping) ({ config, admin } = await reload(o, config, app, admin, logger));
        continue;
      }
      // Listeners stop accepting synchronously inside shutdown(); say so only once it is true.
      const stopped = app.shutdown();
      o.out.write(`shutting down (${signal})\n`);
      logger.info({ signal, graceMs: config.shutdown.graceMs }, 'shutting down: no new connections; answering what has arrived');
      const result = await stopped;
      await admin?.close();
      logger.info({ ended: result.ended, forced: result.forced }, 'stopped');
      o.out.write('stopped\n');
      return EXIT.ok;
    }
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    removePid();
    process.off('exit', removePid);
    // A plugin that left a handle open must not keep a stopped server around.
    setTimeout(() => process.exit(process.exitCode ?? EXIT.ok), 2_000).unref();
  }
}

async function reload(
  o: ServeOptions,
  config: ResolvedConfig,
  app: AppServer,
  admin: AdminServer | null,
  logger: Logger,
): Promise<{ config: ResolvedConfig; admin: AdminServer | null }> {
  logger.info({ file: config.file }, 'SIGHUP: reloading the config');
  let next: ResolvedConfig;
  try {
    next = await loadConfig(o.config, o.overrides);
    if (app instanceof SingleProcessServer && next.workers !== 1) {
      logger.warn({ workers: next.workers }, 'workers changed from 1: switching to worker processes needs a restart; reloading the rest');
    }
    const result = await app.reload(next);
    for (const l of result.started) o.out.write(listeningLine(l));
    for (const name of result.stopped) o.out.write(`stopped ${name}\n`);
    for (const name of result.updated) o.out.write(`updated ${name} tls (new connections get the new settings; open ones keep theirs)\n`);
    logger.info({ started: result.started.map((l) => l.name), stopped: result.stopped, updated: result.updated, unchanged: result.unchanged }, 'reloaded');
  } catch (err) {
    logger.error({ err: errorFields(err) }, 'reload rejected; the running config stays in place');
    o.out.write(`reload failed, still running the previous config: ${firstLine(err)}\n`);
    return { config, admin };
  }
  logger.level = next.logging.level;
  if (JSON.stringify(next.admin) !== JSON.stringify(config.admin)) {
    await admin?.close();
    try {
      admin = await startAdmin(next, app.stats, logger);
      if (admin !== null) o.out.write(adminLine(admin));
    } catch (err) {
      logger.error({ err: errorFields(err) }, 'reload: the new admin endpoint failed to start; restoring the old one');
      admin = await startAdmin(config, app.stats, logger).catch(() => null);
    }
  }
  o.out.write('reloaded\n');
  return { config: next, admin };
}

function startAdmin(config: ResolvedConfig, source: StatsSource, logger: Logger): Promise<AdminServer | null> {
  if (config.admin === null) return Promise.resolve(null);
  return startAdminServer({ ...config.admin, source, logger });
}

function printStart(o: ServeOptions, config: ResolvedConfig, app: AppServer, addresses: ListenerAddress[], admin: AdminServer | null): void {
  const processes = app.processes === 1 ? '1 process' : `${app.processes} worker processes`;
  o.out.write(`capstan ${o.version}: ${config.file}, ${addresses.length} listener(s), ${processes}, pid ${process.pid}\n`);
  for (const l of addresses) o.out.write(listeningLine(l));
  if (admin !== null) o.out.write(adminLine(admin));
  o.out.write('ready\n');
}

/** `listening echo-lp4 tcp 127.0.0.1:7000 codec=lp4 plugin=echo`: one line per listener, easy to read and to parse. */
export function listeningLine(l: ListenerAddress): string {
  return `listening ${l.name} ${l.transport} ${l.address} codec=${l.codec} plugin=${l.plugin}${l.selfSigned ? ' (self-signed certificate)' : ''}\n`;
}

function adminLine(admin: AdminServer): string {
  const { host, port } = admin.address;
  return `admin http://${host.includes(':') ? `[${host}]` : host}:${port}/ (dashboard, /metrics, /stats.json, /healthz, /readyz)\n`;
}

function firstLine(err: unknown): string {
  const message = (err as { message?: unknown })?.message;
  return (typeof message === 'string' ? message : String(err)).split('\n')[0] as string;
}

/** Prints a start failure in plain words; returns the exit status it calls for. */
export function reportStartError(out: Writable, err: unknown, checking = false): number {
  if (isCapstanError(err, 'ERR_CONFIG')) {
    out.write(`capstan: the config has problems${checking ? '' : '; nothing was started'}:\n${indent(err.message)}\n`);
    return EXIT.config;
  }
  if (isCapstanError(err)) {
    out.write(`capstan: cannot start: ${err.message}\n`);
    return EXIT.failure;
  }
  throw err;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
