import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, connect, lengthPrefixed, silentLogger, type ReconnectInfo, type Server } from '../../src/index.js';
import { portOf, waitFor } from '../support/net.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function echoServer(port = 0): Promise<Server> {
  return listen({ port, codec: lengthPrefixed(), logger: silentLogger, handler: { message: (c, f) => void c.send(f) } });
}

describe('connect', () => {
  it('rejects with ERR_CONNECT_FAILED when nothing listens', async () => {
    const port = await freePort();
    await assert.rejects(connect({ port, handler: {}, logger: silentLogger }), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'ERR_CONNECT_FAILED');
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
  });

  it('rejects with ERR_CONNECT_TIMEOUT when the connection does not open in time', async () => {
    // TLS to a plain server that never answers: the handshake cannot complete.
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    await assert.rejects(
      connect({ port: silentPort, tls: { rejectUnauthorized: false }, connectTimeoutMs: 300, handler: {}, logger: silentLogger }),
      { code: 'ERR_CONNECT_TIMEOUT' },
    );
    silent.close();
  });

  it('reconnects with growing, jittered delays until the server comes up, reporting each attempt', async () => {
    const port = await freePort();
    const attempts: ReconnectInfo[] = [];
    let opens = 0;
    const pending = connect({
      port,
      codec: lengthPrefixed(),
      logger: silentLogger,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 0.5 },
      handler: { open: () => void opens++, reconnecting: (info) => void attempts.push(info) },
    });
    await waitFor(() => attempts.length >= 4, 30_000, 'four retries');
    const server = await echoServer(port);
    const client = await pending;
    assert.equal(opens, 1);
    assert.deepEqual(attempts.slice(0, 4).map((a) => a.attempt), [1, 2, 3, 4]);
    for (const [i, a] of attempts.slice(0, 4).entries()) {
      const base = Math.min(200, 20 * 2 ** i);
      assert.ok(a.delayMs >= base * 0.5 - 1 && a.delayMs <= base, `delay ${a.delayMs} for attempt ${a.attempt} within [${base / 2}, ${base}]`);
      assert.match(String(a.error?.message), /ECONNREFUSED/);
    }
    await client.close();
    await server.close();
  });

  it('reconnects after the server drops the connection, and stops after client.close()', async () => {
    const port = await freePort();
    let server = await echoServer(port);
    const events: string[] = [];
    const got: string[] = [];
    const client = await connect({
      port,
      codec: lengthPrefixed(),
      logger: silentLogger,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
      handler: {
        open: () => void events.push('open'),
        close: (_c, reason) => void events.push(`close:${reason}`),
        reconnecting: (info) => void events.push(`retry:${info.reason ?? 'failed'}`),
        message: (_c, f) => void got.push(f.toString()),
      },
    });
    await server.close({ graceMs: 5_000, quietMs: 10 });
    await waitFor(() => events.some((e) => e.startsWith('retry:')), 30_000, `a retry after the drop (${events.join(' ')})`);
    assert.deepEqual(events.slice(0, 3), ['open', 'close:peer-closed', 'retry:peer-closed']);
    server = await echoServer(port);
    await waitFor(() => events.filter((e) => e === 'open').length === 2, 30_000, 'the second open');
    assert.equal(client.send('again'), true);
    await waitFor(() => got.includes('again'));
    await client.close();
    assert.equal(client.connection, null);
    const before = events.length;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(events.length, before, 'no retry after close');
    await server.close();
  });

  it('gives up after maxAttempts with ERR_RECONNECT_EXHAUSTED', async () => {
    const port = await freePort();
    let retries = 0;
    await assert.rejects(
      connect({ port, logger: silentLogger, reconnect: { initialDelayMs: 5, maxAttempts: 3 }, handler: { reconnecting: () => void retries++ } }),
      { code: 'ERR_RECONNECT_EXHAUSTED' },
    );
    assert.equal(retries, 3);
  });

  it('connects from a chosen source address', async () => {
    let remote = '';
    const server = await listen({ port: 0, logger: silentLogger, handler: { open: (c) => void (remote = c.remoteAddress) } });
    const client = await connect({ port: portOf(server), localAddress: '127.0.0.7', handler: {}, logger: silentLogger });
    await waitFor(() => remote !== '');
    assert.equal(remote, '127.0.0.7');
    await client.close();
    await server.close();
  });
});
