/**
 * Handler latency per listener: log-linear counters the connection bumps once
 * per timed read batch (one array increment, see slots.ts). The same counters
 * are the histogram: percentiles, the recent window and the Prometheus buckets
 * are all read off them when a snapshot is taken.
 *
 * Two views come out of one recorder, both built at snapshot time:
 * - the **recent window** (about one second, the interval between snapshots of
 *   at least {@link WINDOW_MS}): percentiles for the dashboard and `capstan stats`,
 *   shipped as sparse slot counts so worker windows merge exactly by addition;
 * - **cumulative buckets** since start at the fixed bounds {@link LATENCY_BUCKETS_US},
 *   with count and sum: a Prometheus histogram, summed across workers.
 *
 * Snapshots used to pour the counters into an HDR histogram and ship it
 * encoded; the encoding alone cost 0.3-0.9 ms per snapshot on the serving
 * thread, and the slots already have HDR's shape (under 0.8 % per step), so
 * the window is read off them directly (about 20 µs).
 */
import { SLOT_COUNT, MAX_SLOT_VALUE, slotOf, slotValue } from './slots.js';
import type { LatencyRecorder as LatencySink } from '../connection/connection.js';

/**
 * Latency percentiles in microseconds (all 0 when nothing was recorded).
 * @category Metrics
 */
export interface LatencySummary {
  /** Samples the figures are drawn from. */
  count: number;
  /** Median, µs. */
  p50: number;
  /** 90th percentile, µs. */
  p90: number;
  /** 99th percentile, µs. */
  p99: number;
  /** 99.9th percentile, µs. */
  p999: number;
  /** Largest sample, µs. */
  max: number;
}

/**
 * Everything needed to merge latency across workers and expose it to Prometheus.
 * @category Metrics
 */
export interface LatencyHistogram {
  /**
   * The recent window as sparse slot counts, `[slot, count, slot, count, …]`
   * in slot order (slot `s` stands for `slotValue(s)` µs: exact below 256 µs,
   * then 128 steps per power of two). Windows of several workers add up slot by slot.
   */
  recent: number[];
  /** Cumulative counts since start of values ≤ each bound of {@link LATENCY_BUCKETS_US} (the last bound is +Inf). */
  buckets: number[];
  /** Values recorded since start. */
  count: number;
  /** Sum of the values recorded since start, in µs. */
  sumUs: number;
}

/**
 * Upper bounds (µs) of the cumulative Prometheus buckets: 25 µs to 10 s, then +Inf.
 * @category Metrics
 */
export const LATENCY_BUCKETS_US: readonly number[] = [
  25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
  10_000_000, Infinity,
];

/** A window closes at a snapshot taken at least this long (ms) after it opened. */
export const WINDOW_MS = 900;

/**
 * The summary of slot counts (all zero when empty): HDR's percentile rule, each
 * slot standing for its midpoint. Only slots `lo … hi` are read (the rest must be empty).
 */
export function summarizeSlots(counts: Float64Array, lo = 0, hi = counts.length - 1): LatencySummary {
  let total = 0;
  let top = -1;
  for (let i = lo; i <= hi; i++) {
    const n = counts[i] as number;
    if (n === 0) continue;
    total += n;
    top = i;
  }
  if (total === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const ps = [50, 90, 99, 99.9];
  const out = [0, 0, 0, 0];
  // The value at percentile p is the first whose cumulative count reaches round(p% of total), at least 1.
  let want = 0;
  let need = Math.max(1, Math.floor(((ps[0] as number) / 100) * total + 0.5));
  let run = 0;
  for (let i = lo; i <= top && want < ps.length; i++) {
    run += counts[i] as number;
    while (want < ps.length && run >= need) {
      out[want] = slotValue(i);
      want++;
      if (want < ps.length) need = Math.max(1, Math.floor(((ps[want] as number) / 100) * total + 0.5));
    }
  }
  return { count: total, p50: out[0] as number, p90: out[1] as number, p99: out[2] as number, p999: out[3] as number, max: slotValue(top) };
}

/** Slot counts as sparse `[slot, count, …]` pairs; only slots `lo … hi` are read. */
export function sparseSlots(counts: Float64Array, lo = 0, hi = counts.length - 1): number[] {
  const out: number[] = [];
  for (let i = lo; i <= hi; i++) {
    const n = counts[i] as number;
    if (n !== 0) out.push(i, n);
  }
  return out;
}

/** Adds sparse `[slot, count, …]` pairs into `into` (ignoring pairs outside the slot range). */
export function addSparseSlots(into: Float64Array, pairs: readonly number[]): void {
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const slot = pairs[i] as number;
    if (Number.isInteger(slot) && slot >= 0 && slot < into.length) into[slot] = (into[slot] as number) + (pairs[i + 1] as number);
  }
}

/** A fresh array of slot counts. */
export function newSlotCounts(): Float64Array {
  return new Float64Array(SLOT_COUNT);
}

