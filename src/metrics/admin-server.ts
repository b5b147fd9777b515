/**
 * The admin endpoint: a small HTTP server, on 127.0.0.1:9100 by default.
 *
 * | path          | answers                                                        | token |
 * |---------------|----------------------------------------------------------------|-------|
 * | `/`           | the live dashboard (page and its scripts, shipped in the package) | no  |
 * | `/metrics`    | Prometheus text format, with HELP and TYPE                     | yes   |
 * | `/stats.json` | the {@link ServerSnapshot} as JSON                             | yes   |
 * | `/stats/history.json` | the last minutes of snapshots the dashboard draws (`?after=N`: only those after sample N) | yes |
 * | `/healthz`    | 200 `ok` while the serving thread's event loop answers, else 503 | no  |
 * | `/readyz`     | 200 `ready`, or 503 `draining` while the server shuts down or reloads (or the serving thread does not answer) | no |
 *
 * With a `token`, data paths need `Authorization: Bearer <token>`; the
 * dashboard page carries no data and reads the token from the URL fragment
 * (`/#token=…`, never sent to the server or written to logs) to send it along.
 * Health checks stay open so a load balancer needs no secret.
 *
 * **History.** The admin thread takes a snapshot every second and keeps the
 * last five minutes (admin-history.ts), so a dashboard opened now has its
 * charts at once; open dashboards read that history rather than take
 * snapshots of their own. `history: false` turns it off (and the serving
 * thread then takes snapshots only when asked).
 *
 * **Slow clients.** Its connections are capped in all and per remote address,
 * request heads have a deadline checked four times a second, and at the cap a
 * new connection replaces the one that has waited longest for a request, so
 * `/healthz` keeps answering while slow clients try to hold every slot (see
 * {@link AdminLimits} and admin-guard.ts).
 *
 * **Its own thread.** The HTTP server runs on a worker thread; the calling
 * thread only answers its questions (a snapshot, readiness, a ping) over a
 * MessageChannel. Run on the serving thread, the admin server's HTTP sockets
 * pass through the same Node stream functions as the connections, V8
 * re-optimizes those for both kinds of socket, and echo throughput stayed
 * 3-4 % lower for the life of the process after the first scrape (measured:
 * bench/metrics-cost.ts). On its thread nothing of that reaches the serving
 * code, and rendering `/metrics` uses another core when there is one.
 *
 * ```
 *  serving thread                              admin thread
 *  ──────────────                              ────────────
 *  StatsSource.snapshot() ◄── ask 'snapshot' ── GET /metrics, /stats.json
 *  StatsSource.ready()    ◄── ask 'ready' ───── GET /readyz
 *  (event loop turns)     ◄── ask 'ping' ────── GET /healthz
 *  logger                 ◄── log lines ─────── request failures, bad tokens
 * ```
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { isIP } from 'node:net';
import { capstanError } from '../errors.js';
import { defaultLogger, type Logger } from '../logger.js';
import { DEFAULT_ADMIN_LIMITS, resolveAdminLimits, type AdminLimits } from './admin-guard.js';
import { DEFAULT_HISTORY, type HistoryOptions } from './admin-history.js';
import type { AdminThreadData, FromAdminThread, ToAdminThread } from './admin-protocol.js';
import type { ServerSnapshot } from './snapshot.js';

/**
 * Where the admin server gets its numbers.
 *
 * `capstan serve` provides one over
 * its workers; a library user builds one from {@link collectWorkerSnapshot}
 * and {@link combineSnapshots}. Both methods run on the calling (serving)
 * thread, when the admin thread asks.
 *
 * ```ts
 * const source: StatsSource = {
 *   snapshot: async () => combineSnapshots([collectWorkerSnapshot('main', new Map([[server.name, server]]))], false),
 *   ready: () => !server.closing,
 * };
 * ```
 * @category Metrics
 */
export interface StatsSource {
  /**
   * The current snapshot of every worker, combined: called for each
   * `/metrics` and `/stats.json` request (requests that arrive together share
   * one call). A rejection, or no answer within 10 s, fails the request with 500.
   */
  snapshot(): Promise<ServerSnapshot>;
  /**
   * Whether to take traffic: `false` while draining (shutdown, reload), and
   * `/readyz` answers 503 `draining`. A throw, or no answer within 2 s (a
   * blocked event loop), answers 503 too.
   */
  ready(): boolean;
}

