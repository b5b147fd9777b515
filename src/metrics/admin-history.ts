/**
 * The dashboard's recent past, kept on the admin thread: a snapshot every
 * `intervalMs`, the last `maxSamples` of them (five minutes at the default
 * second). A page opened now draws those minutes at once instead of starting
 * empty, and open pages poll this history for what is new instead of asking
 * for snapshots of their own, so the serving thread takes one snapshot per
 * interval however many dashboards are open.
 *
 * ```
 *  every intervalMs: snapshot ─► thinned ─► ring (oldest out past maxSamples or MAX_HISTORY_BYTES)
 *  GET /stats/history.json?after=N ─► the samples after number N, and the number of the last
 * ```
 */
import type { Logger } from '../logger.js';
import type { ServerSnapshot } from './snapshot.js';

/**
 * How much history the admin endpoint keeps for the dashboard
 * (`startAdminServer({ history })`, which takes any part of it). Stored
 * snapshots are also capped at 32 MiB of JSON in all, oldest dropped first,
 * whatever `maxSamples` says.
 * @category Metrics
 */
export interface HistoryOptions {
  /** Time between samples, ms (a whole number, at least 100). Default 1000. */
  intervalMs: number;
  /** Samples kept (at least 1). Default 300 (five minutes at the default interval). */
  maxSamples: number;
}

export const DEFAULT_HISTORY: HistoryOptions = { intervalMs: 1000, maxSamples: 300 };

/**
 * Stored text past this goes oldest first, whatever `maxSamples` says: a
 * snapshot grows with workers × listeners, and the thread's heap is bounded.
 */
export const MAX_HISTORY_BYTES = 32 * 1024 * 1024;

interface Sample {
  /** Counts up from 1; pages ask for what came after the last one they have (times can step back, numbers cannot). */
  seq: number;
  json: string;
}

export class SnapshotHistory {
  private samples: Sample[] = [];
  private bytes = 0;
  private seq = 0;
  /** Why the latest sample could not be taken; undefined once one is taken again. */
  error: string | undefined;

  constructor(readonly options: HistoryOptions) {}

  get length(): number {
    return this.samples.length;
  }

  /** Adds a snapshot (JSON text as the serving thread sent it). */
  add(snapshotJson: string): void {
    const snapshot = JSON.parse(snapshotJson) as ServerSnapshot;
    // The latency histograms are for merging and Prometheus; the dashboard reads the percentiles beside them.
    for (const l of Object.values(snapshot.combined.listeners)) delete l.latencyHist;
    for (const w of snapshot.workers) for (const l of Object.values(w.listeners)) delete l.latencyHist;
    const json = JSON.stringify(snapshot);
    this.samples.push({ seq: ++this.seq, json });
    this.bytes += json.length;
    while (this.samples.length > 1 && (this.samples.length > this.options.maxSamples || this.bytes > MAX_HISTORY_BYTES)) {
      this.bytes -= (this.samples.shift() as Sample).json.length;
    }
  }

  /**
   * `{ intervalMs, maxSamples, last, error?, samples }`: the samples numbered
   * after `after` (all of them by default), oldest first, and the number of
   * the last one taken (to ask with next time).
   */
  render(after = 0): string {
    let from = this.samples.length;
    while (from > 0 && (this.samples[from - 1] as Sample).seq > after) from--;
    const head = JSON.stringify({
      intervalMs: this.options.intervalMs,
      maxSamples: this.options.maxSamples,
      last: this.seq,
      ...(this.error !== undefined ? { error: this.error } : {}),
    });
    const samples = this.samples.slice(from).map((s) => s.json);
    return `${head.slice(0, -1)},"samples":[${samples.join(',')}]}`;
  }
}

/**
 * Takes a sample now and every interval after (never two at once); returns
 * the function that stops it. Failures are logged when they start and when
 * they end, not once per interval.
 */
export function startSampling(history: SnapshotHistory, take: () => Promise<string>, logger: Logger): () => void {
  let busy = false;
  let stopped = false;
  const sample = () => {
    if (busy) return;
    busy = true;
    take().then(
      (json) => {
        busy = false;
        if (stopped) return;
        if (history.error !== undefined) logger.info('dashboard history: snapshots are taken again');
        history.error = undefined;
        history.add(json);
      },
      (err: unknown) => {
        busy = false;
        // Closing rejects the question in flight: that is no failure to report.
        if (stopped) return;
        if (history.error === undefined) logger.warn({ err }, 'dashboard history: a snapshot failed; trying again every interval');
        history.error = err instanceof Error ? err.message : String(err);
      },
    );
  };
  sample();
  const timer = setInterval(sample, history.options.intervalMs);
  // Sampling alone must not keep the admin thread alive once its server and channel are closed.
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
