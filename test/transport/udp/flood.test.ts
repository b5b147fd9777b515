import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, ManualClock, TimerWheel } from '../../../src/index.js';
import { recordingLogger, type LoggedLine } from '../../support/logger.js';
import { waitFor } from '../../support/net.js';
import { udpPeer, type UdpPeer } from '../../support/udp.js';

const SESSION_CAP = 40;
/** Sources 127.0.0.2 … 127.0.0.250: 249 "hosts", each a socket of its own. */
const FLOOD_HOSTS = Array.from({ length: 249 }, (_, i) => `127.0.0.${i + 2}`);
const PER_HOST = 2;
const BATCH = 25;

describe('udp under a flood of sources', () => {
  it('holds no more sessions than the cap while many source addresses flood it, and keeps serving a peer it already knows', async () => {
    const lines: LoggedLine[] = [];
    const clock = new ManualClock(1_000);
    const wheel = new TimerWheel({ clock, autoTick: false });
    const server = await listen({
      transport: 'udp',
      host: '127.0.0.1',
      port: 0,
      logger: recordingLogger(lines),
      timerWheel: wheel,
      limits: { maxSessions: SESSION_CAP, idleTimeoutMs: 1_000 },
      handler: { message: (s, d) => void s.send(d) },
    });
    const port = server.address.port;
    const good = await udpPeer(port);
    await good.send('ping 0');
    await good.waitFor(1);
    const flood: UdpPeer[] = [];
    try {
      let sent = 1;
      let pings = 1;
      for (let at = 0; at < FLOOD_HOSTS.length; at += BATCH) {
        const batch = await Promise.all(FLOOD_HOSTS.slice(at, at + BATCH).map((localAddress) => udpPeer(port, { localAddress })));
        flood.push(...batch);
        for (let i = 0; i < PER_HOST; i++) for (const p of batch) await p.send(`flood ${i}`);
        sent += batch.length * PER_HOST;
        await waitFor(() => server.stats().udp?.datagramsIn === sent, 20_000, `${sent} datagrams received`);
        assert.ok(server.sessionCount <= SESSION_CAP, `${server.sessionCount} sessions`);
        await good.send(`ping ${pings}`);
        sent++;
        pings++;
        await good.waitFor(pings);
      }
      assert.deepEqual(
        good.received.map(String),
        Array.from({ length: pings }, (_, i) => `ping ${i}`),
      );
      const admitted = SESSION_CAP - 1;
      assert.equal(server.sessionCount, SESSION_CAP);
      assert.equal(server.stats().udp?.drops['session-cap'], (FLOOD_HOSTS.length - admitted) * PER_HOST);
      assert.equal(server.stats().accepted, SESSION_CAP);
      // Nor can it flood the log: the drops of one second on the listener's clock get 20 lines.
      assert.equal(lines.filter((l) => /limits\.maxSessions \(40\)/.test(l.msg ?? '')).length, 20);
      // The flood stops; the known peer keeps talking; the flood's sessions time out and make room.
      clock.advance(600);
      wheel.tick();
      await good.send('still here');
      await good.waitFor(pings + 1);
      clock.advance(600);
      wheel.tick();
      await waitFor(() => server.sessionCount === 1, 10_000, 'the idle sessions to close');
      assert.equal(server.stats().timeouts.idle, admitted);
      assert.ok(lines.some((l) => /^suppressed \d+ connection log lines/.test(l.msg ?? '')), 'the rest are summed up when the second ends');
      const newcomer = await udpPeer(port, { localAddress: '127.0.0.251' });
      await newcomer.send('room now');
      assert.equal(String((await newcomer.waitFor(1))[0]), 'room now');
      await newcomer.close();
    } finally {
      await Promise.all(flood.map((p) => p.close()));
      await good.close();
      await server.close({ graceMs: 100 });
    }
  });
});
