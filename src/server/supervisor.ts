/**
 * Multi-process mode (`workers: N` or `auto`): this process is the primary.
 * It forks N worker processes, each running every listener, and keeps them
 * running:
 *
 * ```
 *              ┌──────────── primary ─────────────┐
 *   SIGHUP ──► │ re-read config ─► reload workers │ ◄── admin endpoint: asks each
 *   SIGTERM ─► │ stop workers, wait for exits     │     worker for its snapshot
 *              └──┬──────────┬──────────┬─────────┘     and combines them
 *                 ▼          ▼          ▼
 *             worker 1   worker 2 … worker N   (a crashed worker is replaced after
 *                                              a back-off; the others keep serving)
 * ```
 *
 * Sharing a port: where Node has `reusePort` (22.12+ on Linux) each worker
 * binds its own socket and the kernel spreads connections; elsewhere (and
 * whenever a listener is a Unix socket or on port 0) the `cluster` module does
 * it: the primary holds the listening socket and hands each accepted
 * connection to a worker in turn. Before workers bind, the primary removes
 * socket files left by a dead server (see preflight.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { capstanError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StatsSource } from '../metrics/admin-server.js';
import { combineSnapshots, type WorkerSnapshot } from '../metrics/snapshot.js';
import { supportsReusePort, type CloseResult } from '../transport/listen.js';
import type { AppServer } from './app.js';
import type { ResolvedConfig } from './config/resolve.js';
import { PrimaryRelay } from '../pubsub/primary-relay.js';
import { isFromWorker, WorkerChannel, type ErrorInfo, type FromWorker } from './ipc.js';
import { addressOf, preflight } from './preflight.js';
import type { ListenerAddress, ReloadResult } from './runtime.js';

const WORKER_ENTRY = new URL('./worker-main.js', import.meta.url);
/** How long the primary waits for a worker's snapshot before leaving it out. */
const SNAPSHOT_TIMEOUT_MS = 2_000;
/** Time a worker gets to start its listeners (plugin setup included). */
const START_TIMEOUT_MS = 30_000;
/** Beyond the grace period, what a stopping worker gets before it is killed. */
const EXIT_MARGIN_MS = 5_000;

interface Worker {
  readonly id: string;
  readonly child: ChildProcess;
  readonly channel: WorkerChannel;
  readonly startedAt: number;
  /** Resolves once the worker reported its listeners (or failed to start). */
  readonly started: Promise<ListenerAddress[]>;
  stopping: boolean;
  /** It reported its listeners: it takes reloads and snapshot requests. */
  ready: boolean;
  /** The config it runs (a worker that started during a reload is brought up to date when ready). */
  config: ResolvedConfig;
  exited: Promise<void>;
  /** What the worker's drain did, once it reported it. */
  result?: CloseResult;
}

/** Whether workers bind their own sockets (reusePort) or share the primary's (cluster). */
export function workersBindThemselves(config: ResolvedConfig): boolean {
  // Port 0 would give every worker its own random port, and Unix sockets cannot share a path.
  return supportsReusePort() && config.listeners.every((l) => l.transport !== 'unix' && l.port !== 0);
}

export class Supervisor implements AppServer {
  readonly stats: StatsSource;
  private readonly workers = new Map<string, Worker>();
  private readonly crashes = new Map<string, number>();
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private readonly reusePort: boolean;
  /** Pub/sub between the workers: each publish goes on to the other workers with subscribers of its topic. */
  private readonly relay: PrimaryRelay;
  private stopping = false;
  private draining = false;

  constructor(
    private config: ResolvedConfig,
    private readonly logger: Logger,
  ) {
    this.reusePort = workersBindThemselves(config);
    this.relay = new PrimaryRelay((id, m, done) => this.workers.get(id)?.channel.send(m, done) ?? false, logger);
    this.stats = {
      snapshot: async () => combineSnapshots(await this.snapshots(), this.draining || this.stopping),
      ready: () => !this.draining && !this.stopping,
    };
  }

  get processes(): number {
    return this.workers.size;
  }

