import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/index.js';
import { AdminThread, startAdminServer, type StatsSource } from '../../src/metrics/admin-server.js';
import type { ServerSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/net.js';

const EMPTY: ServerSnapshot = { time: 0, draining: false, workers: [], combined: { listeners: {} } };

describe('the admin thread', () => {
  it('answers /healthz and /readyz with 503 while the serving thread is blocked, and keeps serving the dashboard', async () => {
    const child = fork(fileURLToPath(new URL('./fixtures/blocking-admin.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      const [{ port }] = (await once(child, 'message')) as [{ port: number }];
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      child.send({ type: 'block', ms: 8_000 });
      await once(child, 'message'); // blocking
      const started = Date.now();
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 503, 'a serving thread that cannot answer is not healthy');
      assert.match(await health.text(), /not responding/);
      assert.ok(Date.now() - started < 5_000, 'the health check gives up after its own timeout');
      const readiness = await fetch(`${base}/readyz`);
      assert.equal(readiness.status, 503, 'nor ready');
      assert.match(await readiness.text(), /not ready: the serving thread did not answer/);
      assert.equal((await fetch(`${base}/`)).status, 200, 'the dashboard page is served by the admin thread alone');
      await once(child, 'message'); // unblocked
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    } finally {
      child.disconnect();
      await once(child, 'exit');
    }
  });

  it('takes one snapshot for requests that arrive while one is being taken, and a new one after', async () => {
    let taken = 0;
    let release: () => void = () => {};
    const source: StatsSource = {
      ready: () => true,
      snapshot: async () => {
        taken++;
        await new Promise<void>((r) => (release = r));
        return { ...EMPTY, time: taken };
      },
    };
    const admin = await startAdminServer({ port: 0, logger: silentLogger, source });
    const base = `http://127.0.0.1:${admin.address.port}`;
    try {
      const replies = [fetch(`${base}/stats.json`), fetch(`${base}/metrics`), fetch(`${base}/stats.json`)];
      await waitFor(() => taken === 1, 5_000, 'the first snapshot to be asked for');
      // Give the other two requests time to reach the admin thread while the first is pending.
      await new Promise((r) => setTimeout(r, 200));
      release();
      const done = await Promise.all(replies);
      assert.deepEqual(done.map((r) => r.status), [200, 200, 200]);
      assert.equal(taken, 1);
      const later = fetch(`${base}/stats.json`);
      await waitFor(() => taken === 2, 5_000, 'a second snapshot');
      release();
      assert.equal(((await (await later).json()) as ServerSnapshot).time, 2);
    } finally {
      await admin.close();
    }
  });

  it('answers 500 and 503 when the stats source throws instead of rejecting, and the process keeps serving', async () => {
    const source: StatsSource = {
      ready: () => {
        throw new Error('readiness exploded');
      },
      snapshot: () => {
        throw new Error('snapshot exploded');
      },
    };
    const admin = await startAdminServer({ port: 0, logger: silentLogger, source });
    const base = `http://127.0.0.1:${admin.address.port}`;
    try {
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(await ready.text(), /readiness exploded/);
      assert.equal((await fetch(`${base}/stats.json`)).status, 500);
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the serving thread is alive and answering');
    } finally {
      await admin.close();
    }
  });

  it('is started again on the same port when it dies', async () => {
    const admin = new AdminThread('127.0.0.1', undefined, { ready: () => true, snapshot: async () => EMPTY }, silentLogger);
    const { port } = await admin.start(0);
    try {
      const first = admin.thread;
      assert.ok(first !== null);
      await first.terminate();
      await waitFor(() => admin.thread !== null && admin.thread !== first, 10_000, 'a new admin thread');
      let status = 0;
      for (const start = Date.now(); status !== 200 && Date.now() - start < 10_000; await new Promise((r) => setTimeout(r, 50))) {
        status = (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status ?? 0;
      }
      assert.equal(status, 200, 'the endpoint answers again');
    } finally {
      await admin.close();
    }
    assert.equal(admin.thread, null, 'close ends the thread');
  });
});
