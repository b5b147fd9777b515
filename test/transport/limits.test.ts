import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, silentLogger, type Connection } from '../../src/index.js';
import { connectExpectingRefusal, lp4, portOf, rawConnect, waitFor } from '../support/net.js';

describe('connection limits', () => {
  it('refuses connections beyond maxConnections and counts them, serving the ones it holds', async () => {
    const open: Connection[] = [];
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      limits: { maxConnections: 3 },
      handler: { open: (c) => void open.push(c), message: (c, f) => c.send(f) },
    });
    const port = portOf(server);
    const held = await Promise.all([1, 2, 3].map(() => rawConnect({ port })));
    await waitFor(() => open.length === 3);
    assert.equal(await connectExpectingRefusal({ port }), 'reset');
    assert.equal(server.stats().refused['max-connections'], 1);
    assert.equal(server.stats().active, 3);
    held[0]?.socket.write(lp4('still served'));
    await held[0]?.waitBytes(16);
    // A slot frees up: the next connection is accepted.
    held[1]?.socket.end();
    await waitFor(() => server.stats().active === 2);
    const later = await rawConnect({ port });
    later.socket.write(lp4('late'));
    await later.waitBytes(8);
    for (const p of [held[0], held[2], later]) p?.socket.end();
    await server.close();
  });

  it('refuses connections beyond maxConnectionsPerAddress from one address, not from another', async () => {
    const server = await listen({
      host: '127.0.0.1',
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      limits: { maxConnectionsPerAddress: 2 },
      handler: { message: (c, f) => c.send(f) },
    });
    const port = portOf(server);
    const a = await Promise.all([1, 2].map(() => rawConnect({ port, localAddress: '127.0.0.2' })));
    await waitFor(() => server.stats().active === 2);
    assert.equal(await connectExpectingRefusal({ port, localAddress: '127.0.0.2' }), 'reset');
    const fromElsewhere = await rawConnect({ port, localAddress: '127.0.0.3' });
    fromElsewhere.socket.write(lp4('hi'));
    await fromElsewhere.waitBytes(6);
    assert.equal(server.stats().refused['max-per-address'], 1);
    for (const p of [...a, fromElsewhere]) p.socket.end();
    await server.close();
  });
});
