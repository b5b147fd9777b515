import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from '../../src/load/run.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { capstanServer, finServer, type Fixture } from './servers.js';

describe('load client delivery in send mode', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  it('reports as delivered exactly the frames a sink server counted, and ends without a reset', async () => {
    const lines: LoggedLine[] = [];
    // The server reads nothing for the first 1.5 s, so the client ends its run with socket buffers full and
    // writes still queued: the count must come from the server's close, not from what the client handed over.
    const server = await capstanServer('lp4', false, {
      logger: recordingLogger(lines),
      open(conn) {
        conn.pause();
        setTimeout(() => conn.resume(), 1500);
      },
    });
    fixtures.push(server);
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp4', connections: 4, depth: 16, durationSec: 0.5, drainTimeoutMs: 60_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    const d = r.delivery;
    assert.ok(d !== undefined);
    assert.ok(d.delivered > 0);
    assert.equal(d.delivered, server.frames, 'delivered = the frames the server read, as soon as the run returns');
    assert.equal(d.delivered, r.sent.msgs);
    assert.equal(d.taken, r.sent.msgs);
    assert.equal(d.unconfirmed, 0);
    assert.ok(d.lastSec >= 1.5 && d.perSec > 0, JSON.stringify(d));
    const stats = server.server.stats();
    assert.equal(stats.framesIn, d.delivered);
    assert.equal(stats.closes['peer-reset'], 0);
    assert.deepEqual(lines.filter((l) => JSON.stringify(l).includes('reset')), []);
  });

  it('counts every message of a connection the server resets after our FIN as unconfirmed', async () => {
    const server = await finServer((s) => s.resetAndDestroy());
    fixtures.push(server);
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp4', connections: 3, depth: 8, messages: 3000, size: 32 });
    assert.equal(r.errors.unconfirmed, 3, JSON.stringify(r.errorSamples));
    assert.equal(r.errors.total, 3);
    assert.match(r.errorSamples.unconfirmed ?? '', /1,000 messages not confirmed .*: the connection failed while closing: .*ECONNRESET/);
    assert.equal(server.bytes, 3000 * 32, 'the server did read everything; only its reset leaves that unknown to the client');
    assert.deepEqual(r.delivery && { ...r.delivery, perSec: 0, lastSec: 0 }, { taken: 3000, delivered: 0, unconfirmed: 3000, perSec: 0, lastSec: 0 });
  });

  it('counts the messages of a server that never closes as unconfirmed once the drain timeout passes', async () => {
    const server = await finServer(() => undefined);
    fixtures.push(server);
    const started = performance.now();
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp2', connections: 2, messages: 500, size: 20, drainTimeoutMs: 300 });
    assert.ok(performance.now() - started < 20_000, 'the drain timeout bounds the wait');
    assert.equal(r.errors.unconfirmed, 2, JSON.stringify(r.errorSamples));
    assert.match(r.errorSamples.unconfirmed ?? '', /250 messages not confirmed \(0 of them still queued here\): no clean close from the server within 300 ms of our end/);
    assert.equal(r.delivery?.delivered, 0);
    assert.equal(r.delivery?.unconfirmed, 500);
  });

  it('does not count as taken what was still queued in the client when a server that stopped reading is given up', async () => {
    const server = await finServer(() => undefined, false);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp4', connections: 1, depth: 64, size: 1024, durationSec: 0.3, drainTimeoutMs: 300 });
    assert.equal(r.errors.unconfirmed, 1, JSON.stringify(r.errorSamples));
    const queued = Number(/\(([\d,]+) of them still queued here\)/.exec(r.errorSamples.unconfirmed ?? '')?.[1]?.replaceAll(',', '') ?? NaN);
    assert.ok(queued > 0, r.errorSamples.unconfirmed);
    assert.equal(r.delivery?.taken, r.sent.msgs - queued);
    assert.equal(r.delivery?.unconfirmed, r.sent.msgs);
  });

  it('adds up delivery over worker processes', async () => {
    const server = await capstanServer('lp4', false);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp4', connections: 4, workers: 2, depth: 4, messages: 2000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.delivery?.delivered, 2000);
    assert.equal(server.frames, 2000);
  });
});
