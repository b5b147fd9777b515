import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addSparseSlots, LatencyRecorder, newSlotCounts, sparseSlots, summarizeSlots, WINDOW_MS } from '../../src/metrics/latency.js';
import { slotOf } from '../../src/metrics/slots.js';

/** HdrHistogram's rule on the exact values: the value whose rank is round(p% of n), at least 1. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.floor((p / 100) * sorted.length + 0.5));
  return sorted[rank - 1] as number;
}

const within = (got: number, want: number) => Math.abs(got - want) <= Math.max(0, want * 0.008);

describe('latency windows read off the slots', () => {
  it('give every percentile and the max within a slot (0.8 %) of the exact value', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 400 }), (values) => {
        const r = new LatencyRecorder('window-test');
        for (const v of values) r.record(v);
        const { summary, histogram } = r.collect(Date.now() + WINDOW_MS);
        const sorted = [...values].sort((a, b) => a - b);
        assert.equal(summary.count, values.length);
        assert.equal(histogram.count, values.length);
        for (const [p, got] of [[50, summary.p50], [90, summary.p90], [99, summary.p99], [99.9, summary.p999]] as const) {
          const want = exactPercentile(sorted, p);
          assert.ok(within(got, want), `p${p}: ${got} stands for ${want}`);
        }
        assert.ok(within(summary.max, sorted.at(-1) as number), `max ${summary.max} stands for ${sorted.at(-1)}`);
        assert.equal(histogram.sumUs, values.reduce((a, b) => a + b, 0));
      }),
      { numRuns: 300 },
    );
  });

  it('is empty and all zero before anything is recorded', () => {
    const { summary, histogram } = new LatencyRecorder('empty').collect(Date.now() + WINDOW_MS);
    assert.deepEqual(summary, { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
    assert.deepEqual(histogram.recent, []);
    assert.equal(histogram.buckets.at(-1), 0);
  });

  it('ship sparse pairs that add up to the same counts', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 200 }), fc.array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { maxLength: 200 }), (a, b) => {
        const both = newSlotCounts();
        const ca = newSlotCounts();
        const cb = newSlotCounts();
        for (const v of a) (ca[slotOf(v)] as number)++, (both[slotOf(v)] as number)++;
        for (const v of b) (cb[slotOf(v)] as number)++, (both[slotOf(v)] as number)++;
        const merged = newSlotCounts();
        addSparseSlots(merged, sparseSlots(ca));
        addSparseSlots(merged, sparseSlots(cb));
        assert.deepEqual(merged, both);
        assert.deepEqual(summarizeSlots(merged), summarizeSlots(both));
      }),
      { numRuns: 200 },
    );
  });

  it('ignore pairs naming a slot that does not exist', () => {
    const c = newSlotCounts();
    addSparseSlots(c, [-1, 5, 1e9, 5, 1.5, 5, 10, 2]);
    assert.deepEqual(sparseSlots(c), [10, 2]);
  });

  it('keep the closed window on show until the next one closes', () => {
    const r = new LatencyRecorder('windows');
    const t0 = Date.now() + WINDOW_MS;
    for (let i = 0; i < 100; i++) r.record(100);
    assert.equal(r.collect(t0).summary.p50, 100, 'the first window closes with its values');
    for (let i = 0; i < 100; i++) r.record(2000);
    assert.equal(r.collect(t0 + 10).summary.p50, 100, 'a snapshot inside the next window still shows the closed one');
    const next = r.collect(t0 + WINDOW_MS).summary;
    assert.ok(within(next.p50, 2000), `then the next window shows (${next.p50})`);
    assert.equal(r.collect(t0 + WINDOW_MS).histogram.count, 200, 'the cumulative count keeps both');
    const quiet = r.collect(t0 + 2 * WINDOW_MS);
    assert.equal(quiet.summary.count, 0, 'a window with nothing recorded is empty (the reused array was cleared)');
    assert.deepEqual(quiet.histogram.recent, []);
    r.record(5);
    assert.deepEqual(r.collect(t0 + 3 * WINDOW_MS).histogram.recent, [5, 1], 'and the next one holds only its own values');
  });
});
