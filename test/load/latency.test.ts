import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from '../../src/load/run.js';
import { delayingServer, echoServer, type Fixture } from './servers.js';

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

  it('keeps to its schedule for a whole timed run and measures the delay a server adds to every reply', async () => {
    const delayMs = 30;
    const server = await delayingServer(delayMs);
    fixtures.push(server);
    const connections = 4;
    const rate = 100;
    const r = await runLoad({ target: server.target, connections, rate, durationSec: 1, size: 32 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.skipped, 0);
    // The schedule owes rate × connections messages per second of the window; a loaded
    // machine may end the window between two ticks, so allow a tenth plus a few.
    const owed = rate * connections * r.durationSec;
    assert.ok(Math.abs(r.sent.msgs - owed) <= owed / 10 + 2 * connections, `sent ${r.sent.msgs}, the schedule owes ${owed.toFixed(0)} over ${r.durationSec} s`);
    assert.equal(r.received.msgs, r.sent.msgs);
    assert.equal(r.latencyUs.count, r.received.msgs);
    const l = r.latencyUs;
    assert.ok(l.p50 >= delayMs * 1000, `p50 ${l.p50} µs ≥ ${delayMs} ms`);
    assert.ok(l.p50 < (delayMs + 450) * 1000, `p50 ${l.p50} µs stays near ${delayMs} ms`);
  });

  it('counts a stall of the client against the messages it delayed, then catches up with the schedule', async () => {
    const server = await echoServer();
    fixtures.push(server);
    const stallMs = 200;
    const connections = 2;
    const rate = 100;
    const stall = (): void => {
      setTimeout(() => {
        const until = performance.now() + stallMs;
        while (performance.now() < until);
      }, 300);
    };
    const r = await runLoad({ target: server.target, connections, rate, durationSec: 1, size: 32 }, { onConnected: stall });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    // The messages that fell due during the stall left late but were not dropped…
    assert.equal(r.skipped, 0);
    const owed = rate * connections * r.durationSec;
    assert.ok(Math.abs(r.sent.msgs - owed) <= owed / 10 + 2 * connections, `sent ${r.sent.msgs}, the schedule owes ${owed.toFixed(0)} over ${r.durationSec} s`);
    assert.equal(r.received.msgs, r.sent.msgs);
    // …and each one's latency runs from when it was due, not from when it left.
    assert.ok(r.latencyUs.max >= (stallMs - 50) * 1000, `max ${r.latencyUs.max} µs covers the ${stallMs} ms stall`);
    // About a fifth of the run's messages fell due during the stall.
    assert.ok(r.latencyUs.p90 >= 10_000, `p90 ${r.latencyUs.p90} µs`);
  });
});
