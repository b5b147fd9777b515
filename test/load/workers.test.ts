import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from '../../src/load/run.js';
import { waitFor } from '../support/net.js';
import { capstanServer, type Fixture } from './servers.js';

describe('load client worker processes', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  it('holds the requested idle connections across two worker processes', async () => {
    const server = await capstanServer('raw', true);
    fixtures.push(server);
    let held: Promise<void> = Promise.reject(new Error('onConnected was not called'));
    held.catch(() => undefined);
    // The server accepts from its backlog a little after the clients see their connects complete, and on a
    // loaded machine that may take a while: the run holds its connections until the server has them all
    // (or the wait gives up), then is ended.
    const enough = new AbortController();
    const r = await runLoad(
      { target: server.target, mode: 'idle', connections: 300, workers: 2, durationSec: 60 },
      {
        signal: enough.signal,
        onConnected: () => {
          held = waitFor(() => server.open === 300, 30_000, '300 open connections').finally(() => enough.abort());
        },
      },
    );
    await held;
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.workers, 2);
    assert.equal(r.connections.established, 300);
  });

  it('merges exact counts and latency from every worker', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 6, workers: 3, depth: 4, messages: 900 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 900);
    assert.equal(r.latencyUs.count, 900);
    assert.equal(server.frames, 900);
  });

  it('reports a bad target from every worker without hanging', async () => {
    const r = await runLoad({ target: 'tcp://127.0.0.1:1', connections: 4, workers: 2, durationSec: 5 });
    assert.equal(r.errors.refused, 4);
    assert.equal(r.connections.established, 0);
  });
});