/**
 * A running admin endpoint, as {@link startAdminServer} resolves it.
 * @category Metrics
 */
export interface AdminServer {
  /** Where it listens. */
  readonly address: {
    /** The bound address. */
    host: string;
    /** The bound port (the one the kernel picked for port 0). */
    port: number;
  };
  /** Stops listening, closes open admin connections and ends the admin thread. */
  close(): Promise<void>;
}

/**
 * Options of {@link startAdminServer}. Only `source` is required.
 * @category Metrics
 */
export interface AdminServerOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one. Default 9100 ({@link DEFAULT_ADMIN_PORT}). */
  port?: number;
  /**
   * Bearer token required on `/metrics` and `/stats.json` when set
   * (`Authorization: Bearer <token>`; the dashboard reads it from `/#token=…`).
   * Health checks stay open. Default: none, and a warning is logged when
   * bound off loopback (the application server requires one there).
   */
  token?: string;
  /**
   * Where the numbers come from: asked for a snapshot on each data request
   * and for readiness on each `/readyz` (see {@link StatsSource}). Required.
   */
  source: StatsSource;
  /**
   * Bounds on the endpoint's own connections, so slow or greedy clients cannot
   * keep health checks from being answered; each one left out takes its
   * default (see {@link AdminLimits}).
   */
  limits?: Partial<AdminLimits>;
  /** Where request failures, refused tokens and slow clients are logged, through `logger.child({ component: 'admin' })`. Default: pino on stderr at `warn`. */
  logger?: Logger;
  /**
   * The dashboard's history: a snapshot every `intervalMs` (default 1000, at
   * least 100), the last `maxSamples` kept (default 300); `false` keeps none.
   */
  history?: Partial<HistoryOptions> | false;
}

/**
 * The admin endpoint's default port: 9100.
 * @category Metrics
 */
export const DEFAULT_ADMIN_PORT = 9100;

/**
 * The admin thread's heap limit: it holds a snapshot or two (tens of KB per
 * worker and listener) and the dashboard's files; the bound keeps a runaway
 * scrape from growing the process, with room for many workers × listeners.
 */
const THREAD_HEAP_MB = 256;
/** A crashed admin thread is started again after this long, doubling up to {@link RESTART_MAX_MS}. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** How long close() waits for the thread to end on its own before terminating it. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Starts the admin endpoint (the dashboard, `/metrics`, `/stats.json`,
 * `/healthz`, `/readyz`) on its own worker thread, and resolves once it
 * listens.
 *
 * The thread asks `options.source` for every figure; if it dies, it
 * is started again on the same address.
 *
 * ```ts
 * const admin = await startAdminServer({ port: 9100, source });
 * // … later
 * await admin.close();
 * ```
 * @throws CapstanError (as a rejection) `ERR_INVALID_OPTION` for a bad port,
 *   token or limit, `ERR_LISTEN_FAILED` when the address cannot be bound.
 * @category Metrics
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_ADMIN_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw capstanError('ERR_INVALID_OPTION', `admin: port must be an integer from 0 to 65535, got ${String(port)}`, { path: 'port', actual: port });
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length === 0)) {
    throw capstanError('ERR_INVALID_OPTION', 'admin: token must be a non-empty string (or left out)', { path: 'token' });
  }
  const limits = resolveAdminLimits(options.limits);
  const history = resolveHistory(options.history);
  const logger = (options.logger ?? defaultLogger()).child({ component: 'admin' });
  if (options.token === undefined && !isLoopback(host)) {
    logger.warn({ host }, 'admin endpoint bound off loopback without a token: anyone who can reach it can read the counters');
  }
  const admin = new AdminThread(host, options.token, options.source, logger, limits, history);
  const address = await admin.start(port);
  logger.info({ ...address }, 'admin endpoint listening');
  return { address, close: () => admin.close() };
}

function resolveHistory(given: AdminServerOptions['history']): HistoryOptions | null {
  if (given === false) return null;
  const history = { ...DEFAULT_HISTORY, ...given };
  const bad = (key: keyof HistoryOptions, what: string) =>
    capstanError('ERR_INVALID_OPTION', `admin: history.${key} must be ${what}, got ${String(history[key])}`, { path: `history.${key}`, actual: history[key] });
  if (!Number.isInteger(history.intervalMs) || history.intervalMs < 100) throw bad('intervalMs', 'a whole number of ms, at least 100');
  if (!Number.isInteger(history.maxSamples) || history.maxSamples < 1) throw bad('maxSamples', 'a whole number, at least 1');
  return history;
}

/**
 * One admin thread, restarted on the same address if it dies.
 * @internal exported for tests; use {@link startAdminServer}.
 */
