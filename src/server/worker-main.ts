/**
 * The entry point of a worker process. It takes its config from the primary,
 * runs the listeners, answers snapshot requests, applies reloads, and drains
 * and exits when told to stop, when it gets SIGTERM/SIGINT itself, or when the
 * primary goes away. A worker never decides to restart itself: if it dies, the
 * primary replaces it.
 */
import { isCapstanError } from '../errors.js';
import { collectWorkerSnapshot } from '../metrics/snapshot.js';
import { WorkerRelay, type RelayMessage } from '../pubsub/worker-relay.js';
import { errorInfo, type FromWorker, type ToWorker } from './ipc.js';
import type { Logger } from '../logger.js';
import { createServerLogger } from './logging.js';
import type { ResolvedConfig } from './config/resolve.js';
import { errorFields, Runtime } from './runtime.js';
import { ThreadPools } from './threads.js';

let runtime: Runtime | null = null;
let threads: ThreadPools | null = null;
let logger: Logger | null = null;
/** Pub/sub between workers, through the primary. */
let relay: WorkerRelay | null = null;
let config: ResolvedConfig | null = null;
let workerId = process.env.CAPSTAN_WORKER_ID ?? '?';
let stopping = false;

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

function sendRelay(m: RelayMessage, done: () => void): boolean {
  if (!process.connected || process.send === undefined) return false;
  try {
    // Queued even when it returns false (a backlog); the callback says when it is written.
    process.send(m, undefined, undefined, () => done());
    return true;
  } catch {
    // The channel closed between the check and the send: the worker is stopping.
    return false;
  }
}

async function start(id: string, cfg: ResolvedConfig, reusePort: boolean): Promise<void> {
  workerId = id;
  config = cfg;
  logger = createServerLogger(cfg.logging, id);
  threads = new ThreadPools(cfg.threads);
  const r = (relay = new WorkerRelay(sendRelay, logger));
  runtime = new Runtime({ worker: id, logger, threads, configDir: cfg.dir, reusePort, pubsub: (listener) => r.backend(listener) });
  try {
    send({ t: 'capstan:ready', listeners: await runtime.start(cfg.listeners) });
  } catch (err) {
    if (!isCapstanError(err)) logger.error({ err: errorFields(err) }, 'worker failed to start');
    send({ t: 'capstan:failed', error: errorInfo(err) });
    process.exitCode = 1;
    process.disconnect?.();
  }
}

async function reload(seq: number, cfg: ResolvedConfig): Promise<void> {
  if (runtime === null || stopping) return send({ t: 'capstan:reloaded', seq, error: { message: 'worker is not running' } });
  try {
    const result = await runtime.apply(cfg.listeners, cfg.shutdown);
    config = cfg;
    if (logger !== null) logger.level = cfg.logging.level;
    send({ t: 'capstan:reloaded', seq, result });
  } catch (err) {
    send({ t: 'capstan:reloaded', seq, error: errorInfo(err) });
  }
}

async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger?.info({ why }, 'worker stopping');
  if (runtime !== null && config !== null) send({ t: 'capstan:stopped', result: await runtime.stop(config.shutdown) });
  await threads?.close();
  process.exitCode = 0;
  // The IPC channel keeps the process alive; dropping it lets the event loop end once sockets are closed.
  if (process.connected) process.disconnect();
  // A plugin that left a handle open must not keep a stopped worker around.
  setTimeout(() => process.exit(0), 1_000).unref();
}

process.on('message', (m: ToWorker) => {
  switch (m?.t) {
    case 'capstan:start':
      void start(m.id, m.config, m.reusePort);
      break;
    case 'capstan:reload':
      void reload(m.seq, m.config);
      break;
    case 'capstan:snapshot':
      send({ t: 'capstan:snapshot', seq: m.seq, snapshot: collectWorkerSnapshot(workerId, runtime?.servers() ?? new Map()) });
      break;
    case 'capstan:stop':
      void stop('asked by the primary');
      break;
    case 'capstan:pubsub':
      relay?.receive(m);
      break;
  }
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));
// Reloads are coordinated by the primary; a terminal hang-up must not kill a worker.
process.on('SIGHUP', () => {});
process.on('disconnect', () => void stop('the primary went away'));
process.on('uncaughtException', (err) => {
  logger?.error({ err: errorFields(err) }, 'uncaught exception; the worker exits and the primary replaces it');
  process.exit(70);
});
send({ t: 'capstan:hello' });