  async start(): Promise<ListenerAddress[]> {
    await preflight(this.config.listeners, false);
    this.logger.info({ workers: this.config.workers, sharing: this.reusePort ? 'reusePort' : 'cluster' }, `starting ${this.config.workers} workers`);
    const first = [];
    for (let i = 1; i <= this.config.workers; i++) first.push(this.spawn(String(i)));
    try {
      const listeners = await Promise.all(first.map((w) => w.started));
      return listeners[0] ?? [];
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  async reload(config: ResolvedConfig): Promise<ReloadResult> {
    if (this.reusePort && !workersBindThemselves(config)) {
      throw capstanError('ERR_CONFIG', 'workers bind their own sockets (reusePort); a port 0 or unix listener needs a restart, not a reload');
    }
    const held = new Map(this.config.listeners.map((l) => [l.name, addressOf(l)]));
    await preflight(
      config.listeners.filter((l) => held.get(l.name) !== addressOf(l)),
      !this.reusePort,
    );
    this.draining = true;
    try {
      const live = this.serving();
      const replies = await Promise.allSettled(live.map((w) => this.reloadWorker(w, config)));
      const failed = replies.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        // Some workers may have moved on: bring them back so every worker serves the same listeners.
        await Promise.allSettled(live.filter((_, i) => replies[i]?.status === 'fulfilled').map((w) => this.reloadWorker(w, this.config)));
        throw failed.reason;
      }
      this.config = config;
      // A worker that came up while the reload ran started on the old config.
      for (const w of this.serving().filter((x) => x.config !== config)) {
        this.reloadWorker(w, config).catch((err: Error) => this.logger.error({ workerId: w.id, message: err.message }, `worker ${w.id} cannot take the new config`));
      }
      this.resize();
      const first = replies[0] as PromiseFulfilledResult<ReloadResult> | undefined;
      return first?.value ?? { started: [], stopped: [], updated: [], unchanged: [] };
    } finally {
      this.draining = false;
    }
  }

  async shutdown(): Promise<CloseResult> {
    this.stopping = true;
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    const workers = [...this.workers.values()];
    await Promise.all(workers.map((w) => this.stopWorker(w)));
    return workers.reduce((sum, w) => ({ ended: sum.ended + (w.result?.ended ?? 0), forced: sum.forced + (w.result?.forced ?? 0) }), { ended: 0, forced: 0 });
  }

  private async reloadWorker(w: Worker, config: ResolvedConfig): Promise<ReloadResult> {
    const reply = await w.channel.request<Extract<FromWorker, { t: 'capstan:reloaded' }>>((seq) => ({ t: 'capstan:reload', seq, config }), START_TIMEOUT_MS);
    if (reply.error !== undefined) throw toError(reply.error);
    w.config = config;
    return reply.result as ReloadResult;
  }

  /** Workers that are up and not stopping. */
  private serving(): Worker[] {
    return [...this.workers.values()].filter((w) => w.ready && !w.stopping);
  }

  private async snapshots(): Promise<WorkerSnapshot[]> {
    const live = this.serving();
    const replies = await Promise.allSettled(
      live.map((w) => w.channel.request<Extract<FromWorker, { t: 'capstan:snapshot' }>>((seq) => ({ t: 'capstan:snapshot', seq }), SNAPSHOT_TIMEOUT_MS)),
    );
    return replies.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ snapshot: WorkerSnapshot }>).value.snapshot);
  }

  /** Starts or retires workers after a reload changed `workers`. */
  private resize(): void {
    const live = [...this.workers.values()].filter((w) => !w.stopping);
    for (let i = live.length + 1; i <= this.config.workers; i++) {
      let id = i;
      while (this.workers.has(String(id))) id++;
      void this.spawn(String(id)).started.catch(() => {});
    }
    for (const w of live.slice(this.config.workers)) void this.stopWorker(w);
  }

  private spawn(id: string): Worker {
    const child = this.forkWorker(id);
    const channel = new WorkerChannel(child);
    let settle!: { resolve: (l: ListenerAddress[]) => void; reject: (e: Error) => void };
    const started = new Promise<ListenerAddress[]>((resolve, reject) => (settle = { resolve, reject }));
    // A failed replacement is logged by the exit handler; no one else awaits it.
    started.catch(() => {});
    // Exit can be reported before the last IPC messages (the drain result) are read; wait for the channel too.
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        if (!child.connected) return resolve();
        child.once('disconnect', () => resolve());
        setTimeout(resolve, 1_000).unref();
      }),
    );
    const w: Worker = { id, child, channel, startedAt: Date.now(), started, stopping: false, ready: false, config: this.config, exited };
    this.workers.set(id, w);
    const startTimer = setTimeout(() => {
      settle.reject(capstanError('ERR_WORKER', `worker ${id} did not start its listeners within ${START_TIMEOUT_MS} ms`));
      child.kill('SIGKILL');
    }, START_TIMEOUT_MS);

    // A send racing the worker's exit fails with EPIPE; the exit handler does what is needed.
    child.on('error', (err) => this.logger.debug({ workerId: id, message: err.message }, 'worker channel error'));
    child.on('message', (m: unknown) => {
      if (!isFromWorker(m) || channel.reply(m)) return;
      if (m.t === 'capstan:pubsub') {
        this.relay.fromWorker(id, m);
      } else if (m.t === 'capstan:hello') {
        w.config = this.config;
        channel.send({ t: 'capstan:start', id, config: this.config, reusePort: this.reusePort });
      } else if (m.t === 'capstan:ready') {
        clearTimeout(startTimer);
        this.logger.info({ workerId: id, workerPid: child.pid }, `worker ${id} ready (pid ${child.pid})`);
        w.ready = true;
        settle.resolve(m.listeners);
        if (w.config !== this.config) {
          this.reloadWorker(w, this.config).catch((err: Error) => this.logger.error({ workerId: id, message: err.message }, `worker ${id} cannot take the new config`));
        }
      } else if (m.t === 'capstan:stopped') {
        w.result = m.result;
      } else if (m.t === 'capstan:failed') {
        clearTimeout(startTimer);
        settle.reject(toError(m.error));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(startTimer);
      channel.close();
      this.relay.forget(id);
      settle.reject(capstanError('ERR_WORKER', `worker ${id} exited before it was ready (${signal ?? `code ${code}`})`));
      if (this.workers.get(id) === w) this.workers.delete(id);
      this.exited(w, code, signal);
    });
    return w;
  }

  private forkWorker(id: string): ChildProcess {
    const env = { ...process.env, CAPSTAN_WORKER_ID: id };
    if (this.reusePort) return fork(WORKER_ENTRY, [], { env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cluster.setupPrimary({ exec: fileURLToPath(WORKER_ENTRY), args: [], serialization: 'advanced', silent: false });
    const worker = cluster.fork(env);
    // cluster re-emits the child's 'error' (an IPC write to a worker that just died: EPIPE) on its
    // Worker object, where an unheard 'error' would crash the primary; the child's own listener logs it.
    worker.on('error', () => {});
    return worker.process;
  }

  private exited(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    if (this.stopping || w.stopping) {
      this.logger.info({ workerId: w.id, workerPid: w.child.pid, code, signal }, `worker ${w.id} stopped`);
      return;
    }
    const ranMs = Date.now() - w.startedAt;
    const inARow = ranMs >= this.config.workerRestart.stableMs ? 0 : (this.crashes.get(w.id) ?? 0);
    this.crashes.set(w.id, inARow + 1);
    const { initialDelayMs, maxDelayMs } = this.config.workerRestart;
    const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** inARow);
    this.logger.warn(
      { workerId: w.id, workerPid: w.child.pid, code, signal, ranMs, restartInMs: delayMs, crashesInARow: inARow + 1 },
      `worker ${w.id} exited unexpectedly (${how}); replacing it in ${delayMs} ms`,
    );
    const timer = setTimeout(() => {
      this.respawnTimers.delete(timer);
      if (this.stopping || this.workers.has(w.id)) return;
      const next = this.spawn(w.id);
      next.started.then(
        () => this.logger.info({ workerId: w.id, workerPid: next.child.pid }, `worker ${w.id} replaced`),
        (err: Error) => this.logger.error({ workerId: w.id, message: err.message }, `replacement worker ${w.id} failed to start`),
      );
    }, delayMs);
    this.respawnTimers.add(timer);
  }

  private async stopWorker(w: Worker): Promise<void> {
    w.stopping = true;
    if (w.child.exitCode !== null || w.child.signalCode !== null) return;
    if (!w.channel.send({ t: 'capstan:stop' })) w.child.kill('SIGTERM');
    const deadline = setTimeout(() => {
      this.logger.warn({ workerId: w.id, workerPid: w.child.pid }, `worker ${w.id} did not stop within the grace period; killing it`);
      w.child.kill('SIGKILL');
    }, this.config.shutdown.graceMs + EXIT_MARGIN_MS);
    await w.exited;
    clearTimeout(deadline);
  }
}

/** A worker's error, rebuilt on this side of the channel with its code. */
function toError(e: ErrorInfo): Error {
  return capstanError((e.code ?? 'ERR_WORKER') as ErrorCode, e.message);
}
