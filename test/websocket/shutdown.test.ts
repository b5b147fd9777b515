/**
 * `server.close({ graceMs })` with WebSockets open: every one is sent 1001,
 * the close handshakes are waited for within the grace period, and what is
 * left at the deadline is forced. Each socket's handler `close` comes exactly
 * once and last, and the result counts what ended and what was forced.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocketClient from 'ws';
import { listen, silentLogger, websocket, type CloseReason, type WebSocket } from '../../src/index.js';
import { portOf, rawConnect, waitFor } from '../support/net.js';
import { closeBody, frame, wsConnect } from './support.js';

interface Seen {
  events: string[];
  code?: number;
  cause?: CloseReason;
  at?: number;
}

describe('WebSocket shutdown', () => {
  it('sends 1001 to every WebSocket, ends those that answer within graceMs, forces the one that never does, and reports each close once and last', async () => {
    const GRACE = 3_000;
    const seen = new Map<string, Seen>();
    const ws = websocket<string>({
      // Longer than the grace period: the deadline, not the close timeout, decides the silent peer.
      closeTimeoutMs: 30_000,
      upgrade: (req) => ({ data: req.query }),
      handler: {
        open: (s) => void seen.set(s.data, { events: ['open'] }),
        message(s: WebSocket<string>, data) {
          seen.get(s.data)?.events.push(`message ${data.toString()}`);
          s.send(data);
        },
        close(s, code, _reason, cause) {
          const e = seen.get(s.data) as Seen;
          e.events.push('close');
          Object.assign(e, { code, cause, at: Date.now() });
        },
      },
    });
    const server = await listen({ port: 0, logger: silentLogger, websocket: ws });
    const port = portOf(server);
    // Three peers that answer a close frame at once (the ws client does, as browsers do).
    const polite = await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const c = new WebSocketClient(`ws://127.0.0.1:${port}/?${name}`, { perMessageDeflate: false });
        await once(c, 'open');
        const closed = once(c, 'close') as Promise<[number, Buffer]>;
        return { c, closed };
      }),
    );
    // One that answers late, but well within the grace period.
    const late = await wsConnect(port, '/?late');
    // One that never answers and never closes its side.
    const silent = await wsConnect(port, '/?silent');
    // One still sending its upgrade request: it has nothing to say goodbye to.
    const halfway = await rawConnect({ port, host: '127.0.0.1' });
    halfway.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    void halfway.ended.then(() => halfway.socket.end());
    for (const [i, p] of polite.entries()) {
      p.c.send(`hi ${i}`);
      await once(p.c, 'message');
    }
    await waitFor(() => server.connectionCount === 6, 10_000, 'six connections');

    const started = Date.now();
    const closing = server.close({ graceMs: GRACE, quietMs: 100 });
    const [first] = await late.frames(1);
    assert.equal(first?.op, 8);
    assert.equal(first?.payload.readUInt16BE(0), 1001);
    assert.equal(first?.payload.subarray(2).toString(), 'server shutting down');
    // Longer than quietMs and the wheel's tick: the server must still be waiting for this answer.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(late.peer.socket.readableEnded, false, 'the server waits for the close handshake, not only for quiet');
    late.send(frame({ op: 8, payload: closeBody(1001) }));
    assert.equal(await late.peer.ended, 'end');
    late.peer.socket.end();

    const result = await closing;
    const took = Date.now() - started;
    assert.deepEqual(result, { ended: 5, forced: 1 }, JSON.stringify([...seen]));
    assert.ok(took >= GRACE - 100, `close resolved after ${took} ms, at the grace deadline`);

    for (const p of polite) {
      const [code, reason] = await p.closed;
      assert.equal(code, 1001);
      assert.equal(reason.toString(), 'server shutting down');
    }
    // The silent peer saw the close frame, then the reset at the deadline.
    const silentFrames = await silent.frames(1);
    assert.equal(silentFrames[0]?.op, 8);
    assert.equal(silentFrames[0]?.payload.readUInt16BE(0), 1001);
    assert.equal(await silent.peer.ended, 'reset');
    assert.equal(halfway.received().length, 0, 'a half-sent upgrade is ended without an answer');
    assert.equal(await halfway.ended, 'end');
    halfway.socket.destroy();

    // Every socket: open, then its messages, then close exactly once, last.
    for (const name of ['a', 'b', 'c']) {
      const e = seen.get(name) as Seen;
      assert.deepEqual(e.events, ['open', `message hi ${['a', 'b', 'c'].indexOf(name)}`, 'close']);
      assert.equal(e.code, 1001);
      assert.equal(e.cause, 'shutdown');
    }
    assert.deepEqual(seen.get('late')?.events, ['open', 'close']);
    assert.equal(seen.get('late')?.code, 1001);
    assert.deepEqual(seen.get('silent')?.events, ['open', 'close']);
    assert.equal(seen.get('silent')?.cause, 'shutdown');
    assert.ok((seen.get('silent')?.at as number) >= (seen.get('late')?.at as number), 'the silent peer is closed last, at the deadline');

    const st = ws.stats();
    assert.equal(st.closesSent['1001'], 5, JSON.stringify(st.closesSent));
    assert.equal(st.closesReceived['1001'], 4, 'the three polite peers and the late one answered');
    assert.equal(st.open, 0);
    assert.equal(server.connectionCount, 0);
  });

  it('resolves as soon as every WebSocket has finished its close handshake, long before graceMs', async () => {
    const server = await listen({ port: 0, logger: silentLogger, websocket: websocket({ handler: {} }) });
    const port = portOf(server);
    const peers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = new WebSocketClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        await once(c, 'open');
        // Wrapped: an async function returning the promise itself would wait for it.
        return { closed: once(c, 'close') as Promise<[number, Buffer]> };
      }),
    );
    const started = Date.now();
    const result = await server.close({ graceMs: 30_000 });
    assert.deepEqual(result, { ended: 20, forced: 0 });
    assert.ok(Date.now() - started < 15_000, 'did not wait for the grace deadline');
    for (const p of peers) assert.equal((await p.closed)[0], 1001);
  });
});
