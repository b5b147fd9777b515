import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lengthPrefixed, listen, ManualClock, silentLogger, TimerWheel, type PeerInfo, type ProxyHeader, type Session } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { closeTracked, faultySocket, relayed, track, udpPeer } from '../../support/udp.js';

/** Answers each datagram with who the session is and what it said. */
const whoAmI = { message: (s: Session, d: Buffer) => void s.send(`${s.remoteAddress}:${s.remotePort} ${d.toString()}`) };

afterEach(closeTracked);

describe('udp listeners behind a proxy (PROXY protocol v2 on each datagram)', () => {
  it('gives each client relayed through one proxy socket its own session, named by the header, and answers through the proxy', async () => {
    const opened: Array<{ address: string; port: number; family: string; proxy: ProxyHeader | null }> = [];
    const server = track(await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      proxyProtocol: 'required',
      handler: { open: (s) => void opened.push({ address: s.remoteAddress, port: s.remotePort, family: s.remoteFamily, proxy: s.proxy }), ...whoAmI },
    }));
    const proxy = track(await udpPeer(server.address.port));
    await proxy.send(relayed('203.0.113.7', 4001, 'a'));
    await proxy.send(relayed('203.0.113.8', 4001, 'b'));
    await proxy.send(relayed('203.0.113.7', 4002, 'c'));
    await proxy.send(relayed('2001:db8::7', 4001, 'd'));
    await proxy.send(relayed('203.0.113.7', 4001, 'e'));
    // Every reply goes to the datagram's source, the proxy's socket, with no header.
    assert.deepEqual((await proxy.waitFor(5)).map(String), ['203.0.113.7:4001 a', '203.0.113.8:4001 b', '203.0.113.7:4002 c', '2001:db8::7:4001 d', '203.0.113.7:4001 e']);
    assert.equal(server.sessionCount, 4);
    assert.deepEqual(
      opened.map((o) => [o.address, o.port, o.family]),
      [
        ['203.0.113.7', 4001, 'IPv4'],
        ['203.0.113.8', 4001, 'IPv4'],
        ['203.0.113.7', 4002, 'IPv4'],
        ['2001:db8::7', 4001, 'IPv6'],
      ],
    );
    assert.deepEqual(opened[0]?.proxy?.destination, { address: '192.0.2.1', port: 53 });
    assert.equal(opened[0]?.proxy?.transport, 'udp4');
    assert.equal(opened[3]?.proxy?.transport, 'udp6');
    const stats = server.stats();
    assert.equal(stats.accepted, 4);
    assert.equal(stats.proxy.accepted, 5, 'one header per datagram');
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('keeps the TLVs of the latest datagram in session.proxy, and checks a CRC32C', async () => {
    const seen: Array<string | undefined> = [];
    const server = track(await listen({ transport: 'udp', port: 0, logger: silentLogger, proxyProtocol: 'required', handler: { message: (s, d) => void (seen.push(s.proxy?.authority), s.send(d)) } }));
    const proxy = track(await udpPeer(server.address.port));
    await proxy.send(relayed('198.51.100.1', 9, 'one', { tlvs: [{ type: 0x02, value: Buffer.from('a.example') }], checksum: true }));
    await proxy.send(relayed('198.51.100.1', 9, 'two', { tlvs: [{ type: 0x02, value: Buffer.from('b.example') }], checksum: true }));
    await proxy.waitFor(2);
    assert.deepEqual(seen, ['a.example', 'b.example']);
    const bad = relayed('198.51.100.1', 9, 'three', { checksum: true });
    const at = bad.length - 'three'.length - 1;
    bad.writeUInt8(bad.readUInt8(at) ^ 0xff, at);
    await proxy.send(bad);
    await waitFor(() => server.stats().udp?.drops['proxy-checksum'] === 1, 10_000, 'the checksum drop');
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('holds the client address, not the proxy, to maxSessionsPerAddress', async () => {
    const server = track(await listen({ transport: 'udp', port: 0, logger: silentLogger, proxyProtocol: 'required', limits: { maxSessionsPerAddress: 2 }, handler: whoAmI }));
    const proxy = track(await udpPeer(server.address.port));
    await proxy.send(relayed('198.51.100.1', 1, 'x'));
    await proxy.send(relayed('198.51.100.1', 2, 'x'));
    await proxy.waitFor(2);
    await proxy.send(relayed('198.51.100.1', 3, 'x'));
    await waitFor(() => server.stats().udp?.drops['address-cap'] === 1, 10_000, 'the third port of one client address dropped');
    // Another client through the same proxy socket is a different address.
    await proxy.send(relayed('198.51.100.2', 1, 'y'));
    assert.equal(String((await proxy.waitFor(3))[2]), '198.51.100.2:1 y');
    assert.equal(server.sessionCount, 3);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('holds the client address to the address rate limit, and leaves the proxy’s other clients alone', async () => {
    const clock = new ManualClock(10_000);
    const wheel = new TimerWheel({ clock, autoTick: false });
    const delivered = new Map<string, number>();
    const server = track(await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      timerWheel: wheel,
      proxyProtocol: 'required',
      limits: { addressDatagramsPerSecond: 3 },
      handler: { message: (s) => void delivered.set(s.remoteAddress, (delivered.get(s.remoteAddress) ?? 0) + 1) },
    }));
    const proxy = track(await udpPeer(server.address.port));
    for (let i = 0; i < 5; i++) await proxy.send(relayed('198.51.100.1', 1000 + i, 'x'));
    await proxy.send(relayed('198.51.100.2', 1000, 'y'));
    await waitFor(() => server.stats().udp?.datagramsIn === 6, 10_000, 'six datagrams received');
    assert.deepEqual(Object.fromEntries(delivered), { '198.51.100.1': 3, '198.51.100.2': 1 });
    assert.equal(server.stats().udp?.drops['address-rate'], 2);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('lets accept see the client and its header before a session is made', async () => {
    const asked: PeerInfo[] = [];
    const server = track(await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      proxyProtocol: 'required',
      handler: { accept: (peer) => (asked.push(peer), peer.address !== '198.51.100.66'), ...whoAmI },
    }));
    const proxy = track(await udpPeer(server.address.port));
    await proxy.send(relayed('198.51.100.66', 7, 'no'));
    await proxy.send(relayed('198.51.100.5', 7, 'yes'));
    assert.equal(String((await proxy.waitFor(1))[0]), '198.51.100.5:7 yes');
    assert.equal(server.stats().udp?.drops.refused, 1);
    assert.deepEqual(
      asked.map((p) => [p.address, p.port, p.family, p.proxy?.destination?.port]),
      [
        ['198.51.100.66', 7, 'IPv4', 53],
        ['198.51.100.5', 7, 'IPv4', 53],
      ],
    );
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('answers a client through the proxy that relayed its latest datagram', async () => {
    const server = track(await listen({ transport: 'udp', port: 0, logger: silentLogger, proxyProtocol: 'required', handler: whoAmI }));
    const first = track(await udpPeer(server.address.port));
    const second = track(await udpPeer(server.address.port));
    await first.send(relayed('198.51.100.9', 99, 'via first'));
    await first.waitFor(1);
    await second.send(relayed('198.51.100.9', 99, 'via second'));
    assert.equal(String((await second.waitFor(1))[0]), '198.51.100.9:99 via second');
    assert.equal(server.sessionCount, 1, 'one client, one session');
    const [session] = [...server.sessions()];
    session?.send('later');
    assert.equal(String((await second.waitFor(2))[1]), 'later');
    assert.equal(first.received.length, 1);
    await Promise.all([first.close(), second.close(), server.close({ graceMs: 100 })]);
  });

  it('closes every session replying through a proxy socket that a send finds unreachable, and no other', async () => {
    const closed: Array<[string, string]> = [];
    let deadPort = -1;
    const faults = faultySocket((_address, port) => (port === deadPort ? 'ECONNREFUSED' : null));
    const server = track(
      await listen({
        transport: 'udp',
        port: 0,
        logger: silentLogger,
        createSocket: faults.create,
        proxyProtocol: 'required',
        handler: { close: (s, reason) => void closed.push([s.remoteAddress, reason]), ...whoAmI },
      }),
    );
    const dying = track(await udpPeer(server.address.port));
    const healthy = track(await udpPeer(server.address.port));
    await dying.send(relayed('198.51.100.1', 1, 'a'));
    await dying.send(relayed('198.51.100.2', 1, 'b'));
    await healthy.send(relayed('198.51.100.3', 1, 'c'));
    await Promise.all([dying.waitFor(2), healthy.waitFor(1)]);
    deadPort = dying.port;
    const [first] = [...server.sessions()].filter((s) => s.remoteAddress === '198.51.100.1');
    // A listener sees send errors on a sample of each session's sends (sender.ts): within 16 of them.
    for (let i = 0; i < 16; i++) first?.send('into the void');
    await waitFor(() => closed.length === 2, 10_000, 'both sessions behind the dead proxy socket closed');
    assert.deepEqual(closed.sort(), [
      ['198.51.100.1', 'peer-unreachable'],
      ['198.51.100.2', 'peer-unreachable'],
    ]);
    await healthy.send(relayed('198.51.100.3', 1, 'still here'));
    assert.equal(String((await healthy.waitFor(2))[1]), '198.51.100.3:1 still here');
  });

  it("delivers a LOCAL datagram (the proxy's own, a health check) in the proxy's session, as the spec says: the real endpoints", async () => {
    const seen: Array<[string, number, string | undefined, number]> = [];
    const server = track(await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      proxyProtocol: 'required',
      handler: { message: (s, d) => void (seen.push([s.remoteAddress, s.remotePort, s.proxy?.command, d.length]), s.send(d)) },
    }));
    const proxy = track(await udpPeer(server.address.port));
    await proxy.send(relayed('203.0.113.1', 1, 'ping', { local: true }));
    await proxy.send(relayed('203.0.113.1', 1, '', { local: true }));
    const replies = await proxy.waitFor(2);
    assert.deepEqual(replies.map(String), ['ping', ''], 'an echo answers a health check, even an empty one');
    assert.deepEqual(seen, [
      ['127.0.0.1', proxy.port, 'local', 4],
      ['127.0.0.1', proxy.port, 'local', 0],
    ]);
    const stats = server.stats();
    assert.equal(stats.proxy.local, 2);
    assert.equal(stats.proxy.accepted, 0);
    assert.equal(server.sessionCount, 1);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('reads records inside the payload after the header with a framing codec', async () => {
    const codec = lengthPrefixed({ lengthBytes: 2 });
    const records: string[] = [];
    const server = track(await listen({ transport: 'udp', port: 0, logger: silentLogger, codec, proxyProtocol: 'required', handler: { message: (s, d) => void records.push(`${s.remoteAddress} ${d.toString()}`) } }));
    const proxy = track(await udpPeer(server.address.port));
    const body = Buffer.concat([Buffer.from([0, 2]), Buffer.from('hi'), Buffer.from([0, 3]), Buffer.from('you')]);
    await proxy.send(relayed('198.51.100.3', 5, body));
    await waitFor(() => records.length === 2, 10_000, 'two records');
    assert.deepEqual(records, ['198.51.100.3 hi', '198.51.100.3 you']);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });
});
