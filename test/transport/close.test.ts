import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, lengthPrefixed, silentLogger, type CloseReason, type Server } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';

/** An lp4 echo server that records every close reason. */
async function echoRecordingCloses(): Promise<{ server: Server; reasons: CloseReason[] }> {
  const reasons: CloseReason[] = [];
  const server = await listen({
    port: 0,
    codec: lengthPrefixed(),
    logger: silentLogger,
    handler: { message: (c, f) => void c.send(f), close: (_c, r) => void reasons.push(r) },
  });
  return { server, reasons };
}

describe('server.close', () => {
  it('answers every frame received before close, ends quiet connections gracefully and stops accepting', async () => {
    const { server, reasons } = await echoRecordingCloses();
    const port = portOf(server);
    const peers = await Promise.all(Array.from({ length: 20 }, () => rawConnect({ port })));
    const perPeer = 500;
    const payload = Buffer.concat(Array.from({ length: perPeer }, (_, i) => lp4(`m${i}`)));
    for (const p of peers) p.socket.write(payload);
    // Quiet is judged by the last read: a quiet time shorter than a stall of this process could end a
    // connection whose frames still wait unread in the kernel.
    const result = await server.close({ graceMs: 10_000, quietMs: 1_000 });
    for (const p of peers) {
      assert.equal(await p.ended, 'end', 'closed with FIN, not reset');
      assert.deepEqual(p.received(), payload, 'every frame answered');
      p.socket.end();
    }
    assert.deepEqual(result, { ended: 20, forced: 0 });
    assert.equal(reasons.length, 20);
    assert.ok(reasons.every((r) => r === 'shutdown'));
    await assert.rejects(
      new Promise((resolve, reject) => net.connect({ port, host: '127.0.0.1' }).once('connect', resolve).once('error', reject)),
      { code: 'ECONNREFUSED' },
    );
  });

  it('lets the handler say goodbye through its shutdown hook', async () => {
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: {
        shutdown(c) {
          c.send('server going down');
          c.end();
        },
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    // The hook is for connections the server holds: one still in the accept queue would only be turned away.
    await waitFor(() => server.stats().active === 1, 30_000, 'the server to accept the connection');
    const closing = server.close({ graceMs: 5_000 });
    assert.equal(await peer.ended, 'end');
    assert.deepEqual(peer.received(), lp4('server going down'));
    peer.socket.end();
    assert.deepEqual(await closing, { ended: 1, forced: 0 });
  });

  it('destroys connections that never go quiet at the grace deadline and reports how many', async () => {
    const { server, reasons } = await echoRecordingCloses();
    const port = portOf(server);
    const chatty = await rawConnect({ port });
    const quiet = await rawConnect({ port });
    // A well-behaved client closes its side when the server's FIN arrives.
    void quiet.ended.then(() => quiet.socket.end());
    // Quiet means nothing read for quietMs; server and client share this process, so a stall of the
    // process longer than that would make even the chatty one look quiet. Hence a quiet time a hundred
    // times the interval between its writes.
    const timer = setInterval(() => chatty.socket.write(lp4('still talking')), 10);
    const result = await server.close({ graceMs: 3_000, quietMs: 1_000 });
    clearInterval(timer);
    assert.deepEqual(result, { ended: 1, forced: 1 });
    assert.equal(await quiet.ended, 'end');
    assert.equal(await chatty.ended, 'reset');
    assert.deepEqual(reasons.sort(), ['shutdown', 'shutdown']);
    chatty.socket.destroy();
  });

  it('resolves at once with nothing open, and close twice returns the same promise', async () => {
    const server = await listen({ port: 0, logger: silentLogger, handler: {} });
    const a = server.close();
    const b = server.close();
    assert.equal(a, b);
    assert.deepEqual(await a, { ended: 0, forced: 0 });
    assert.equal(server.closing, true);
  });
});
