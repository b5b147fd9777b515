/**
 * After the event loop stalls (a long GC, a CPU-bound handler, a loaded
 * machine), timers are overdue when it wakes, and bytes that peers sent
 * meanwhile wait in the kernel. Deadlines must be judged after those bytes are
 * read, or a busy connection is ended as idle (or as quiet during shutdown) and
 * the requests it sent are lost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, silentLogger, TimerWheel, type CloseReason } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // The whole process stalls, as under a long GC pause or a CPU-bound handler.
  }
}

describe('deadlines after an event-loop stall', () => {
  it('does not end a connection as idle when its bytes arrived during the stall', async () => {
    const closes: CloseReason[] = [];
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      // A wheel of its own: its ticks and entries are this test's alone.
      timerWheel: new TimerWheel({ tickMs: 50 }),
      limits: { idleTimeoutMs: 400 },
      handler: { message: (c, f) => void c.send(f), close: (_c, r) => void closes.push(r) },
      logger: silentLogger,
    });
    const peer = await rawConnect({ port: portOf(server) });
    let expected = 0;
    for (let round = 0; round < 3; round++) {
      peer.socket.write(lp4(`before stall ${round}`));
      expected += lp4(`before stall ${round}`).length;
      await peer.waitBytes(expected);
      // The frame reaches the server's kernel buffer now; the process then stalls past the idle timeout.
      peer.socket.write(lp4(`during stall ${round}`));
      expected += lp4(`during stall ${round}`).length;
      blockFor(900);
      await peer.waitBytes(expected);
    }
    assert.deepEqual(closes, [], 'the connection stayed open');
    peer.socket.end();
    await peer.closed;
    await server.close();
  });

  it('does not end a talking connection as quiet during shutdown when a handler stalls the loop', async () => {
    const closes: CloseReason[] = [];
    let stalls = 0;
    let frames = 0;
    let draining = false;
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      timerWheel: new TimerWheel({ tickMs: 10 }),
      handler: {
        // No reply: a write still queued at the check would keep the connection open by itself.
        message() {
          // While draining, every 20th frame stalls the process past the quiet time in the poll phase,
          // where reads are stamped. The wheel ticks as often as the peer writes, so the stalled turn is
          // one whose tick is queued behind this poll, to judge stamps the stall made old.
          if (++frames % 20 === 0 && draining && stalls < 4) {
            stalls++;
            blockFor(700);
          }
        },
        close: (_c, r) => void closes.push(r),
      },
      logger: silentLogger,
    });
    const talker = await rawConnect({ port: portOf(server) });
    const timer = setInterval(() => talker.socket.write(lp4('still talking')), 10);
    try {
      await waitFor(() => frames >= 5, 30_000, 'the server to read the talker');
      draining = true;
      const closing = server.close({ graceMs: 10_000, quietMs: 500 });
      const result = await closing;
      assert.ok(stalls >= 2, `the handler stalled ${stalls} times`);
      assert.deepEqual(result, { ended: 0, forced: 1 }, 'the talker was never judged quiet');
      assert.equal(await talker.ended, 'reset');
      assert.deepEqual(closes, ['shutdown']);
    } finally {
      clearInterval(timer);
      talker.socket.destroy();
    }
  });
});
