/**
 * Handler latency per listener: an HDR histogram that the connection feeds once
 * per read batch (one array increment), read only when a snapshot is taken.
 *
 * Two views come out of one recorder, both built at snapshot time:
 * - the **recent window** (about one second, the interval between snapshots of
 *   at least {@link WINDOW_MS}): percentiles for the dashboard and `capstan stats`,
 *   shipped HDR-encoded so worker windows merge exactly;
 * - **cumulative buckets** since start at the fixed bounds {@link LATENCY_BUCKETS_US},
 *   with count and sum: a Prometheus histogram, summed across workers.
 */
import hdr from 'hdr-histogram-js';
import type { Histogram, JsHistogram } from 'hdr-histogram-js';

/** Latency percentiles in microseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Everything needed to merge latency across workers and expose it to Prometheus. */
export interface LatencyHistogram {
  /** The recent window, `encodeIntoCompressedBase64` of an HDR histogram of µs values. */
  recent: string;
  /** Cumulative counts since start of values ≤ each bound of {@link LATENCY_BUCKETS_US} (the last bound is +Inf). */
  buckets: number[];
  /** Values recorded since start. */
  count: number;
  /** Sum of the values recorded since start, in µs. */
  sumUs: number;
}

/** Upper bounds (µs) of the cumulative Prometheus buckets: 25 µs to 10 s, then +Inf. */
export const LATENCY_BUCKETS_US: readonly number[] = [
  25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
  10_000_000, Infinity,
];

/** A window closes at a snapshot taken at least this long (ms) after it opened. */
export const WINDOW_MS = 900;

const HIGHEST_US = 60_000_000;

function newHistogram(): Histogram {
  // Two significant digits (≤ 1 % error) from 1 µs to 60 s; larger values widen the histogram.
  return hdr.build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 2, useWebAssembly: false });
}

/** The summary of a histogram (all zero when empty). */
export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  };
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/** Merges encoded windows into one histogram. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const merged = newHistogram();
  for (const e of encoded) {
    const h = decodeHistogram(e);
    merged.add(h);
    h.destroy();
  }
  return merged;
}

/** Records handler latency for one listener; pass it to `listen({ latency })`. */
export class LatencyRecorder {
  private current = newHistogram();
  private building = newHistogram();
  private recent: Histogram | null = null;
  private windowStart = Date.now();
  private sumUs = 0;
  private readonly buckets: number[] = LATENCY_BUCKETS_US.map(() => 0);
  private total = 0;

  constructor(readonly listener: string) {}

  /** Records one latency in microseconds (fractions are rounded; negative values count as 0). */
  record(microseconds: number): void {
    const v = microseconds > 0 ? Math.round(microseconds) : 0;
    this.sumUs += v;
    this.current.recordValue(v);
  }

  /**
   * Folds what was recorded since the last call into the window and the
   * cumulative buckets, closes the window when it is old enough, and returns
   * the recent view. `now` is epoch ms.
   */
  collect(now = Date.now()): { summary: LatencySummary; histogram: LatencyHistogram } {
    const cur = this.current;
    if (cur.totalCount > 0) {
      this.addToBuckets(cur as JsHistogram);
      this.building.add(cur);
      cur.reset();
    }
    if (now - this.windowStart >= WINDOW_MS) {
      const closed = this.building;
      this.building = this.recent ?? newHistogram();
      this.building.reset();
      this.recent = closed;
      this.windowStart = now;
    }
    const view = this.recent ?? this.building;
    return {
      summary: summarize(view),
      histogram: { recent: encodeHistogram(view), buckets: cumulative(this.buckets), count: this.total, sumUs: this.sumUs },
    };
  }

  private addToBuckets(h: JsHistogram): void {
    const it = h.recordedValuesIterator;
    it.reset();
    const bounds = LATENCY_BUCKETS_US;
    const b = this.buckets;
    let i = 0;
    while (it.hasNext()) {
      const step = it.next();
      // HDR values are exact below 256 µs and within 1 % above, so a value that close to a bound may
      // land in the next bucket: the same precision the percentiles have.
      const v = step.valueIteratedTo;
      while (v > (bounds[i] as number)) i++;
      b[i] = (b[i] as number) + step.countAtValueIteratedTo;
      this.total += step.countAtValueIteratedTo;
    }
  }
}

/** Per-bucket counts to Prometheus's cumulative "≤ bound" counts. */
function cumulative(perBucket: readonly number[]): number[] {
  const out: number[] = new Array<number>(perBucket.length);
  let run = 0;
  for (let i = 0; i < perBucket.length; i++) {
    run += perBucket[i] as number;
    out[i] = run;
  }
  return out;
}

const recorders = new Map<string, LatencyRecorder>();

/**
 * The latency recorder of a listener, created on first use. The same name
 * returns the same recorder (a reloaded listener keeps its history).
 */
export function latencyRecorder(listener: string): LatencyRecorder {
  let r = recorders.get(listener);
  if (r === undefined) {
    r = new LatencyRecorder(listener);
    recorders.set(listener, r);
  }
  return r;
}

/** The recorder of a listener, if one was created. */
export function findLatencyRecorder(listener: string): LatencyRecorder | undefined {
  return recorders.get(listener);
}
