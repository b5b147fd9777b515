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
import { lp4, portOf, rawConnect } from '../support/net.js';

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
});
