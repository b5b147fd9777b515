import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, type CloseReason } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { udpPeer } from '../../support/udp.js';

describe('udp drain and shutdown', () => {
  it('closes quiet sessions with shutdown, lets a handler say goodbye and end its own, and resolves once all are gone', async () => {
    const closes: CloseReason[] = [];
    const told: number[] = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        message: (s, d) => void s.send(d),
        shutdown: (s) => {
          told.push(s.remotePort);
          if (s.data === 'polite') {
            s.send('bye');
            s.end();
          }
        },
        open: (s) => void (s.data = 'quiet'),
        close: (_s, r) => void closes.push(r),
      },
    });
    const quiet = await udpPeer(server.address.port);
    const polite = await udpPeer(server.address.port);
    await quiet.send('q');
    await polite.send('p');
    await Promise.all([quiet.waitFor(1), polite.waitFor(1)]);
    for (const s of server.sessions()) if (s.remotePort === polite.port) s.data = 'polite';
    const result = await server.close({ graceMs: 60_000, quietMs: 50 });
    assert.deepEqual(result, { ended: 2, forced: 0 });
    assert.deepEqual(told.sort(), [quiet.port, polite.port].sort());
    assert.deepEqual(closes.sort(), ['local-end', 'shutdown']);
    assert.equal(String((await polite.waitFor(2))[1]), 'bye');
    assert.equal(server.listening, false);
    assert.equal(server.sessionCount, 0);
    await Promise.all([quiet.close(), polite.close()]);
  });

  it('serves sessions that keep talking during the grace period, drops new peers, and closes what is left at graceMs with shutdown', async () => {
    const closes: CloseReason[] = [];
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: { message: (s, d) => void s.send(d), close: (_s, r) => void closes.push(r) } });
    const busy = await udpPeer(server.address.port);
    await busy.send('before');
    await busy.waitFor(1);
    const closing = server.close({ graceMs: 1_000, quietMs: 60_000 });
    assert.equal(server.closing, true);
    let answered = 1;
    await busy.send('during');
    await busy.waitFor(++answered);
    const late = await udpPeer(server.address.port);
    await late.send('let me in');
    await waitFor(() => server.stats().udp?.drops.closing === 1, 10_000, 'the new peer to be dropped');
    // Keep talking until the grace period ends the session; each answer proves it is still served.
    while (closes.length === 0 && answered < 10_000) {
      await busy.send(`talk ${answered}`);
      await waitFor(() => busy.received.length > answered || closes.length > 0, 20_000, 'an answer or the close');
      answered = busy.received.length;
    }
    assert.deepEqual(await closing, { ended: 0, forced: 1 });
    assert.deepEqual(closes, ['shutdown']);
    assert.ok(answered > 2, `${answered} answers`);
    assert.equal(late.received.length, 0);
    assert.equal(server.stats().accepted, 1);
    await Promise.all([busy.close(), late.close()]);
  });

  it('closes at once when it holds no sessions, and close called twice gives the same promise', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: {} });
    const first = server.close();
    assert.equal(server.close(), first);
    assert.deepEqual(await first, { ended: 0, forced: 0 });
    assert.equal(server.listening, false);
  });
});
