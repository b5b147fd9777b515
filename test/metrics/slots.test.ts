import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_SLOT_VALUE, SLOT_COUNT, slotLow, slotOf, slotValue } from '../../src/metrics/slots.js';

describe('latency slots', () => {
  it('keep values below 256 exact', () => {
    for (let v = 0; v < 256; v++) {
      assert.equal(slotOf(v), v);
      assert.equal(slotValue(v), v);
    }
  });

  it('put every value in a slot that contains it and stands for it within 0.8 %', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_SLOT_VALUE }), (v) => {
        const s = slotOf(v);
        assert.ok(s >= 0 && s < SLOT_COUNT);
        assert.ok(slotLow(s) <= v, `low ${slotLow(s)} ≤ ${v}`);
        assert.ok(s + 1 === SLOT_COUNT || slotLow(s + 1) > v, 'the next slot starts above it');
        assert.ok(Math.abs(slotValue(s) - v) <= Math.max(0, v * 0.008), `${slotValue(s)} stands for ${v}`);
      }),
      { numRuns: 5_000 },
    );
  });

  it('are ordered: a larger value never lands in an earlier slot', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_SLOT_VALUE }), fc.integer({ min: 0, max: MAX_SLOT_VALUE }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(slotOf(lo) <= slotOf(hi));
      }),
      { numRuns: 5_000 },
    );
  });

  it('use every slot up to the largest value', () => {
    assert.equal(slotOf(MAX_SLOT_VALUE), SLOT_COUNT - 1);
    assert.equal(slotOf(256), 256);
  });
});
