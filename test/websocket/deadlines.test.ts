/**
 * The WebSocket deadlines on the connection's wheel: heartbeats, the close
 * handshake's timeout and the upgrade timeout, each ending only its own
 * connection with its own close reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, type CloseReason, type WebSocketServerOptions } from '../../src/index.js';
import { websocket } from '../../src/websocket/server.js';
import { rawConnect } from '../support/net.js';
import { frame, wsConnect } from './support.js';

interface Closed {
  code: number;
  cause: CloseReason;
  error?: Error;
}

async function server(extra: Partial<WebSocketServerOptions>) {
  const closes: Closed[] = [];
  const ws = websocket({
    path: '/',
    handler: {
      message: (s, data, isBinary) => void s.send(data, isBinary),
      close: (_s, code, _reason, cause, error) => void closes.push({ code, cause, error }),
    },
    ...extra,
  } as WebSocketServerOptions);
  const srv = await listen({ port: 0, logger: silentLogger, websocket: ws });
  const port = (srv.address as { port: number }).port;
  const closed = async (n: number): Promise<Closed[]> => {
    const deadline = Date.now() + 20_000;
    while (closes.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return closes;
  };
  return { srv, port, ws, closes, closed };
}

describe('WebSocket deadlines', () => {
  it('pings an idle peer and closes it with heartbeat-timeout when no pong comes, while a peer that answers stays', async () => {
    const s = await server({ pingIntervalMs: 150, pongTimeoutMs: 150 });
    try {
      const silent = await wsConnect(s.port);
      const polite = await wsConnect(s.port);
      // The polite peer answers every ping it sees, for well over the timeout.
      let answered = 0;
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        const pings = (await polite.frames(answered + 1, 100)).filter((f) => f.op === 9);
        for (; answered < pings.length; answered++) polite.send(frame({ op: 10, payload: pings[answered]?.payload ?? Buffer.alloc(0) }));
      }
      const [gone] = await s.closed(1);
      assert.equal(gone?.cause, 'heartbeat-timeout');
      assert.equal((gone?.error as { code?: string } | undefined)?.code, 'ERR_WS_HEARTBEAT');
      assert.ok((await silent.frames(1)).some((f) => f.op === 9), 'the silent peer was pinged first');
      assert.equal(await silent.peer.ended, 'reset');
      assert.ok(answered >= 2, `the polite peer was pinged and answered ${answered} times`);
      assert.equal(s.closes.length, 1, 'the peer that answered is still open');
      polite.send(frame({ op: 1, payload: 'still here' }));
      const echo = (await polite.frames(answered + 1)).find((f) => f.op === 1);
      assert.equal(echo?.payload.toString(), 'still here');
      assert.ok(s.ws.stats().pingsOut >= 3 && s.ws.stats().pongsIn >= 2);
      polite.peer.socket.destroy();
    } finally {
      await s.srv.close();
    }
  });

  it('destroys a peer that never answers our close frame after closeTimeoutMs, with close-timeout', async () => {
    const closes: Closed[] = [];
    const ws = websocket({
      path: '/',
      closeTimeoutMs: 200,
      handler: {
        open: (w) => w.close(1000, 'bye'),
        close: (_w, code, _reason, cause, error) => void closes.push({ code, cause, error }),
      },
    });
    const srv = await listen({ port: 0, logger: silentLogger, websocket: ws });
    try {
      const c = await wsConnect((srv.address as { port: number }).port);
      const [f] = await c.frames(1);
      assert.equal(f?.op, 8);
      assert.equal(f?.payload.readUInt16BE(0), 1000);
      // We say nothing back; the server gives up on the handshake.
      assert.equal(await c.peer.ended, 'reset');
      const deadline = Date.now() + 10_000;
      while (closes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(closes[0]?.cause, 'close-timeout');
      assert.equal((closes[0]?.error as { code?: string } | undefined)?.code, 'ERR_WS_CLOSE_TIMEOUT');
      assert.equal(closes[0]?.code, 1000);
    } finally {
      await srv.close();
    }
  });

  it('drops a connection whose upgrade request is not complete within upgradeTimeoutMs, and serves the next one', async () => {
    const s = await server({ upgradeTimeoutMs: 200 });
    try {
      const slow = await rawConnect({ port: s.port, host: '127.0.0.1' });
      slow.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      assert.equal(await slow.ended, 'reset');
      assert.equal(slow.received().length, 0, 'nothing is answered to a half-sent request');
      const good = await wsConnect(s.port);
      good.send(frame({ op: 2, payload: 'after' }));
      const [echo] = await good.frames(1);
      assert.equal(echo?.payload.toString(), 'after');
      good.peer.socket.destroy();
    } finally {
      await s.srv.close();
    }
  });
});
