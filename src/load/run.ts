/**
 * `runLoad`: the load client as a library function (what `capstan load` and the
 * benchmarks call).
 *
 * ```ts
 * const result = await runLoad({ target: 'tcp://127.0.0.1:7000', framing: 'lp4', connections: 100, depth: 16, durationSec: 10 });
 * console.log(result.msgsPerSec, result.latencyUs.p99, result.errors.total);
 * ```
 *
 * Runs with more connections than one process may hold (15,000 by default)
 * spread over worker processes; otherwise everything runs in this process.
 * A run never hangs: connects, replies and closes each have a time limit, and
 * worker processes are killed if the run overstays its bound.
 */
import { prepare } from './prepare.js';
import { WorkerFleet } from './fleet.js';
import { addEncoded, latencySummary, newHistogram, type LatencyUs } from './histogram.js';
import { resolveLoadOptions, type LoadOptions, type ResolvedLoadOptions } from './options.js';
import { mergeResults, type LoadResult } from './result.js';
import { LocalRunner, type Runner } from './runner.js';

/**
 * Where a load run is: opening its connections, sending, or closing them and
 * waiting for the last replies.
 * @category Load client
 */
export type LoadPhase = 'connecting' | 'running' | 'closing';

/**
 * What {@link LoadHooks.onProgress} is told about the last second, summed over the worker processes.
 * @category Load client
 */
export interface LoadProgress {
  /** Seconds since the run began (connect phase included). */
  elapsedSec: number;
  /** The run's phase. */
  phase: LoadPhase;
  /** Connections open now. */
  open: number;
  /** Connection attempts in progress now. */
  connecting: number;
  /** Messages sent per second, over the last second. */
  sentMsgsPerSec: number;
  /** Messages received per second, over the last second. */
  receivedMsgsPerSec: number;
  /** Bytes sent per second, over the last second. */
  sentBytesPerSec: number;
  /** Bytes received per second, over the last second. */
  receivedBytesPerSec: number;
  /** Churn cycles in the last second. */
  connectsPerSec: number;
  /** Errors so far. */
  errors: number;
  /** `udp://`: datagrams counted lost so far. */
  lost: number;
  /** Latency of the replies of the last second (µs). */
  latencyUs: LatencyUs;
}

/**
 * Callbacks and cancellation for a running {@link runLoad}.
 * @category Load client
 */
export interface LoadHooks {
  /** Called about once a second. */
  onProgress?(progress: LoadProgress): void;
  /** Called when the connect phase is over, before traffic starts; in `idle` mode the connections are now being held. */
  onConnected?(established: number): void;
  /** Aborting ends the run early; the result covers what was done. */
  signal?: AbortSignal;
}

/** How long a run may take at most, derived from its own limits (workers are killed past it). */
function boundMs(o: ResolvedLoadOptions): number {
  const perProcess = Math.ceil(o.connections / o.workers);
  const connect = Math.ceil(perProcess / o.maxConnecting + 1) * o.connectTimeoutMs + (o.connectRate > 0 ? (o.connections / o.connectRate) * 1000 : 0);
  return connect + o.durationSec * 1000 + 2 * o.replyTimeoutMs + o.drainTimeoutMs + 30_000;
}

/**
 * Runs the load client: opens the connections, drives traffic for the run's
 * duration or message count, and resolves with what was measured.
 *
 * Runs with more connections than one process may hold are spread over worker
 * processes. A run never hangs: connects, replies and closes each have a time
 * limit.
 *
 * ```ts
 * const result = await runLoad({ target: 'tcp://127.0.0.1:7000', framing: 'lp4', connections: 100, depth: 16, durationSec: 10 });
 * console.log(result.msgsPerSec, result.latencyUs.p99, result.errors.total);
 * ```
 * @throws CapstanError (as a rejection) `ERR_INVALID_OPTION` or
 *   `ERR_UNKNOWN_OPTION` for a bad option, before any connection opens.
 *   Connection failures do not reject: they are counted in `errors`.
 * @category Load client
 */
export async function runLoad(options: LoadOptions, hooks: LoadHooks = {}): Promise<LoadResult> {
  const o = resolveLoadOptions(options);
  // Build the target, codec and messages once here, so a bad option fails before any process starts.
  const payload = prepare(o).payload;
  const runner: Runner = o.workers > 1 ? new WorkerFleet(o, payload, boundMs(o)) : new LocalRunner(o);
  const began = performance.now();
  let phase: LoadPhase = 'connecting';
  const ticker = hooks.onProgress === undefined ? null : setInterval(() => report(), 1000);
  let last = began;
  const report = (): void => {
    const now = performance.now();
    const sec = (now - last) / 1000;
    last = now;
    const samples = runner.samples();
    const h = newHistogram();
    const p: LoadProgress = {
      elapsedSec: Math.round((now - began) / 100) / 10,
      phase,
      open: 0,
      connecting: 0,
      sentMsgsPerSec: 0,
      receivedMsgsPerSec: 0,
      sentBytesPerSec: 0,
      receivedBytesPerSec: 0,
      connectsPerSec: 0,
      errors: 0,
      lost: 0,
      latencyUs: latencySummary(h),
    };
    for (const s of samples) {
      p.open += s.open;
      p.connecting += s.connecting;
      p.sentMsgsPerSec += s.traffic.sentMsgs / sec;
      p.receivedMsgsPerSec += s.traffic.receivedMsgs / sec;
      p.sentBytesPerSec += s.traffic.sentBytes / sec;
      p.receivedBytesPerSec += s.traffic.receivedBytes / sec;
      p.connectsPerSec += s.cycles / sec;
      p.errors += s.errors;
      p.lost += s.lost;
      addEncoded(h, s.latency);
    }
    p.latencyUs = latencySummary(h);
    h.destroy();
    hooks.onProgress?.(p);
  };
  const abort = (): void => runner.stop();
  hooks.signal?.addEventListener('abort', abort);
  try {
    if (hooks.signal?.aborted) runner.stop();
    const established = await runner.connect();
    hooks.onConnected?.(established);
    phase = 'running';
    await runner.run();
    phase = 'closing';
    const parts = await runner.finish();
    return mergeResults(o, runner.payload, parts);
  } finally {
    if (ticker !== null) clearInterval(ticker);
    hooks.signal?.removeEventListener('abort', abort);
    if (runner instanceof WorkerFleet) runner.kill();
  }
}
