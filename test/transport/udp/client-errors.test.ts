import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { connect, isCapstanError, ManualClock, silentLogger, TimerWheel, type CloseReason } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { faultySocket, rawEcho } from '../../support/udp.js';

/** A UDP port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('udp client and network errors', () => {
  it('ends the session with peer-unreachable when a real send draws ICMP port unreachable (a connected socket hears of it)', async () => {
    const port = await closedPort();
    const closes: Array<[CloseReason, string | undefined]> = [];
    const client = await connect({
      transport: 'udp',
      port,
      logger: silentLogger,
      handler: { close: (_s, reason, error) => void closes.push([reason, (error as NodeJS.ErrnoException | undefined)?.code]) },
    });
    const pending = client.request('anyone there?', { timeoutMs: 60_000, retries: 0 });
    await assert.rejects(pending, (e: unknown) => isCapstanError(e, 'ERR_NOT_OPEN') && e.reason === 'peer-unreachable');
    assert.deepEqual(closes, [['peer-unreachable', 'ECONNREFUSED']]);
    const stats = client.stats();
    assert.equal(stats.udp?.icmpErrors, 1);
    assert.equal(stats.udp?.receiveErrors.ECONNREFUSED, 1);
    assert.equal(stats.closes['peer-unreachable'], 1);
    assert.equal(client.send('again'), false);
    await client.close();
  });

  it('ends the session with peer-unreachable when the error comes back on a send instead', async () => {
    const echo = await rawEcho();
    const faults = faultySocket(() => 'ECONNREFUSED');
    const closes: CloseReason[] = [];
    const client = await connect({ transport: 'udp', port: echo.port, logger: silentLogger, createSocket: faults.create, handler: { close: (_s, reason) => void closes.push(reason) } });
    client.send('x');
    await waitFor(() => closes.length === 1, 10_000, 'the close');
    assert.deepEqual(closes, ['peer-unreachable']);
    assert.equal(client.stats().udp?.sendErrors.ECONNREFUSED, 1);
    await Promise.all([client.close(), echo.close()]);
  });

  for (const code of ['ENOBUFS', 'EAGAIN']) {
    it(`counts a send failing with ${code}, drops sends without a system call while it backs off, then sends again`, async () => {
      const clock = new ManualClock(5_000);
      const wheel = new TimerWheel({ clock, autoTick: false });
      const echo = await rawEcho();
      let failures = 0;
      const faults = faultySocket(() => (failures > 0 ? (failures--, code) : null));
      const received: string[] = [];
      const client = await connect({ transport: 'udp', port: echo.port, logger: silentLogger, timerWheel: wheel, createSocket: faults.create, handler: { message: (_s, d) => void received.push(String(d)) } });
      failures = 1;
      assert.equal(client.send('lost'), true, 'the socket took it; its failure is reported later');
      await waitFor(() => client.stats().udp?.sendErrors[code] === 1, 10_000, 'the failure to be counted');
      const calls = faults.calls();
      for (let i = 0; i < 20; i++) assert.equal(client.send(`paused ${i}`), false);
      assert.equal(faults.calls(), calls, 'no send reached the socket while backing off');
      assert.equal(client.stats().udp?.drops.backoff, 20);
      clock.advance(11);
      assert.equal(client.send('back'), true);
      await waitFor(() => received.length === 1, 10_000, 'the echo');
      assert.deepEqual(received, ['back']);
      assert.equal(client.session?.state, 'open', 'a resource error does not end the session');
      await Promise.all([client.close(), echo.close()]);
    });
  }

  it('resolves a host name once and picks udp4 or udp6 by its address', async () => {
    // localhost comes from the hosts file, so no query leaves the machine.
    const { address, family } = await dns.promises.lookup('localhost');
    const echo = await rawEcho(address);
    const received: string[] = [];
    const client = await connect({ transport: 'udp', host: 'localhost', port: echo.port, logger: silentLogger, handler: { message: (_s, d) => void received.push(String(d)) } });
    assert.equal(client.remote.address, address);
    assert.equal(client.remote.family, family === 6 ? 'IPv6' : 'IPv4');
    client.send('by name');
    await waitFor(() => received.length === 1, 10_000, 'the echo');
    await Promise.all([client.close(), echo.close()]);
  });

  it('rejects with ERR_CONNECT_FAILED when the local address cannot be bound', async () => {
    await assert.rejects(
      connect({ transport: 'udp', port: 9, localAddress: '192.0.2.123', logger: silentLogger, handler: {} }),
      (e: unknown) => isCapstanError(e, 'ERR_CONNECT_FAILED') && /EADDRNOTAVAIL/.test(e.message),
    );
  });
});