/** Records handler latency for one listener; pass it to `listen({ latency })`. */
export class LatencyRecorder implements LatencySink {
  // Every field holds its final type from the start: a field that changes type (null to an array)
  // changes the object's hidden class, which deoptimizes the connection code that inlined record().
  /** Counts since the last collect, by slot (see slots.ts), and the range of slots they are in. */
  private readonly slots = newSlotCounts();
  private lo = SLOT_COUNT;
  private hi = -1;
  /** The window being filled and the last closed one, each with the range of its non-empty slots. */
  private building = newSlotCounts();
  private buildingLo = SLOT_COUNT;
  private buildingHi = -1;
  private recent = newSlotCounts();
  private recentLo = SLOT_COUNT;
  private recentHi = -1;
  /** False until the first window closes (until then the one being filled is shown). */
  private closedOne = false;
  private windowStart = Date.now();
  private sumUs = 0;
  private readonly buckets: number[] = LATENCY_BUCKETS_US.map(() => 0);
  private total = 0;
  /** The shown window's summary and sparse counts; `stale` when the window changed since. */
  private readonly view: { summary: LatencySummary; sparse: number[]; stale: boolean } = { summary: summarizeSlots(this.recent), sparse: [], stale: true };

  constructor(readonly listener: string) {}

  /** Records one latency in microseconds (rounded; negative counts as 0, beyond ~36 min as ~36 min). */
  record(microseconds: number): void {
    const v = microseconds > 0 ? (microseconds < MAX_SLOT_VALUE ? (microseconds + 0.5) | 0 : MAX_SLOT_VALUE) : 0;
    this.sumUs += v;
    const i = v < 256 ? v : slotOf(v);
    this.slots[i] = (this.slots[i] as number) + 1;
    // The range keeps a snapshot's work to the slots in use (a few hundred of 3,200).
    if (i < this.lo) this.lo = i;
    if (i > this.hi) this.hi = i;
  }

  /**
   * Folds what was recorded since the last call into the window and the
   * cumulative buckets, closes the window when it is old enough, and returns
   * the recent view. `now` is epoch ms.
   */
  collect(now = Date.now()): { summary: LatencySummary; histogram: LatencyHistogram } {
    const view = this.view;
    if (this.drainSlots()) view.stale = true;
    if (now - this.windowStart >= WINDOW_MS) {
      const next = this.recent;
      if (this.recentHi >= 0) next.fill(0, this.recentLo, this.recentHi + 1);
      this.recent = this.building;
      this.recentLo = this.buildingLo;
      this.recentHi = this.buildingHi;
      this.building = next;
      this.buildingLo = SLOT_COUNT;
      this.buildingHi = -1;
      this.closedOne = true;
      this.windowStart = now;
      view.stale = true;
    }
    // The shown window changes about once a second; scrapes in between reuse its summary.
    if (view.stale) {
      const [h, lo, hi] = this.closedOne ? [this.recent, this.recentLo, this.recentHi] : [this.building, this.buildingLo, this.buildingHi];
      view.summary = summarizeSlots(h, lo, hi);
      view.sparse = sparseSlots(h, lo, hi);
      view.stale = false;
    }
    return {
      summary: view.summary,
      histogram: { recent: view.sparse, buckets: cumulative(this.buckets), count: this.total, sumUs: this.sumUs },
    };
  }

  /** Moves the slot counts into the window and the buckets; true when there were any. */
  private drainSlots(): boolean {
    const lo = this.lo;
    const hi = this.hi;
    if (hi < 0) return false;
    this.lo = SLOT_COUNT;
    this.hi = -1;
    if (lo < this.buildingLo) this.buildingLo = lo;
    if (hi > this.buildingHi) this.buildingHi = hi;
    const slots = this.slots;
    const into = this.building;
    const bounds = LATENCY_BUCKETS_US;
    const b = this.buckets;
    let i = 0;
    let added = 0;
    for (let slot = lo; slot <= hi; slot++) {
      const n = slots[slot] as number;
      if (n === 0) continue;
      slots[slot] = 0;
      into[slot] = (into[slot] as number) + n;
      // A slot counts as its midpoint, so a value within 0.8 % of a bucket bound may land on its other side.
      const v = slotValue(slot);
      while (v > (bounds[i] as number)) i++;
      b[i] = (b[i] as number) + n;
      added += n;
    }
    this.total += added;
    return added > 0;
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
 * The latency recorder of a listener, created on first use.
 *
 * Pass it to `listen({ latency })`, and the listener's snapshot (`latencyUs`,
 * `latencyHist`), `/metrics` and the dashboard show its handler latency. The
 * same name returns the same recorder (a reloaded listener keeps its history).
 * @param listener - the listener's name, as in `listen({ name })`.
 * @category Metrics
 */
export function latencyRecorder(listener: string): LatencySink {
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
