import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from '../../src/load/run.js';
import { delayingServer, type Fixture } from './servers.js';

describe('load client latency', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  it('measures at least the delay a server adds to every reply, and not absurdly more', async () => {
    const delayMs = 50;
    const server = await delayingServer(delayMs);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 3, depth: 1, messages: 30, size: 32 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.latencyUs.count, 30);
    const l = r.latencyUs;
    assert.ok(l.p50 >= delayMs * 1000, `p50 ${l.p50} µs ≥ ${delayMs} ms`);
    // Generous ceiling: a loaded machine may add scheduling delay, but not seconds.
    assert.ok(l.p50 < (delayMs + 450) * 1000, `p50 ${l.p50} µs stays near ${delayMs} ms`);
    assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
    assert.ok(r.connectTimeUs.count === 3);
  });

  it('measures a fixed-rate run from each message\'s scheduled time', async () => {
    const delayMs = 40;
    const server = await delayingServer(delayMs);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 2, rate: 50, messages: 20, size: 32 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.latencyUs.count, 20);
    assert.ok(r.latencyUs.p50 >= delayMs * 1000, `p50 ${r.latencyUs.p50} µs`);
  });
});
