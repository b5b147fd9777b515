/**
 * Single-process mode (`workers: 1`): the listeners, the plugins and the
 * thread pools all live in this process, and the admin endpoint reads the
 * counters directly.
 */
import type { Logger } from '../logger.js';
import type { StatsSource } from '../metrics/admin-server.js';
import { collectWorkerSnapshot, combineSnapshots } from '../metrics/snapshot.js';
import type { CloseResult } from '../transport/listen.js';
import type { AppServer } from './app.js';
import type { ResolvedConfig } from './config/resolve.js';
import { Runtime, type ListenerAddress, type ReloadResult } from './runtime.js';
import { ThreadPools } from './threads.js';

export class SingleProcessServer implements AppServer {
  readonly processes = 1;
  readonly stats: StatsSource;
  private readonly runtime: Runtime;
  private readonly threads: ThreadPools;
  private draining = false;

  constructor(
    private config: ResolvedConfig,
    logger: Logger,
  ) {
    this.threads = new ThreadPools(config.threads);
    this.runtime = new Runtime({ worker: 'main', logger, threads: this.threads, configDir: config.dir });
    this.stats = {
      snapshot: async () => combineSnapshots([collectWorkerSnapshot('main', this.runtime.servers())], this.draining),
      ready: () => !this.draining,
    };
  }

  start(): Promise<ListenerAddress[]> {
    return this.runtime.start(this.config.listeners);
  }

  async reload(config: ResolvedConfig): Promise<ReloadResult> {
    this.draining = true;
    try {
      const result = await this.runtime.apply(config.listeners, config.shutdown);
      this.config = config;
      return result;
    } finally {
      this.draining = false;
    }
  }

  async shutdown(): Promise<CloseResult> {
    this.draining = true;
    const result = await this.runtime.stop(this.config.shutdown);
    await this.threads.close();
    return result;
  }
}
