import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, raw, silentLogger, type Connection, type Handler } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

describe('backpressure', () => {
  it('stops reading from a peer that does not read our replies, and resumes once they drain', async () => {
    // Every request is answered with a big reply; the peer sends many requests but reads nothing at first.
    const reply = Buffer.alloc(32 * 1024, 1);
    let messages = 0;
    let served: Connection | null = null;
    const handler: Handler = {
      message(conn) {
        served = conn;
        messages++;
        conn.send(reply);
      },
    };
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      handler,
      logger: silentLogger,
      limits: { highWaterBytes: 64 * 1024, maxBufferedBytes: 512 * 1024 * 1024, idleTimeoutMs: 0 },
    });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.pause();
    const requests = 2_000;
    const batch = Buffer.concat(Array.from({ length: requests }, () => lp4('r')));
    peer.socket.write(batch);
    await waitFor(() => server.stats().backpressurePauses > 0, 30_000, 'a backpressure pause');
    // The kernel may still take some of the queue after the first pause, and reading resumes for a while; how
    // soon it settles depends on how the machine schedules us. So look at a stretch that began and ended
    // paused with no pause in between (paused throughout): nothing may be read in it.
    const paused = () => (served as Connection | null)?.isPaused === true;
    let handledWhilePaused = -1;
    for (let stretch = 0; handledWhilePaused < 0; stretch++) {
      assert.ok(stretch < 100, 'the connection stayed paused for a whole stretch');
      await waitFor(paused, 30_000, 'the connection to be paused');
      const [handled, pauses] = [messages, server.stats().backpressurePauses];
      await new Promise((r) => setTimeout(r, 200));
      if (!paused() || server.stats().backpressurePauses !== pauses) continue;
      assert.equal(messages, handled, 'no more requests are read while paused');
      handledWhilePaused = handled;
    }
    assert.ok(handledWhilePaused < requests, `handled ${handledWhilePaused} of ${requests} while the peer was not reading`);
    // The peer starts reading: everything gets answered.
    peer.socket.resume();
    await peer.waitBytes(requests * (reply.length + 4), 30_000);
    assert.equal(messages, requests);
    peer.socket.end();
    await server.close();
  });

  it('closes a slow consumer with slow-consumer once its queue passes the hard cap', async () => {
    const big = Buffer.alloc(256 * 1024, 2);
    const { handler, rec } = recordingHandler({
      message(conn) {
        for (let i = 0; i < 64 && conn.writable; i++) conn.send(big);
      },
    });
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      handler,
      logger: silentLogger,
      limits: { highWaterBytes: 64 * 1024, maxBufferedBytes: 4 * 1024 * 1024 },
    });
    const other = await rawConnect({ port: portOf(server) });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.pause();
    peer.socket.write(lp4('flood me'));
    assert.equal(await rec.closed, 'slow-consumer');
    assert.equal(server.stats().closes['slow-consumer'], 1);
    peer.socket.destroy();
    other.socket.end();
    await server.close();
  });

  it('calls drain after send reported the queue above the high-water mark', async () => {
    const chunk = Buffer.alloc(64 * 1024, 3);
    let total = 0;
    const target = 8 * 1024 * 1024;
    const { handler, rec } = recordingHandler({
      open(conn) {
        const pump = () => {
          while (total < target && conn.writable) {
            total += chunk.length;
            if (!conn.send(chunk)) return;
          }
          if (total >= target) conn.end();
        };
        conn.data = pump;
        pump();
      },
      drain(conn) {
        (conn.data as () => void)();
      },
    });
    const server = await listen({ port: 0, codec: raw(), handler, logger: silentLogger, limits: { highWaterBytes: 128 * 1024 } });
    const peer = await rawConnect({ port: portOf(server) });
    await peer.ended;
    assert.equal(peer.received().length, target);
    assert.ok(rec.events.filter((e) => e === 'drain').length > 0, 'drain was called');
    peer.socket.end();
    assert.equal(await rec.closed, 'local-end');
    await server.close();
  });

  it('bufferedBytes reports what is queued and pause/resume stop and restart delivery', async () => {
    const seen: string[] = [];
    const { handler, rec } = recordingHandler({
      message(conn, frame) {
        seen.push(frame.toString());
        if (frame.toString() === 'pause') conn.pause();
      },
    });
    const server = await listen({ port: 0, codec: lengthPrefixed(), handler, logger: silentLogger });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([lp4('one'), lp4('pause'), lp4('three'), lp4('four')]));
    await waitFor(() => seen.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, ['one', 'pause'], 'frames already received wait while paused');
    assert.equal(rec.conn?.isPaused, true);
    rec.conn?.resume();
    assert.deepEqual(seen, ['one', 'pause', 'three', 'four']);
    assert.equal(rec.conn?.bufferedBytes, 0);
    peer.socket.end();
    await rec.closed;
    await server.close();
  });
});