export class AdminThread {
  private worker: Worker | null = null;
  private channel: MessageChannel['port1'] | null = null;
  private closing = false;
  private restartMs = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | null = null;
  private port = 0;

  /** The running thread, if any. */
  get thread(): Worker | null {
    return this.worker;
  }

  constructor(
    private readonly host: string,
    private readonly token: string | undefined,
    private readonly source: StatsSource,
    private readonly logger: Logger,
    private readonly limits: AdminLimits = DEFAULT_ADMIN_LIMITS,
    private readonly history: HistoryOptions | null = DEFAULT_HISTORY,
  ) {}

  /** Starts the thread and resolves with the address it bound. */
  start(port: number): Promise<{ host: string; port: number }> {
    const { port1, port2 } = new MessageChannel();
    const data: AdminThreadData = { host: this.host, port, token: this.token, limits: this.limits, history: this.history, channel: port2 };
    const worker = new Worker(new URL('./admin-thread.js', import.meta.url), { workerData: data, transferList: [port2], resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB } });
    this.worker = worker;
    this.channel = port1;
    return new Promise((resolve, reject) => {
      let started = false;
      // The channel's listener is an EventTarget one, not the Worker's EventEmitter 'message' event,
      // so the serving thread's emit() keeps seeing only its sockets.
      port1.on('message', (m: FromAdminThread) => {
        if (m.t === 'listening') {
          started = true;
          this.port = m.port;
          this.restartMs = RESTART_MIN_MS;
          resolve({ host: m.host, port: m.port });
        } else if (m.t === 'bind-failed') {
          if (!started) reject(capstanError('ERR_LISTEN_FAILED', m.message, { cause: Object.assign(new Error(m.message), { code: m.code }) }));
          else this.logger.error({ code: m.code }, m.message);
        } else if (m.t === 'ask') this.answer(port1, m);
        else if (m.t === 'log') this.logger[m.level](m.obj, m.msg);
      });
      worker.once('exit', (code) => {
        port1.close();
        if (this.worker === worker) {
          this.worker = null;
          this.channel = null;
        }
        if (!started) {
          reject(capstanError('ERR_LISTEN_FAILED', `admin: the admin thread stopped before listening (exit code ${code})`));
          return;
        }
        if (this.closing) return;
        this.logger.error({ code, restartInMs: this.restartMs }, 'admin thread stopped; starting it again');
        this.restartLater();
      });
      worker.on('error', (err) => this.logger.error({ err }, 'admin thread failed'));
    });
  }

  /** Starts the thread again after the back-off, and keeps trying (the port may be taken meanwhile). */
  private restartLater(): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closing) return;
      this.start(this.port).catch((err: unknown) => {
        this.logger.error({ err, retryInMs: this.restartMs }, 'admin thread did not restart');
        if (!this.closing) this.restartLater();
      });
    }, this.restartMs);
    this.restartMs = Math.min(RESTART_MAX_MS, this.restartMs * 2);
  }

  private answer(port: MessageChannel['port1'], m: Extract<FromAdminThread, { t: 'ask' }>): void {
    const reply = (r: Omit<Extract<ToAdminThread, { t: 'reply' }>, 't' | 'id'>) => port.postMessage({ t: 'reply', id: m.id, ...r } satisfies ToAdminThread);
    if (m.what === 'ping') return reply({});
    const failed = (what: string) => (err: unknown) => {
      if (m.quiet !== true) this.logger.warn({ err }, `admin: ${what} failed`);
      reply({ error: err instanceof Error ? err.message : String(err) });
    };
    // The source is the caller's code: a throw is answered as an error, never left to end the process.
    if (m.what === 'ready') {
      try {
        return reply({ ready: this.source.ready() });
      } catch (err) {
        return failed('the readiness check')(err);
      }
    }
    Promise.resolve()
      .then(() => this.source.snapshot())
      .then((snapshot) => reply({ snapshotJson: JSON.stringify(snapshot) }), failed('taking a snapshot'));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.channel?.postMessage({ t: 'close' } satisfies ToAdminThread);
    const timer = setTimeout(() => void worker.terminate(), CLOSE_WAIT_MS);
    await exited;
    clearTimeout(timer);
  }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
