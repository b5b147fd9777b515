/**
 * The soak's check, in CI: about a minute of TLS churn through every stage
 * must serve every echo and keep memory flat, and the same check must fail on
 * a server that keeps a copy of every frame (so it can fail).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HEAP_EXTERNAL_SLOPE_LIMIT, runSoak, slope } from '../../bench/soak.js';

const MiB = 1024 * 1024;

describe('the TLS soak through every filter', () => {
  it('computes a least-squares slope', () => {
    assert.equal(slope([0, 1, 2, 3], [5, 7, 9, 11]), 2);
    assert.equal(slope([0, 1, 2, 3], [4, 4, 4, 4]), 0);
  });

  it('serves a minute of churn (PROXY v2, TLS and plaintext, pass-through, deflate) with every echo intact and memory flat', async () => {
    const r = await runSoak({ seconds: 60, concurrency: 30, sampleMs: 2_000 });
    assert.equal(r.verifyFailures, 0, `every echo came back intact: ${r.failures.join('; ')}`);
    assert.equal(r.errors, 0, `no connection failed unasked: ${r.failures.join('; ')}`);
    assert.ok(r.connections > 200, `${r.connections} connections`);
    assert.ok(r.messages > 2_000, `${r.messages} messages`);
    assert.ok(r.heapExternalSlopePerMin < HEAP_EXTERNAL_SLOPE_LIMIT, `heap + external grew ${(r.heapExternalSlopePerMin / MiB).toFixed(2)} MiB/min over the second half`);
  });

  it('catches a server that keeps a copy of every frame', async () => {
    const r = await runSoak({ seconds: 20, concurrency: 30, sampleMs: 1_000, leak: true });
    assert.ok(r.heapExternalSlopePerMin > HEAP_EXTERNAL_SLOPE_LIMIT, `the leak shows: ${(r.heapExternalSlopePerMin / MiB).toFixed(1)} MiB/min`);
  });
});
