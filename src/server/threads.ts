/**
 * Two pools of worker threads for work that must not run on the event loop:
 *
 * - `cpu`: CPU-heavy tasks (hashing, compression, parsing big documents); one
 *   thread per core by default, so they never fight each other for cores.
 * - `blocking`: tasks that block a thread while waiting (synchronous libraries,
 *   native calls); more threads than cores, since they mostly sleep.
 *
 * Keeping them apart means a burst of blocking calls cannot starve CPU work of
 * threads, and the reverse. Both are Piscina pools; threads start on first use
 * and exit when idle, so a server that never hands work off pays nothing.
 * Each pool's queue is bounded: a task that finds it full fails with
 * `ERR_OVERLOADED` rather than waiting without limit.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { capstanError } from '../errors.js';

/**
 * The thread pools: `cpu` for CPU-heavy work (one thread per core), `blocking`
 * for work that waits on a thread (synchronous libraries; 4 threads by default).
 * @category Application server
 */
export type PoolName = 'cpu' | 'blocking';

/**
 * Options of {@link Threads.run}.
 * @category Application server
 */
export interface TaskOptions {
  /** Which pool runs the task. Default `cpu`. */
  pool?: PoolName;
  /** The export of the task module to call. Default its default export. */
  name?: string;
  /** Abort the task (it is taken off the queue, or its thread is stopped). */
  signal?: AbortSignal;
}

/**
 * What plugins see (`ctx.threads`): run one task on a pool thread, off the
 * event loop.
 *
 * Threads start on first use and exit when idle; a full queue fails the task
 * with `ERR_OVERLOADED` instead of waiting without limit.
 * @category Application server
 */
export interface Threads {
  /**
   * Calls the task module's function with `task` on a pool thread and resolves
   * with its (structured-clone) result.
   * @param module the task module: a `file:` URL (`new URL('./task.js', import.meta.url)`) or an absolute path.
   * @typeParam R - the type of the task's result.
   */
  run<R = unknown>(module: string | URL, task: unknown, options?: TaskOptions): Promise<R>;
}

export interface ThreadPoolOptions {
  /** Threads of the `cpu` pool. Default: CPU cores. */
  cpu?: number;
  /** Threads of the `blocking` pool. Default 4. */
  blocking?: number;
  /** An idle thread exits after this many ms. Default 30,000. */
  idleTimeoutMs?: number;
}

export class ThreadPools implements Threads {
  private readonly pools = new Map<PoolName, Piscina>();
  private closed = false;

  constructor(private readonly options: ThreadPoolOptions = {}) {}

  run<R = unknown>(module: string | URL, task: unknown, options: TaskOptions = {}): Promise<R> {
    if (this.closed) return Promise.reject(capstanError('ERR_NOT_OPEN', 'threads: the pools are closed (the server is stopping)'));
    let filename: string;
    try {
      filename = taskFilename(module);
    } catch (err) {
      return Promise.reject(err);
    }
    const pool = this.pool(options.pool ?? 'cpu');
    return (pool.run(task, { filename, name: options.name ?? 'default', signal: options.signal ?? null }) as Promise<R>).catch((err: unknown) => {
      if (err instanceof Error && /queue is at limit/i.test(err.message)) {
        throw capstanError('ERR_OVERLOADED', `threads: the ${options.pool ?? 'cpu'} pool's queue is full; try again later or add threads`, {
          limit: pool.options.maxQueue,
          cause: err,
        });
      }
      throw err;
    });
  }

  /** Threads alive now, per pool (for logs and tests). */
  threadCount(pool: PoolName): number {
    return this.pools.get(pool)?.threads.length ?? 0;
  }

  /** Waits for queued tasks and stops every thread. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private pool(name: PoolName): Piscina {
    let pool = this.pools.get(name);
    if (pool === undefined) {
      const maxThreads = name === 'cpu' ? (this.options.cpu ?? availableParallelism()) : (this.options.blocking ?? 4);
      pool = new Piscina({
        minThreads: 0,
        maxThreads,
        idleTimeout: this.options.idleTimeoutMs ?? 30_000,
        // 'auto' bounds the queue at maxThreads² tasks.
        maxQueue: 'auto',
      });
      this.pools.set(name, pool);
    }
    return pool;
  }
}

function taskFilename(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (module.startsWith('file:')) return module;
  if (!isAbsolute(module)) {
    throw capstanError('ERR_INVALID_OPTION', `threads: task module must be a file: URL or an absolute path, got ${JSON.stringify(module)}`, {
      path: 'module',
      actual: module,
    });
  }
  return pathToFileURL(module).href;
}
