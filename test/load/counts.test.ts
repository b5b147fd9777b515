import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../src/load/run.js';
import { waitFor } from '../support/net.js';
import { capstanServer, echoServer, type Fixture } from './servers.js';

describe('load client counts', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  it('sends and receives exactly the requested messages, and a counting server agrees', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 7, depth: 8, messages: 1001, size: 40 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.sent.msgs, 1001);
    assert.equal(r.received.msgs, 1001);
    assert.equal(server.frames, 1001);
    assert.equal(r.sent.bytes, 1001 * 40);
    assert.equal(r.received.bytes, 1001 * 40);
  });

  it('delivers exactly the requested messages in send-only mode', async () => {
    const server = await capstanServer('lp2', false);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, mode: 'send', framing: 'lp2', connections: 3, depth: 5, messages: 777, size: [10, 300] });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.sent.msgs, 777);
    assert.equal(r.received.msgs, 0);
    // The run ends only once the server has closed after reading everything.
    assert.equal(r.delivery?.delivered, 777);
    assert.equal(server.frames, 777);
  });

  it('counts bytes each way exactly for raw framing', async () => {
    const server = await echoServer();
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 2, depth: 3, messages: 300, size: 100 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 300);
    assert.equal(server.bytes, 300 * 100);
    assert.equal(r.received.bytes, 300 * 100);
  });

  it('echoes line-framed messages with a payload free of line ends', async () => {
    const server = await capstanServer('line', true);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'line', connections: 2, depth: 4, messages: 200, size: 50 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.payload, 'ascii');
    assert.equal(server.frames, 200);
  });

  it('runs for a duration when no count is given and reports rates over the window', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 4, depth: 4, durationSec: 0.5 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.ok(r.received.msgs > 0);
    assert.equal(r.sent.msgs, r.received.msgs, 'every message sent before the deadline was answered');
    assert.ok(r.durationSec >= 0.5, `window ${r.durationSec}`);
    assert.ok(r.msgsPerSec > 0 && r.bytesPerSec === r.received.bytesPerSec);
    assert.ok(r.latencyUs.count > 0 && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
    assert.ok(r.clientCpu.seconds > 0 && r.clientCpu.perMsgUs > 0, JSON.stringify(r.clientCpu));
  });

  it('never ends a timed run before its duration, however often it runs', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    // Short runs, many of them: with the deadline on the event loop's millisecond clock,
    // about one 50 ms run in four ended a fraction of a millisecond early.
    for (let i = 0; i < 20; i++) {
      const r = await runLoad({ target: server.target, framing: 'lp4', connections: 2, depth: 2, durationSec: 0.05 });
      assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
      assert.ok(r.durationSec >= 0.05, `run ${i + 1}: window ${r.durationSec} s`);
    }
  });

  it('keeps to a fixed rate: a counted run at a known rate cannot finish sooner than its schedule', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    // 2 connections × 200 msgs/s = 400 msgs/s, so 100 messages take at least 0.25 s.
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 2, rate: 200, messages: 100 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 100);
    assert.ok(r.durationSec >= 0.2, `window ${r.durationSec} s`);
  });

  it('completes connect-exchange-close cycles in churn mode, each one a connection the server accepted', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'lp4', mode: 'churn', connections: 4, messages: 60 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 60);
    assert.equal(r.connections.established, 60);
    await waitFor(() => server.accepted === 60, 30_000, `60 accepted connections (has ${server.accepted})`);
    assert.ok(r.connectsPerSec > 0);
  });

  it('echoes over a Unix socket', async () => {
    const path = join(tmpdir(), `capstan-load-${process.pid}.sock`);
    const server = await capstanServer('lp4', true, { path });
    fixtures.push(server);
    const r = await runLoad({ target: `unix://${path}`, framing: 'lp4', connections: 3, depth: 2, messages: 90 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(server.frames, 90);
  });

  it('ends a long run early when aborted, and still reports what was done', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const started = Date.now();
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 2, durationSec: 60 }, { signal: abort.signal });
    assert.ok(Date.now() - started < 30_000, 'stopped long before its 60 s');
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.ok(r.received.msgs > 0 && r.received.msgs === r.sent.msgs);
  });

  it('keeps churning against a refused port until its deadline, counting every failure', async () => {
    const r = await runLoad({ target: 'tcp://127.0.0.1:1', mode: 'churn', connections: 2, durationSec: 0.3 });
    assert.ok(r.errors.refused >= 2, JSON.stringify(r.errors));
    assert.equal(r.errors.total, r.errors.refused);
    assert.equal(r.received.msgs, 0);
  });
});
