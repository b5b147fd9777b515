import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, silentLogger, ManualClock, TimerWheel, type Handler } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

function virtualTime(): { clock: ManualClock; wheel: TimerWheel; advance(ms: number): void } {
  const clock = new ManualClock(1_000_000);
  const wheel = new TimerWheel({ tickMs: 100, clock, autoTick: false });
  return {
    clock,
    wheel,
    advance(ms: number) {
      for (let t = 0; t < ms; t += 100) {
        clock.advance(100);
        wheel.tick();
      }
    },
  };
}

async function serverWith(handler: Handler, limits: object, wheel: TimerWheel) {
  return listen({ port: 0, codec: lengthPrefixed(), handler, logger: silentLogger, limits, timerWheel: wheel });
}

describe('timeouts on the timer wheel', () => {
  it('destroys a connection that sends nothing before the first-byte timeout', async () => {
    const vt = virtualTime();
    const { handler, rec } = recordingHandler();
    const server = await serverWith(handler, { firstByteTimeoutMs: 2_000 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    await waitFor(() => rec.events.includes('open'));
    vt.advance(1_900);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(rec.events, ['open'], 'not closed before the deadline');
    vt.advance(200);
    assert.equal(await rec.closed, 'first-byte-timeout');
    assert.equal(await peer.ended, 'reset');
    assert.equal(server.stats().timeouts.firstByte, 1);
    await server.close();
  });

  it('keeps a connection that sent its first byte in time', async () => {
    const vt = virtualTime();
    const { handler, rec } = recordingHandler();
    const server = await serverWith(handler, { firstByteTimeoutMs: 2_000, idleTimeoutMs: 0 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('hello'));
    await waitFor(() => rec.events.includes('message:hello'));
    vt.advance(10_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(rec.reasons.length, 0);
    peer.socket.end();
    assert.equal(await rec.closed, 'peer-closed');
    await server.close();
  });

  it('ends an idle connection gracefully after the idle timeout, measured from the last activity', async () => {
    const vt = virtualTime();
    const { handler, rec } = recordingHandler({ message: (c, f) => c.send(f) });
    const server = await serverWith(handler, { idleTimeoutMs: 5_000, firstByteTimeoutMs: 0 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('a'));
    await peer.waitBytes(5);
    vt.advance(4_000);
    peer.socket.write(lp4('b'));
    await peer.waitBytes(10);
    vt.advance(4_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(rec.reasons.length, 0, 'activity pushed the deadline back');
    vt.advance(1_500);
    assert.equal(await peer.ended, 'end', 'idle close is graceful (FIN)');
    peer.socket.end();
    assert.equal(await rec.closed, 'idle-timeout');
    assert.equal(server.stats().timeouts.idle, 1);
    await server.close();
  });

  it('destroys a connection whose peer does not close within the linger time after our FIN', async () => {
    const vt = virtualTime();
    const { handler, rec } = recordingHandler({ message: (c) => c.end() });
    const server = await serverWith(handler, { lingerMs: 3_000 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('quit'));
    assert.equal(await peer.ended, 'end');
    // The peer keeps its side open: after the linger time the server gives up.
    vt.advance(3_100);
    assert.equal(await rec.closed, 'linger-timeout');
    assert.equal(server.stats().timeouts.linger, 1);
    peer.socket.destroy();
    await server.close();
  });

  it('destroys a connection whose peer stops reading once writes stall past the write timeout', async () => {
    const vt = virtualTime();
    const chunk = Buffer.alloc(60 * 1024, 7);
    let sending = true;
    const handler: Handler = {
      message(conn) {
        // Fill the peer's receive window and our queue until the kernel stops taking bytes.
        const pump = () => {
          while (sending && conn.writable && conn.send(chunk)) {
            /* keep queueing while below the high-water mark */
          }
        };
        pump();
        conn.data = pump;
      },
      drain(conn) {
        (conn.data as () => void)();
      },
    };
    const { handler: rh, rec } = recordingHandler(handler);
    const server = await serverWith(rh, { writeTimeoutMs: 5_000, highWaterBytes: 256 * 1024, maxBufferedBytes: 64 * 1024 * 1024, idleTimeoutMs: 0 }, vt.wheel);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.pause();
    peer.socket.write(lp4('go'));
    await waitFor(() => (rec.conn?.bufferedBytes ?? 0) > 0 && rec.conn?.isPaused === true, 30_000, 'backpressure');
    vt.advance(1_000);
    vt.advance(6_000);
    assert.equal(await rec.closed, 'write-timeout');
    sending = false;
    assert.equal(server.stats().timeouts.write, 1);
    peer.socket.destroy();
    await server.close();
  });
});
