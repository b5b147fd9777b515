/**
 * Snapshots: the self-describing numbers a process (a "worker") reports, and
 * their combination across workers. A snapshot is plain JSON, so it crosses
 * IPC as it is and `/stats.json` serves it unchanged.
 *
 * ```
 *  worker process                       admin process
 *  ──────────────                       ─────────────
 *  listeners ─► collectWorkerSnapshot ──IPC──► combineSnapshots ─► /stats.json, /metrics, dashboard
 *  latencyRecorder ┘  (counters, process,        (counters summed,
 *                      latency window as slots)    latency windows merged)
 * ```
 *
 * **Latency across workers.** Percentiles cannot be summed, so each listener's
 * entry carries `latencyHist`: the recent window as sparse log-linear slot
 * counts (µs) plus cumulative Prometheus buckets. {@link combineSnapshots}
 * adds the windows slot by slot, so the combined percentiles are exact, and
 * sums the buckets.
 */
import type { ListenerStats } from './listener-counters.js';
import { addSparseSlots, findLatencyRecorder, newSlotCounts, sparseSlots, summarizeSlots, type LatencyHistogram, type LatencySummary } from './latency.js';
import { processStats, type ProcessStats } from './process-stats.js';

export type { LatencySummary, LatencyHistogram } from './latency.js';
export type { ProcessStats } from './process-stats.js';
export { latencyRecorder, LATENCY_BUCKETS_US } from './latency.js';

/**
 * One listener's counters plus, when it has a latency recorder, its latency.
 * @category Metrics
 */
export type ListenerSnapshot = ListenerStats & {
  /** Handler latency over the recent window (about one second), µs. */
  latencyUs?: LatencySummary;
  /** The data behind `latencyUs`, for merging across workers and for Prometheus. */
  latencyHist?: LatencyHistogram;
};

/**
 * What one process reports: its listeners' counters and its own health. Plain
 * JSON, so it crosses IPC as it is.
 * @category Metrics
 */
export interface WorkerSnapshot {
  /** 'main' in single-process mode, else the worker id. */
  worker: string;
  /** The process id. */
  pid: number;
  /** When it was taken, epoch ms. */
  time: number;
  /** Each listener's snapshot, by listener name. */
  listeners: Record<string, ListenerSnapshot>;
  /** The process's memory, event loop and GC. */
  process: ProcessStats;
}

/**
 * What `/stats.json` serves and a {@link StatsSource} provides: every worker's
 * snapshot, and their listeners combined.
 * @category Metrics
 */
export interface ServerSnapshot {
  /** When it was taken (the latest worker's time), epoch ms. */
  time: number;
  /** True while the server shuts down or reloads (then `/readyz` fails). */
  draining: boolean;
  /** Each worker's own snapshot. */
  workers: WorkerSnapshot[];
  /** Every worker's listeners summed by name (latency: merged histograms). */
  combined: {
    /** The combined snapshot of each listener, by name. */
    listeners: Record<string, ListenerSnapshot>;
  };
}

/**
 * Collects this process's snapshot, with each listener's latency when it has a
 * {@link latencyRecorder}.
 * @param worker - the worker id to report (`main` for a single process).
 * @param servers - the running listeners (or clients) by name.
 * @category Metrics
 */
export function collectWorkerSnapshot(
  worker: string,
  servers: ReadonlyMap<
    string,
    {
      /** The listener's counters, as {@link Server.stats} returns them. */
      stats(): ListenerStats;
    }
  >,
): WorkerSnapshot {
  const time = Date.now();
  const listeners: Record<string, ListenerSnapshot> = {};
  for (const [name, server] of servers) {
    const entry: ListenerSnapshot = server.stats();
    const recorder = findLatencyRecorder(name);
    if (recorder !== undefined) {
      const { summary, histogram } = recorder.collect(time);
      entry.latencyUs = summary;
      entry.latencyHist = histogram;
    }
    listeners[name] = entry;
  }
  return { worker, pid: process.pid, time, listeners, process: processStats(time) };
}

/**
 * Combines worker snapshots into one: counters summed by listener name, and
 * latency windows merged slot by slot, so the combined percentiles are exact.
 * @param draining - whether the server is shutting down or reloading (`/readyz` then fails).
 * @category Metrics
 */
export function combineSnapshots(workers: WorkerSnapshot[], draining: boolean): ServerSnapshot {
  const byName = new Map<string, ListenerSnapshot[]>();
  for (const w of workers) {
    for (const [name, l] of Object.entries(w.listeners)) {
      const list = byName.get(name);
      if (list === undefined) byName.set(name, [l]);
      else list.push(l);
    }
  }
  const listeners: Record<string, ListenerSnapshot> = {};
  for (const [name, list] of byName) listeners[name] = combineListener(list);
  const time = workers.reduce((t, w) => Math.max(t, w.time), 0) || Date.now();
  return { time, draining, workers, combined: { listeners } };
}

function combineListener(list: readonly ListenerSnapshot[]): ListenerSnapshot {
  let counters: Record<string, unknown> = {};
  const hists: LatencyHistogram[] = [];
  for (const l of list) {
    const { latencyUs: _summary, latencyHist, ...rest } = l;
    counters = sumInto(counters, rest);
    if (latencyHist !== undefined) hists.push(latencyHist);
  }
  const out = counters as unknown as ListenerSnapshot;
  const only = list.length === 1 ? list[0] : undefined;
  if (only?.latencyHist !== undefined) {
    // One worker: its own figures are the combined ones.
    out.latencyUs = only.latencyUs;
    out.latencyHist = only.latencyHist;
  } else if (hists.length > 0) {
    const merged = newSlotCounts();
    for (const h of hists) addSparseSlots(merged, h.recent);
    out.latencyUs = summarizeSlots(merged);
    out.latencyHist = {
      recent: sparseSlots(merged),
      buckets: sumArrays(hists.map((h) => h.buckets)),
      count: hists.reduce((n, h) => n + h.count, 0),
      sumUs: hists.reduce((n, h) => n + h.sumUs, 0),
    };
  }
  return out;
}

/**
 * Adds every numeric field of `b` to `a`, recursing into objects (close
 * reasons, refusals, accept errors, timeouts), so counters added to
 * ListenerStats later are summed without a change here.
 */
function sumInto(a: Record<string, unknown>, b: object): Record<string, unknown> {
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === 'number') a[k] = ((a[k] as number | undefined) ?? 0) + v;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) a[k] = sumInto((a[k] as Record<string, unknown> | undefined) ?? {}, v);
  }
  return a;
}

function sumArrays(arrays: readonly number[][]): number[] {
  const len = arrays.reduce((n, a) => Math.max(n, a.length), 0);
  const out = new Array<number>(len).fill(0);
  for (const a of arrays) for (let i = 0; i < a.length; i++) out[i] = (out[i] as number) + (a[i] as number);
  return out;
}
