import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, lengthPrefixed, silentLogger, type Connection } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';

/** Counts socket writes made by this process while `fn` runs (server and clients share the process). */
function countWrites(): { count: () => number; restore: () => void } {
  const proto = net.Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
  const original = proto.write;
  let n = 0;
  proto.write = function (this: net.Socket, ...args: unknown[]) {
    n++;
    return original.apply(this, args);
  };
  return { count: () => n, restore: () => void (proto.write = original) };
}

describe('write batching', () => {
  let restore: (() => void) | null = null;
  afterEach(() => restore?.());

  it('answers sixteen frames that arrive in one read with one socket write', async () => {
    const server = await listen({ port: 0, codec: lengthPrefixed(), logger: silentLogger, handler: { message: (c, f) => c.send(f) } });
    const peer = await rawConnect({ port: portOf(server) });
    const frames = Array.from({ length: 16 }, (_, i) => lp4(`frame-${i}`));
    const all = Buffer.concat(frames);
    const counter = countWrites();
    restore = counter.restore;
    peer.socket.write(all);
    const got = await peer.waitBytes(all.length);
    const writes = counter.count() - 1; // minus the client's own write
    counter.restore();
    assert.deepEqual(got, all);
    assert.equal(writes, 1);
    peer.socket.end();
    await server.close();
  });

  it('batches frames sent from outside a read (a broadcast) into one write per connection per turn', async () => {
    const conns: Connection[] = [];
    const server = await listen({ port: 0, codec: lengthPrefixed(), logger: silentLogger, handler: { open: (c) => void conns.push(c) } });
    const peers = await Promise.all([1, 2, 3].map(() => rawConnect({ port: portOf(server) })));
    await waitFor(() => conns.length === 3);
    const counter = countWrites();
    restore = counter.restore;
    for (let i = 0; i < 10; i++) for (const c of conns) c.send(`news ${i}`);
    const expected = Buffer.concat(Array.from({ length: 10 }, (_, i) => lp4(`news ${i}`)));
    const got = await Promise.all(peers.map((p) => p.waitBytes(expected.length)));
    const writes = counter.count();
    counter.restore();
    for (const g of got) assert.deepEqual(g, expected);
    assert.equal(writes, 3);
    for (const p of peers) p.socket.end();
    await server.close();
  });

  it('sends large payloads without copying them next to their header, in order with small ones', async () => {
    const big = Buffer.alloc(200_000, 9);
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: {
        message(c) {
          c.send('small-1');
          c.send(big);
          c.send('small-2');
        },
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('go'));
    const expected = Buffer.concat([lp4('small-1'), lp4(big), lp4('small-2')]);
    const got = await peer.waitBytes(expected.length);
    assert.ok(got.equals(expected));
    peer.socket.end();
    await server.close();
  });
});
