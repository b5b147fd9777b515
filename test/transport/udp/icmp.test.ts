import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, type CloseReason, type Session } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { faultySocket, udpPeer } from '../../support/udp.js';

describe('udp and ICMP errors', () => {
  it('keeps serving other peers while it sends to a port that is closed (the kernel answers with ICMP port unreachable)', async () => {
    const sessions = new Map<number, Session<unknown>>();
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        open: (s) => void sessions.set(s.remotePort, s),
        message: (s, d) => {
          const [verb, arg] = d.toString().split(' ');
          // `spam <port>`: send 20 datagrams to that peer's session, then answer.
          if (verb === 'spam') for (let i = 0; i < 20; i++) sessions.get(Number(arg))?.send(`to the dead ${i}`);
          s.send(d);
        },
      },
    });
    const gone = await udpPeer(server.address.port);
    await gone.send('hello');
    await gone.waitFor(1);
    const deadPort = gone.port;
    await gone.close();
    const alive = await udpPeer(server.address.port);
    for (let round = 0; round < 5; round++) {
      await alive.send(`spam ${deadPort}`);
      await alive.send(`round ${round}`);
      await alive.waitFor(2 * (round + 1));
    }
    assert.deepEqual(alive.received.map(String).filter((m) => m.startsWith('round')), ['round 0', 'round 1', 'round 2', 'round 3', 'round 4']);
    await waitFor(() => server.stats().udp?.datagramsOut === 1 + 5 * 20 + 10, 10_000, 'every send reported');
    assert.equal(server.listening, true);
    await Promise.all([alive.close(), server.close({ graceMs: 100 })]);
  });

  it('counts an ICMP error the socket reports while receiving (as some platforms do for unconnected sockets) and keeps receiving', async () => {
    const faults = faultySocket(() => null);
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, createSocket: faults.create, handler: { message: (s, d) => void s.send(d) } });
    const a = await udpPeer(server.address.port);
    await a.send('before');
    await a.waitFor(1);
    // What Node emits when recvmsg fails with an error the kernel queued from an ICMP message.
    faults.socket().emit('error', Object.assign(new Error('recvmsg ECONNREFUSED'), { code: 'ECONNREFUSED', syscall: 'recvmsg' }));
    faults.socket().emit('error', Object.assign(new Error('recvmsg ENOMEM'), { code: 'ENOMEM', syscall: 'recvmsg' }));
    await a.send('after');
    assert.equal(String((await a.waitFor(2))[1]), 'after');
    const udp = server.stats().udp;
    assert.equal(udp?.icmpErrors, 1);
    assert.deepEqual(udp?.receiveErrors, { ECONNREFUSED: 1, ENOMEM: 1 });
    assert.equal(server.sessionCount, 1);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('closes the session a send error names as unreachable with peer-unreachable, and serves the others', async () => {
    let unreachablePort = -1;
    const faults = faultySocket((_address, port) => (port === unreachablePort ? 'ECONNREFUSED' : null));
    const closes: Array<[number, CloseReason, string | undefined]> = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      createSocket: faults.create,
      handler: { message: (s, d) => void s.send(d), close: (s, reason, error) => void closes.push([s.remotePort, reason, (error as { code?: string } | undefined)?.code]) },
    });
    const a = await udpPeer(server.address.port);
    const b = await udpPeer(server.address.port);
    unreachablePort = a.port;
    await a.send('to a');
    await waitFor(() => closes.length === 1, 10_000, 'the unreachable session to close');
    assert.deepEqual(closes, [[a.port, 'peer-unreachable', 'ECONNREFUSED']]);
    await b.send('to b');
    assert.equal(String((await b.waitFor(1))[0]), 'to b');
    const stats = server.stats();
    assert.equal(stats.udp?.icmpErrors, 1);
    assert.equal(stats.udp?.sendErrors.ECONNREFUSED, 1);
    assert.equal(stats.udp?.drops['send-error'], 1);
    assert.equal(stats.closes['peer-unreachable'], 1);
    await Promise.all([a.close(), b.close(), server.close({ graceMs: 100 })]);
  });
});
