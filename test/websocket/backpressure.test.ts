/**
 * Backpressure on a WebSocket, as on any connection: above the high-water mark
 * `send` says wait, reading from that peer stops and `drain` says go on; past
 * the hard cap the socket is closed with `slow-consumer`, and only that one.
 * The peers are the `ws` npm client, paused (it stops reading its socket) and
 * resumed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocketClient from 'ws';
import { listen, websocket, type CloseReason, type WebSocket } from '../../src/index.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { portOf, waitFor } from '../support/net.js';

const SIZE = 16 * 1024;
const HIGH_WATER = 64 * 1024;

/** Message `seq`: its number in the first four bytes, then a byte pattern only it has. */
function numbered(seq: number): Buffer {
  const b = Buffer.alloc(SIZE, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

function client(url: string): WebSocketClient {
  return new WebSocketClient(url, { perMessageDeflate: false });
}

describe('WebSocket backpressure', () => {
  it('send reports the high-water mark, reading stops while the peer does not read, and drain resumes it once the peer reads again', async () => {
    const TOTAL = 1024; // 16 MiB: far more than the kernel's buffers hold between a paused reader and us
    let seq = 0;
    let drains = 0;
    const refusedAt: number[] = [];
    const delivered: string[] = [];
    const pump = (ws: WebSocket): void => {
      while (seq < TOTAL) {
        if (!ws.send(numbered(seq++))) {
          refusedAt.push(ws.bufferedBytes);
          return;
        }
      }
      ws.send('done');
    };
    let serverSide: WebSocket | null = null;
    const server = await listen({
      port: 0,
      logger: recordingLogger([]),
      limits: { highWaterBytes: HIGH_WATER, maxBufferedBytes: 8 * 1024 * 1024 },
      websocket: websocket({
        handler: {
          open: (ws) => void (serverSide = ws),
          message(ws, data) {
            delivered.push(data.toString());
            if (data.toString() === 'go') pump(ws);
          },
          drain(ws) {
            drains++;
            pump(ws);
          },
        },
      }),
    });
    const peer = client(`ws://127.0.0.1:${portOf(server)}/`);
    try {
      await once(peer, 'open');
      let expected = 0;
      let bad = 0;
      let done = false;
      peer.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          done = data.toString() === 'done';
          return;
        }
        if (data.length !== SIZE || data.readUInt32BE(0) !== expected || data[SIZE - 1] !== (expected & 0xff)) bad++;
        expected++;
      });
      peer.pause();
      peer.send('go');
      // The server sends until the kernel's buffers are full, then waits: no drain comes while we do not read.
      await waitFor(() => refusedAt.length > 0, 10_000, 'send to report backpressure');
      let last = -1;
      let steadySince = Date.now();
      await waitFor(
        () => {
          if (drains !== last) {
            last = drains;
            steadySince = Date.now();
          }
          return Date.now() - steadySince > 500;
        },
        20_000,
        'the server to stall on the paused peer',
      );
      const ws = serverSide as WebSocket | null;
      assert.ok(ws !== null);
      assert.ok(seq < TOTAL, `the server stalled before sending everything (${seq} of ${TOTAL})`);
      assert.ok(ws.bufferedBytes > HIGH_WATER, `${ws.bufferedBytes} bytes queued at the stall`);
      // Each refusal came just past the mark: a handler that waits for drain keeps the queue near it.
      for (const b of refusedAt) assert.ok(b > HIGH_WATER && b <= HIGH_WATER + SIZE + 16, `send said wait with ${b} bytes queued`);
      // Reading from this peer has stopped: a message it sends now is not delivered.
      peer.send('probe');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(delivered, ['go'], 'nothing is read from a peer while its queue is above the mark');
      const drainsAtStall = drains;
      peer.resume();
      await waitFor(() => done, 30_000, 'every message to arrive once the peer reads');
      assert.equal(expected, TOTAL);
      assert.equal(bad, 0, 'every message arrived whole and in order');
      assert.ok(drains > drainsAtStall, 'drain fired once the peer read again');
      await waitFor(() => delivered.length === 2, 10_000, 'the probe to be read after the drain');
      assert.deepEqual(delivered, ['go', 'probe']);
      assert.ok(server.stats().backpressurePauses >= 1);
      assert.equal(server.stats().closes['slow-consumer'], 0);
    } finally {
      peer.terminate();
      await server.close({ graceMs: 1_000 });
    }
  });

  it('closes a peer that stops reading with slow-consumer at maxBufferedBytes, counts and logs it, and keeps serving the others', async () => {
    const CAP = 1024 * 1024;
    const lines: LoggedLine[] = [];
    const closes: Array<{ code: number; cause: CloseReason; error?: Error }> = [];
    let flooding: NodeJS.Timeout | null = null;
    let flooded = 0;
    const server = await listen({
      port: 0,
      logger: recordingLogger(lines),
      limits: { highWaterBytes: HIGH_WATER, maxBufferedBytes: CAP },
      websocket: websocket({
        handler: {
          message(ws, data, isBinary) {
            if (data.toString() !== 'flood') return void ws.send(data, isBinary);
            // A careless handler: it sends on a timer whatever send says, bounded at 64 MiB.
            const chunk = Buffer.alloc(128 * 1024, 0x42);
            flooding = setInterval(() => {
              if (!ws.isOpen || flooded >= 512) return void clearInterval(flooding as NodeJS.Timeout);
              flooded++;
              ws.send(chunk);
            }, 2);
          },
          close: (_ws, code, _reason, cause, error) => void closes.push({ code, cause, error }),
        },
      }),
    });
    const url = `ws://127.0.0.1:${portOf(server)}/`;
    const slow = client(url);
    const bystander = client(url);
    try {
      await Promise.all([once(slow, 'open'), once(bystander, 'open')]);
      const slowClosed = once(slow, 'close');
      slow.pause();
      slow.send('flood');
      // The bystander echoes all along; its own queue never comes near the cap.
      let echoes = 0;
      bystander.on('message', () => void echoes++);
      for (let i = 0; closes.length === 0 && i < 2_000; i++) {
        bystander.send(`ping ${i}`);
        await waitFor(() => echoes > i, 10_000, `echo ${i} to the bystander`);
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(closes.length, 1, `the slow peer was closed (after ${flooded} chunks of 128 KiB)`);
      const [gone] = closes;
      assert.equal(gone?.cause, 'slow-consumer');
      assert.equal((gone?.error as { code?: string } | undefined)?.code, 'ERR_SLOW_CONSUMER');
      // Destroyed, not closed with a frame: a close frame would queue behind what the peer does not read.
      assert.equal(gone?.code, 1006);
      assert.ok(flooded < 512, 'closed before the handler stopped by itself');
      assert.equal(server.stats().closes['slow-consumer'], 1);
      const logged = lines.filter((l) => l.obj.reason === 'slow-consumer');
      assert.equal(logged.length, 1, JSON.stringify(lines));
      assert.equal(logged[0]?.obj.code, 'ERR_SLOW_CONSUMER');
      slow.resume();
      await slowClosed;
      // The others are served as before.
      const before = echoes;
      bystander.send('after');
      await waitFor(() => echoes > before, 10_000, 'the bystander echo after the close');
      assert.equal(server.connectionCount, 1);
    } finally {
      if (flooding !== null) clearInterval(flooding);
      slow.terminate();
      bystander.terminate();
      await server.close({ graceMs: 1_000 });
    }
  });
});
