/**
 * Latency histograms of the load client: HDR histograms of microseconds, three
 * significant digits, on hdr-histogram-js's WebAssembly build (about 30 ns per
 * record here against about 120 ns for its JavaScript build, measured on this
 * machine). Worker processes ship them encoded; the parent adds them up.
 */
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import type { LatencySummary } from '../metrics/latency.js';

export type { Histogram };

/**
 * Percentiles of a latency histogram in µs, plus the mean.
 * @category Load client
 */
export interface LatencyUs extends LatencySummary {
  /** Mean, µs. */
  mean: number;
}

let wasmReady = false;

/** An empty histogram of µs values from 1 µs to one hour (larger values widen it). */
export function newHistogram(): Histogram {
  if (!wasmReady) {
    hdr.initWebAssemblySync();
    wasmReady = true;
  }
  return hdr.build({ useWebAssembly: true, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Adds an encoded histogram (from {@link encodeHistogram}) into `into`. */
export function addEncoded(into: Histogram, encoded: string): void {
  if (!wasmReady) newHistogram().destroy();
  const h = hdr.decodeFromCompressedBase64(encoded, 32, true);
  into.add(h);
  h.destroy();
}

/** The percentiles of a histogram (all zero when empty). */
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

export function latencySummary(h: Histogram): LatencyUs {
  return { ...summarize(h), mean: h.totalCount === 0 ? 0 : Math.round(h.mean * 10) / 10 };
}

/**
 * Records the latencies of messages `from … from + k - 1`, whose send times (ms)
 * are in the ring `sentAt`, received at `now`: one record per run of messages
 * sent together, so a read of sixteen replies to one write costs one call.
 */
export function recordBatch(h: Histogram, sentAt: Float64Array, from: number, k: number, now: number): void {
  const cap = sentAt.length;
  let t = sentAt[from % cap] as number;
  let same = 1;
  for (let i = from + 1; i < from + k; i++) {
    const s = sentAt[i % cap] as number;
    if (s === t) {
      same++;
      continue;
    }
    h.recordValueWithCount(Math.round((now - t) * 1000), same);
    t = s;
    same = 1;
  }
  h.recordValueWithCount(Math.round((now - t) * 1000), same);
}
