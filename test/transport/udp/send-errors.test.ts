import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, ManualClock, silentLogger, TimerWheel } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { faultySocket, udpPeer } from '../../support/udp.js';

/**
 * A listener whose next `failures.n` sends fail with `failures.code`, on a
 * clock that moves only when told. `burst <n>` makes the handler send n
 * datagrams; anything else is echoed.
 */
async function starved() {
  const failures = { n: 0, code: 'ENOBUFS' };
  const faults = faultySocket(() => (failures.n > 0 ? (failures.n--, failures.code) : null));
  const clock = new ManualClock(5_000);
  const wheel = new TimerWheel({ clock, autoTick: false });
  const refused: boolean[] = [];
  const server = await listen({
    transport: 'udp',
    port: 0,
    logger: silentLogger,
    timerWheel: wheel,
    createSocket: faults.create,
    handler: {
      message: (s, d) => {
        const [verb, n] = d.toString().split(' ');
        if (verb === 'burst') for (let i = 0; i < Number(n); i++) refused.push(!s.send(`b${i}`));
        else s.send(d);
      },
    },
  });
  return { server, faults, failures, clock, refused };
}

describe('udp send errors', () => {
  for (const code of ['ENOBUFS', 'EAGAIN', 'EMFILE']) {
    it(`counts a send failing with ${code}, drops sends without a system call while it backs off, then sends again`, async () => {
      const { server, faults, failures, clock, refused } = await starved();
      failures.code = code;
      const a = await udpPeer(server.address.port);
      failures.n = 1;
      await a.send('lost');
      await waitFor(() => server.stats().udp?.sendErrors[code] === 1, 10_000, 'the failure to be counted');
      const callsBefore = faults.calls();
      await a.send('burst 50');
      await waitFor(() => refused.length === 50, 10_000, 'the burst');
      assert.ok(refused.every((r) => r), 'send returns false while backing off');
      assert.equal(faults.calls(), callsBefore, 'no send reached the socket while backing off');
      assert.equal(server.stats().udp?.drops.backoff, 50);
      clock.advance(11);
      await a.send('back');
      assert.equal(String((await a.waitFor(1))[0]), 'back');
      assert.equal(server.stats().udp?.drops['send-error'], 1);
      assert.equal(server.sessionCount, 1, 'the session stays open');
      await Promise.all([a.close(), server.close({ graceMs: 100 })]);
    });
  }

  it('doubles the pause on each further failure and resets it after a send succeeds', async () => {
    const { server, failures, clock } = await starved();
    const a = await udpPeer(server.address.port);
    const errors = () => server.stats().udp?.sendErrors.ENOBUFS ?? 0;
    const backoffs = () => server.stats().udp?.drops.backoff ?? 0;
    failures.n = 2;
    await a.send('1');
    await waitFor(() => errors() === 1, 10_000, 'the first failure');
    clock.advance(10);
    await a.send('2');
    await waitFor(() => errors() === 2, 10_000, 'the second failure');
    // Paused for 20 ms now: 15 ms later sending still backs off.
    clock.advance(15);
    await a.send('3');
    await waitFor(() => backoffs() === 1, 10_000, 'a dropped send');
    clock.advance(5);
    await a.send('4');
    assert.equal(String((await a.waitFor(1))[0]), '4');
    // After a success the next failure pauses for 10 ms again.
    failures.n = 1;
    await a.send('5');
    await waitFor(() => errors() === 3, 10_000, 'the third failure');
    clock.advance(10);
    await a.send('6');
    assert.equal(String((await a.waitFor(2))[1]), '6');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it("sees send failures on a sample of a session's sends: its first, then every 16th, and every send once one failed", async () => {
    const { server, faults, failures, clock } = await starved();
    const a = await udpPeer(server.address.port);
    await a.send('first');
    await a.waitFor(1);
    failures.n = 16;
    await a.send('burst 16');
    await waitFor(() => server.stats().udp?.sendErrors.ENOBUFS === 1, 10_000, 'the 16th send after the first to carry the callback');
    assert.equal(faults.calls(), 17);
    let udp = server.stats().udp;
    // Without a callback Node drops a failed send's error: the 15 before it went unseen.
    assert.equal(udp?.drops['send-error'], 1);
    // 17 handed to the socket, the one seen failing taken off.
    assert.equal(udp?.datagramsOut, 16);
    // Once one failed, every send carries the callback (here: the one after the pause).
    clock.advance(11);
    failures.n = 1;
    await a.send('again');
    await waitFor(() => server.stats().udp?.sendErrors.ENOBUFS === 2, 10_000, 'the next failure, seen at once');
    udp = server.stats().udp;
    assert.equal(udp?.drops['send-error'], 2);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });
});
