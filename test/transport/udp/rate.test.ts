import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, ManualClock, silentLogger, TimerWheel, type UdpLimitsOptions } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { udpPeer, type UdpPeer } from '../../support/udp.js';

/** A listener on a clock that moves only when told, counting the datagrams its handler saw. */
async function rateLimited(limits: UdpLimitsOptions) {
  const clock = new ManualClock(10_000);
  const wheel = new TimerWheel({ clock, autoTick: false });
  let delivered = 0;
  const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, timerWheel: wheel, limits, handler: { message: () => void delivered++ } });
  return { server, clock, delivered: () => delivered };
}

/** Sends `n` datagrams of `bytes` bytes and waits until the server has received them all. */
async function burst(server: { stats(): { udp?: { datagramsIn: number } } }, peer: UdpPeer, n: number, bytes = 10): Promise<void> {
  const before = server.stats().udp?.datagramsIn ?? 0;
  for (let i = 0; i < n; i++) await peer.send(Buffer.alloc(bytes));
  await waitFor(() => server.stats().udp?.datagramsIn === before + n, 10_000, `${n} datagrams received`);
}

describe('udp rate limits', () => {
  it('drops what a session sends over datagramsPerSecond, never queueing it, and refills with time', async () => {
    const { server, clock, delivered } = await rateLimited({ datagramsPerSecond: 5 });
    const a = await udpPeer(server.address.port);
    await burst(server, a, 8);
    assert.equal(delivered(), 5);
    assert.equal(server.stats().udp?.drops.rate, 3);
    // Two-fifths of a second refills two datagrams; nothing dropped earlier comes back.
    clock.advance(400);
    await burst(server, a, 4);
    assert.equal(delivered(), 7);
    assert.equal(server.stats().udp?.drops.rate, 5);
    // A long pause refills no more than one second's worth.
    clock.advance(60_000);
    await burst(server, a, 8);
    assert.equal(delivered(), 12);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('drops what a session sends over bytesPerSecond', async () => {
    const { server, clock, delivered } = await rateLimited({ bytesPerSecond: 1_000, maxDatagramBytes: 400 });
    const a = await udpPeer(server.address.port);
    await burst(server, a, 4, 300);
    assert.equal(delivered(), 3);
    assert.equal(server.stats().udp?.drops.rate, 1);
    clock.advance(300);
    await burst(server, a, 2, 300);
    assert.equal(delivered(), 4);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('shares one address bucket among all the sessions of an address, and not with other addresses', async () => {
    const { server, delivered } = await rateLimited({ addressDatagramsPerSecond: 6, datagramsPerSecond: 100 });
    const port = server.address.port;
    const [p1, p2] = await Promise.all([udpPeer(port, { localAddress: '127.0.0.2' }), udpPeer(port, { localAddress: '127.0.0.2' })]);
    await burst(server, p1!, 4);
    await burst(server, p2!, 4);
    assert.equal(delivered(), 6);
    assert.equal(server.stats().udp?.drops['address-rate'], 2);
    const other = await udpPeer(port, { localAddress: '127.0.0.3' });
    await burst(server, other, 4);
    assert.equal(delivered(), 10);
    await Promise.all([p1!.close(), p2!.close(), other.close(), server.close({ graceMs: 100 })]);
  });

  it("forgets an address's bucket with its last session, so per-address state stays bounded by the sessions", async () => {
    const { server, delivered } = await rateLimited({ addressDatagramsPerSecond: 3 });
    const port = server.address.port;
    const a = await udpPeer(port, { localAddress: '127.0.0.4' });
    await burst(server, a, 5);
    assert.equal(delivered(), 3);
    for (const s of server.sessions()) s.end();
    await waitFor(() => server.sessionCount === 0, 10_000, 'the session to close');
    // On the same (stopped) clock, a fresh session of the address gets a fresh bucket.
    await burst(server, a, 5);
    assert.equal(delivered(), 6);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });
});
