/**
 * Handler latency per listener: log-linear counters the connection bumps once
 * per read batch (one array increment, see slots.ts), poured into an HDR
 * histogram only when a snapshot is taken.
 *
 * Two views come out of one recorder, both built at snapshot time:
 * - the **recent window** (about one second, the interval between snapshots of
 *   at least {@link WINDOW_MS}): percentiles for the dashboard and `capstan stats`,
 *   shipped HDR-encoded so worker windows merge exactly;
 * - **cumulative buckets** since start at the fixed bounds {@link LATENCY_BUCKETS_US},
 *   with count and sum: a Prometheus histogram, summed across workers.
 */
import { createRequire } from 'node:module';
import type * as Hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { MAX_SLOT_VALUE, SLOT_COUNT, slotOf, slotValue } from './slots.js';

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

const require = createRequire(import.meta.url);
let hdrLib: typeof Hdr | null = null;

/** hdr-histogram-js, loaded with the first snapshot so that importing Capstan does not pay for it. */
function hdr(): typeof Hdr {
  return (hdrLib ??= require('hdr-histogram-js') as typeof Hdr);
}

function newHistogram(): Histogram {
  // Two significant digits (≤ 1 % error) from 1 µs to 60 s; larger values widen the histogram.
  return hdr().build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 2, useWebAssembly: false });
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
  return hdr().encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr().decodeFromCompressedBase64(encoded, 32, false);
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
  /** Counts since the last collect, by slot (see slots.ts). */
  private readonly slots = new Float64Array(SLOT_COUNT);
  /** The window being filled; created with the first snapshot. */
  private building: Histogram | null = null;
  private recent: Histogram | null = null;
  private windowStart = Date.now();
  private sumUs = 0;
  private readonly buckets: number[] = LATENCY_BUCKETS_US.map(() => 0);
  private total = 0;
  private view: { summary: LatencySummary; encoded: string } | null = null;

  constructor(readonly listener: string) {}

  /** Records one latency in microseconds (rounded; negative counts as 0, beyond ~36 min as ~36 min). */
  record(microseconds: number): void {
    const v = microseconds > 0 ? (microseconds < MAX_SLOT_VALUE ? (microseconds + 0.5) | 0 : MAX_SLOT_VALUE) : 0;
    this.sumUs += v;
    const i = v < 256 ? v : slotOf(v);
    this.slots[i] = (this.slots[i] as number) + 1;
  }

  /**
   * Folds what was recorded since the last call into the window and the
   * cumulative buckets, closes the window when it is old enough, and returns
   * the recent view. `now` is epoch ms.
   */
  collect(now = Date.now()): { summary: LatencySummary; histogram: LatencyHistogram } {
    const building = (this.building ??= newHistogram());
    if (this.drainSlots(building)) this.view = null;
    if (now - this.windowStart >= WINDOW_MS) {
      const next = this.recent ?? newHistogram();
      next.reset();
      this.recent = building;
      this.building = next;
      this.windowStart = now;
      this.view = null;
    }
    // The shown window changes about once a second; scrapes in between reuse its summary and encoding.
    if (this.view === null) {
      const h = this.recent ?? building;
      this.view = { summary: summarize(h), encoded: encodeHistogram(h) };
    }
    return {
      summary: this.view.summary,
      histogram: { recent: this.view.encoded, buckets: cumulative(this.buckets), count: this.total, sumUs: this.sumUs },
    };
  }

  /** Moves the slot counts into the window and the buckets; true when there were any. */
  private drainSlots(into: Histogram): boolean {
    const before = this.total;
    const slots = this.slots;
    const bounds = LATENCY_BUCKETS_US;
    const b = this.buckets;
    let i = 0;
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const n = slots[slot] as number;
      if (n === 0) continue;
      slots[slot] = 0;
      // A slot counts as its midpoint, so a value within 0.8 % of a bucket bound may land on its other side.
      const v = slotValue(slot);
      into.recordValueWithCount(v, n);
      while (v > (bounds[i] as number)) i++;
      b[i] = (b[i] as number) + n;
      this.total += n;
    }
    return this.total !== before;
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
