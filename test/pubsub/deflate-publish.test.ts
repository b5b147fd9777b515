/**
 * Pub/sub to subscribers that negotiated permessage-deflate, over real sockets
 * with the `ws` client inflating: without context takeover one compressed
 * frame per publish serves every subscriber; with it, each subscriber's
 * messages are compressed on its own stream, in call order with its own sends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, websocket, type Server, type WebSocket, type WebSocketServer } from '../../src/index.js';
import { portOf, waitFor } from '../support/net.js';
import { wsConnect, type WsPeer } from '../support/ws-client.js';

interface Setup {
  server: Server;
  wss: WebSocketServer;
  sockets: WebSocket[];
  peers: WsPeer[];
}

async function setup(perMessageDeflate: { serverNoContextTakeover: boolean; threshold: number }, subscribers: number): Promise<Setup> {
  const sockets: WebSocket[] = [];
  const wss = websocket({
    perMessageDeflate,
    handler: {
      open(ws) {
        sockets.push(ws);
        ws.subscribe('feed');
      },
    },
  });
  const server = await listen({ port: 0, logger: silentLogger, websocket: wss });
  const url = `ws://127.0.0.1:${portOf(server)}/`;
  const peers = await Promise.all(Array.from({ length: subscribers }, () => wsConnect(url, [], { perMessageDeflate: true })));
  await waitFor(() => sockets.length === subscribers);
  return { server, wss, sockets, peers };
}

/** A compressible text of about `bytes` bytes, numbered so order and content can be checked. */
function quote(i: number, bytes: number): string {
  return `#${i} ` + '{"symbol":"CAPS","bid":101.25,"ask":101.5,"size":300} '.repeat(Math.ceil(bytes / 52));
}

describe('pub/sub with permessage-deflate', () => {
  it('compresses a publish once for every subscriber that keeps no window, and each inflates it whole', async (t) => {
    const s = await setup({ serverNoContextTakeover: true, threshold: 64 }, 6);
    t.after(() => s.server.close({ graceMs: 1_000 }));
    assert.ok(s.sockets.every((ws) => ws.extensions.startsWith('permessage-deflate')), 'every client negotiated the extension');
    const before = s.wss.stats();
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      sent.push(quote(i, 2_000));
      assert.equal(s.wss.publish('feed', sent[i] as string), 6);
    }
    // A short one goes out as the plain frame, under the threshold.
    s.wss.publish('feed', 'short');
    for (const p of s.peers) assert.deepEqual((await p.received(21)).map((m) => m.data), [...sent, 'short']);
    const after = s.wss.stats();
    assert.equal((after.publishFrames ?? 0) - (before.publishFrames ?? 0), 21, 'one frame per publish, shared by the six subscribers');
    const d = after.deflate as { plainOut: number; wireOut: number };
    assert.ok(d.plainOut >= 6 * 20 * 2_000, `plain bytes out ${d.plainOut}`);
    assert.ok(d.wireOut * 5 < d.plainOut, `compressed well: ${d.wireOut} wire for ${d.plainOut} plain`);
    for (const p of s.peers) p.socket.close();
  });

  it('compresses on each subscriber’s own stream when it keeps a window, in call order with its own sends', async (t) => {
    const s = await setup({ serverNoContextTakeover: false, threshold: 64 }, 4);
    t.after(() => s.server.close({ graceMs: 1_000 }));
    const want: string[][] = s.sockets.map(() => []);
    for (let i = 0; i < 60; i++) {
      // Publishes and direct sends interleaved: a send compresses off the event loop, so the
      // publish right after it must wait behind it, never overtake it.
      const text = quote(i, 1_500);
      s.wss.publish('feed', text);
      s.sockets.forEach((_ws, k) => want[k]?.push(text));
      if (i % 3 === 0) {
        s.sockets.forEach((ws, k) => {
          const own = `own ${i} for ${k} ` + 'x'.repeat(200 + i);
          ws.send(own);
          want[k]?.push(own);
        });
      }
    }
    for (const [k, p] of s.peers.entries()) {
      const got = await p.received(want[k]?.length ?? 0);
      assert.deepEqual(got.map((m) => m.data), want[k], `subscriber ${k} got every message, in order`);
    }
    const d = s.wss.stats().deflate as { plainOut: number; wireOut: number };
    assert.ok(d.wireOut * 5 < d.plainOut, `compressed: ${d.wireOut} wire for ${d.plainOut} plain`);
    for (const p of s.peers) p.socket.close();
  });
});
