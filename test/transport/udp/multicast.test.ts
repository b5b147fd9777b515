import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { connect, isCapstanError, listen, silentLogger, type UdpClient, type UdpServer } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { needsLoopbackMulticast, randomGroup } from '../../support/multicast.js';

/** A listener bound to `group` (so it hears only the group), joined on loopback, writing down what it hears. */
async function groupListener(group: string, port = 0, extra: { reuseAddr?: boolean } = {}): Promise<{ server: UdpServer; heard: string[] }> {
  const heard: string[] = [];
  const server = await listen({
    transport: 'udp',
    host: group,
    port,
    logger: silentLogger,
    multicast: { groups: [group], interface: '127.0.0.1' },
    ...extra,
    handler: { message: (s, d) => void heard.push(`${s.remoteAddress} ${d}`) },
  });
  return { server, heard };
}

/** A client whose peer is the group: an announcer, its sends kept on loopback and on this host. */
function announcer(group: string, port: number): Promise<UdpClient> {
  return connect({ transport: 'udp', host: group, port, logger: silentLogger, multicast: { interface: '127.0.0.1', ttl: 0 }, handler: {} });
}

describe('udp multicast and broadcast', () => {
  it('a listener joined at listen time hears a client announcing to the group, from the loopback source', async (t) => {
    if (!(await needsLoopbackMulticast(t))) return;
    const group = randomGroup();
    const { server, heard } = await groupListener(group);
    assert.deepEqual(server.memberships(), [`${group}@127.0.0.1`]);
    const a = await announcer(group, server.address.port);
    assert.equal(a.local.address, '127.0.0.1', 'the multicast interface chose the source before connect');
    a.send('hello group');
    await waitFor(() => heard.length === 1, 10_000, 'the announcement');
    assert.deepEqual(heard, ['127.0.0.1 hello group']);
    assert.equal(server.sessionCount, 1, 'a session for the announcer');
    await Promise.all([a.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('stops hearing the group after leaveGroup, and hears it again after joinGroup', async (t) => {
    if (!(await needsLoopbackMulticast(t))) return;
    const group = randomGroup();
    const { server, heard } = await groupListener(group);
    const a = await announcer(group, server.address.port);
    a.send('one');
    await waitFor(() => heard.length === 1, 10_000, 'the first announcement');
    assert.equal(server.leaveGroup(group), true);
    assert.equal(server.leaveGroup(group), false, 'leaving twice is a no-op');
    assert.deepEqual(server.memberships(), []);
    a.send('while away');
    assert.equal(server.joinGroup(group), true);
    assert.equal(server.joinGroup(group), false, 'joining twice is a no-op');
    a.send('back');
    await waitFor(() => heard.length === 2, 10_000, 'the announcement after rejoining');
    // Both went over one loopback in order: had the one sent while away been delivered, it would be here before 'back'.
    assert.deepEqual(heard, ['127.0.0.1 one', '127.0.0.1 back']);
    await Promise.all([a.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('with reuseAddr, two listeners on one group and port both hear each announcement', async (t) => {
    if (!(await needsLoopbackMulticast(t))) return;
    const group = randomGroup();
    const first = await groupListener(group, 0, { reuseAddr: true });
    const second = await groupListener(group, first.server.address.port, { reuseAddr: true });
    const a = await announcer(group, first.server.address.port);
    a.send('to all');
    await waitFor(() => first.heard.length === 1 && second.heard.length === 1, 10_000, 'both listeners');
    await Promise.all([a.close(), first.server.close({ graceMs: 100, quietMs: 0 }), second.server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('a client bound to a group and joined hears its peer send to the group, and stops after leaveGroup', async (t) => {
    if (!(await needsLoopbackMulticast(t))) return;
    const group = randomGroup();
    const peer = dgram.createSocket('udp4');
    t.after(() => new Promise<void>((resolve) => peer.close(() => resolve())));
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    peer.setMulticastInterface('127.0.0.1');
    peer.setMulticastTTL(0);
    const heard: string[] = [];
    // Bound to the group: connect() on a socket bound to any address would fix its receive address to the source (127.0.0.1).
    const client = await connect({
      transport: 'udp',
      port: peer.address().port,
      localAddress: group,
      logger: silentLogger,
      multicast: { groups: [{ group, interface: '127.0.0.1' }] },
      handler: { message: (_s, d) => void heard.push(String(d)) },
    });
    t.after(() => client.close());
    assert.deepEqual(client.memberships(), [`${group}@127.0.0.1`]);
    const toGroup = (m: string) => new Promise<void>((resolve) => peer.send(m, client.local.port, group, () => resolve()));
    await toGroup('group 1');
    await waitFor(() => heard.length === 1, 10_000, 'the group datagram');
    assert.equal(client.leaveGroup(group, '127.0.0.1'), true);
    await toGroup('group 2');
    assert.equal(client.joinGroup(group, '127.0.0.1'), true);
    await toGroup('group 3');
    await waitFor(() => heard.length === 2, 10_000, 'the datagram after rejoining');
    assert.deepEqual(heard, ['group 1', 'group 3']);
  });

  it('sends to a broadcast address only with broadcast: true (connect fails with EACCES without it)', async () => {
    const heard: string[] = [];
    const server = await listen({ transport: 'udp', host: '127.255.255.255', port: 0, logger: silentLogger, handler: { message: (_s, d) => void heard.push(String(d)) } });
    await assert.rejects(
      connect({ transport: 'udp', host: '127.255.255.255', port: server.address.port, localAddress: '127.0.0.1', logger: silentLogger, handler: {} }),
      (e: unknown) => isCapstanError(e, 'ERR_CONNECT_FAILED') && /EACCES/.test(e.message),
    );
    const client = await connect({ transport: 'udp', host: '127.255.255.255', port: server.address.port, localAddress: '127.0.0.1', broadcast: true, logger: silentLogger, handler: {} });
    client.send('to everyone');
    await waitFor(() => heard.length === 1, 10_000, 'the broadcast');
    assert.deepEqual(heard, ['to everyone']);
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('validates groups, interfaces and settings before anything binds, and names the bad key', async () => {
    const handler = {};
    const invalid = (path: string) => (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === path;
    await assert.rejects(listen({ transport: 'udp', port: 0, handler, multicast: { groups: ['10.1.2.3'] } }), invalid('multicast.groups.0'));
    await assert.rejects(listen({ transport: 'udp', port: 0, handler, multicast: { groups: ['ff02::1'] } }), invalid('multicast.groups.0'), 'an IPv6 group on a udp4 socket');
    await assert.rejects(listen({ transport: 'udp', host: '::1', port: 0, handler, multicast: { groups: ['239.1.1.1'] } }), invalid('multicast.groups.0'), 'an IPv4 group on a udp6 socket');
    await assert.rejects(listen({ transport: 'udp', port: 0, handler, multicast: { groups: [{ group: '239.1.1.1', interface: 'lo' }] } }), invalid('multicast.groups.0.interface'));
    await assert.rejects(listen({ transport: 'udp', port: 0, handler, multicast: { interface: '::1' } }), invalid('multicast.interface'));
    await assert.rejects(listen({ transport: 'udp', port: 0, handler, multicast: { ttl: 1 } } as never), (e: unknown) => isCapstanError(e, 'ERR_UNKNOWN_OPTION') && e.path === 'multicast.ttl', 'a listener sends to no group');
    await assert.rejects(connect({ transport: 'udp', port: 9, handler, multicast: { ttl: 256 } }), invalid('multicast.ttl'));
    await assert.rejects(connect({ transport: 'udp', port: 9, handler, multicast: { tll: 1 } } as never), (e: unknown) => isCapstanError(e, 'ERR_UNKNOWN_OPTION') && /did you mean multicast\.ttl\?/.test(e.message));
    await assert.rejects(connect({ transport: 'udp', port: 9, handler, broadcst: true } as never), (e: unknown) => isCapstanError(e, 'ERR_UNKNOWN_OPTION') && /did you mean broadcast\?/.test(e.message));
    await assert.rejects(connect({ transport: 'udp', port: 9, handler, localAddress: '::1' }), invalid('localAddress'), 'an IPv6 source for an IPv4 peer');
  });

  it('a join the kernel refuses is ERR_MULTICAST; a join of a unicast address is ERR_INVALID_OPTION', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: {} });
    assert.throws(() => server.joinGroup('127.0.0.1'), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION'));
    // 192.0.2.0/24 is for documentation: no interface of this host has that address.
    assert.throws(() => server.joinGroup(randomGroup(), '192.0.2.200'), (e: unknown) => isCapstanError(e, 'ERR_MULTICAST') && /192\.0\.2\.200/.test(e.message));
    assert.deepEqual(server.memberships(), []);
    await server.close({ graceMs: 100 });
    await assert.rejects(
      listen({ transport: 'udp', port: 0, logger: silentLogger, handler: {}, multicast: { groups: [randomGroup()], interface: '192.0.2.200' } }),
      (e: unknown) => isCapstanError(e, 'ERR_MULTICAST'),
    );
  });
});
