import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/index.js';
import { AdminThread, startAdminServer, type StatsSource } from '../../src/metrics/admin-server.js';
import type { ServerSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/net.js';

const EMPTY: ServerSnapshot = { time: 0, draining: false, workers: [], combined: { listeners: {} } };

/** The status of each complete HTTP/1.1 response in `text`, in order (every admin response has a Content-Length). */
function statuses(text: string): number[] {
  const out: number[] = [];
  for (let at = 0; ; ) {
    const head = text.indexOf('\r\n\r\n', at);
    if (head === -1) return out;
    const headers = text.slice(at, head);
    const length = Number(/^content-length: *(\d+)/im.exec(headers)?.[1] ?? NaN);
    if (Number.isNaN(length) || head + 4 + length > text.length) return out;
    out.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]));
    at = head + 4 + length;
  }
}

describe('the admin thread', () => {
  it('answers /healthz and /readyz with 503 while the serving thread is blocked, and keeps serving the dashboard', async () => {
    const child = fork(fileURLToPath(new URL('./fixtures/blocking-admin.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const dir = mkdtempSync(join(tmpdir(), 'capstan-admin-block-'));
    const release = join(dir, 'release');
    try {
      const [{ port }] = (await once(child, 'message')) as [{ port: number }];
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      child.send({ type: 'block', release, maxMs: 90_000 });
      await once(child, 'message'); // blocking
      let unblocked = false;
      const unblocking = once(child, 'message').then(() => (unblocked = true));
      // The block lasts until the release file exists, so every answer below came while it held.
      const started = Date.now();
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 503, 'a serving thread that cannot answer is not healthy');
      assert.match(await health.text(), /not responding/);
      assert.equal(unblocked, false, 'the health check gave up while the serving thread was still blocked');
      // Its own timeout is 2 s; the bound only has to tell that from waiting for the block to end.
      assert.ok(Date.now() - started < 20_000, 'the health check gives up after its own timeout');
      const readiness = await fetch(`${base}/readyz`);
      assert.equal(readiness.status, 503, 'nor ready');
      assert.match(await readiness.text(), /not ready: the serving thread did not answer/);
      assert.equal((await fetch(`${base}/`)).status, 200, 'the dashboard page is served by the admin thread alone');
      assert.equal(unblocked, false, 'all of that while the serving thread was blocked');
      writeFileSync(release, '');
      await unblocking;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    } finally {
      writeFileSync(release, '');
      child.disconnect();
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes one snapshot for requests that arrive while one is being taken, and a new one after', async () => {
    let taken = 0;
    let readinessAsked = 0;
    let release: () => void = () => {};
    const source: StatsSource = {
      ready: () => {
        readinessAsked++;
        return true;
      },
      snapshot: async () => {
        taken++;
        await new Promise<void>((r) => (release = r));
        return { ...EMPTY, time: taken };
      },
    };
    // The history's own sampling would take snapshots too; this counts the requests' alone.
    const admin = await startAdminServer({ port: 0, logger: silentLogger, source, history: false });
    const base = `http://127.0.0.1:${admin.address.port}`;
    const socket = net.connect({ host: '127.0.0.1', port: admin.address.port });
    try {
      await once(socket, 'connect');
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (received += d));
      // Pipelined on one connection: the server handles the requests in order, each as soon as it is read,
      // so once the fourth one asks about readiness the three before it have asked for their snapshot.
      const paths = ['/stats.json', '/metrics', '/stats.json', '/readyz'];
      socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: admin\r\n\r\n`).join(''));
      await waitFor(() => readinessAsked === 1, 30_000, 'the last pipelined request to be handled');
      assert.equal(taken, 1, 'one snapshot for the three requests waiting on it');
      release();
      await waitFor(() => statuses(received).length === paths.length, 30_000, 'every pipelined response');
      assert.deepEqual(statuses(received), [200, 200, 200, 200]);
      assert.equal(taken, 1);
      const later = fetch(`${base}/stats.json`);
      await waitFor(() => taken === 2, 30_000, 'a second snapshot');
      release();
      assert.equal(((await (await later).json()) as ServerSnapshot).time, 2);
    } finally {
      socket.destroy();
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
      await waitFor(() => admin.thread !== null && admin.thread !== first, 30_000, 'a new admin thread');
      let status = 0;
      for (const start = Date.now(); status !== 200 && Date.now() - start < 30_000; await new Promise((r) => setTimeout(r, 50))) {
        status = (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status ?? 0;
      }
      assert.equal(status, 200, 'the endpoint answers again');
    } finally {
      await admin.close();
    }
    assert.equal(admin.thread, null, 'close ends the thread');
  });
});
