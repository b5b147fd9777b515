import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, ManualClock, silentLogger, TimerWheel, type CloseReason, type PeerInfo } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { udpPeer } from '../../support/udp.js';

const echo = { message: (s: { send(d: Buffer): boolean }, d: Buffer) => void s.send(d) };

describe('udp limits', () => {
  it('drops datagrams from new peers beyond maxSessions, counts them, and serves the sessions it holds', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, limits: { maxSessions: 2 }, handler: echo });
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => udpPeer(server.address.port)));
    await a!.send('a');
    await b!.send('b');
    await Promise.all([a!.waitFor(1), b!.waitFor(1)]);
    await c!.send('c');
    await waitFor(() => server.stats().udp?.drops['session-cap'] === 1, 10_000, 'the drop');
    assert.equal(server.sessionCount, 2);
    await a!.send('a again');
    assert.equal(String((await a!.waitFor(2))[1]), 'a again');
    assert.equal(c!.received.length, 0);
    await Promise.all([a!.close(), b!.close(), c!.close(), server.close({ graceMs: 100 })]);
  });

  it('drops datagrams from new ports of an address that holds maxSessionsPerAddress sessions, not from another address', async () => {
    const server = await listen({ transport: 'udp', host: '127.0.0.1', port: 0, logger: silentLogger, limits: { maxSessionsPerAddress: 2 }, handler: echo });
    const port = server.address.port;
    const same = await Promise.all([1, 2, 3].map(() => udpPeer(port, { localAddress: '127.0.0.2' })));
    await same[0]!.send('1');
    await same[1]!.send('2');
    await Promise.all([same[0]!.waitFor(1), same[1]!.waitFor(1)]);
    await same[2]!.send('3');
    await waitFor(() => server.stats().udp?.drops['address-cap'] === 1, 10_000, 'the drop');
    const other = await udpPeer(port, { localAddress: '127.0.0.3' });
    await other.send('elsewhere');
    assert.equal(String((await other.waitFor(1))[0]), 'elsewhere');
    assert.equal(server.sessionCount, 3);
    await Promise.all([...same, other].map((p) => p.close()).concat(server.close({ graceMs: 100 }).then(() => undefined)));
  });

  it('drops datagrams over maxDatagramBytes, counts them, and takes one of exactly that size', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, limits: { maxDatagramBytes: 100 }, handler: echo });
    const a = await udpPeer(server.address.port);
    await a.send(Buffer.alloc(101, 1));
    await a.send(Buffer.alloc(100, 2));
    const [reply] = await a.waitFor(1);
    assert.equal(reply?.length, 100);
    assert.equal(reply?.[0], 2);
    assert.equal(server.stats().udp?.drops.oversize, 1);
    assert.equal(server.stats().udp?.datagramsIn, 2);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('asks accept before making a session: a refused peer gets none and costs a counted drop', async () => {
    const asked: Array<[PeerInfo, string]> = [];
    let opened = 0;
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        accept: (peer, datagram) => {
          asked.push([peer, datagram.toString()]);
          return datagram.toString() === 'let me in';
        },
        open: () => void opened++,
        ...echo,
      },
    });
    const a = await udpPeer(server.address.port);
    await a.send('hello');
    await waitFor(() => server.stats().udp?.drops.refused === 1, 10_000, 'the refusal');
    assert.equal(opened, 0);
    assert.equal(server.sessionCount, 0);
    await a.send('let me in');
    await a.send('and this');
    assert.deepEqual((await a.waitFor(2)).map(String), ['let me in', 'and this']);
    assert.equal(asked.length, 2, 'accept is asked for new peers only');
    assert.deepEqual(asked[0]?.[0], { address: '127.0.0.1', port: a.port, family: 'IPv4' });
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('closes a session after idleTimeoutMs without a datagram from its peer, on one wheel entry per session', async () => {
    const clock = new ManualClock(1_000);
    const wheel = new TimerWheel({ clock, autoTick: false, tickMs: 100 });
    const closes: CloseReason[] = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      timerWheel: wheel,
      limits: { idleTimeoutMs: 1_000 },
      handler: { ...echo, close: (_s, r) => void closes.push(r) },
    });
    const quiet = await udpPeer(server.address.port);
    const chatty = await udpPeer(server.address.port);
    await quiet.send('q');
    await chatty.send('c');
    await Promise.all([quiet.waitFor(1), chatty.waitFor(1)]);
    assert.equal(wheel.size, 2, 'one wheel entry per session');
    for (let i = 0; i < 3; i++) {
      clock.advance(500);
      wheel.tick();
      await chatty.send(`c${i}`);
      await chatty.waitFor(2 + i);
      assert.ok(wheel.size <= 2, 'activity never adds wheel entries');
    }
    await waitFor(() => closes.length === 1, 10_000, 'the quiet session to close');
    assert.deepEqual(closes, ['idle-timeout']);
    assert.equal(server.sessionCount, 1);
    assert.equal(server.stats().timeouts.idle, 1);
    assert.equal(wheel.size, 1);
    await Promise.all([quiet.close(), chatty.close(), server.close({ graceMs: 100 })]);
  });
});
