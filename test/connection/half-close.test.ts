import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, silentLogger } from '../../src/index.js';
import { lp4, portOf, rawConnect } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

describe('peer half-close', () => {
  it('tells the handler the peer ended and lets it write its last replies before ending', async () => {
    const { handler, rec } = recordingHandler({
      message(conn, frame) {
        conn.data = ((conn.data as number | undefined) ?? 0) + frame.length;
      },
      end(conn) {
        // The peer is done sending; answer with a summary, then close our side.
        assert.equal(conn.writable, true);
        conn.send(`total ${conn.data as number}`);
        conn.end();
      },
    });
    const server = await listen({ port: 0, codec: lengthPrefixed(), handler, logger: silentLogger });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.end(Buffer.concat([lp4('abc'), lp4('defgh')]));
    assert.equal(await peer.ended, 'end');
    assert.deepEqual(peer.received(), lp4('total 8'));
    assert.equal(await rec.closed, 'peer-closed');
    assert.deepEqual(rec.events, ['open', 'message:abc', 'message:defgh', 'end', 'close:peer-closed']);
    await server.close();
  });

  it('ends the connection itself when the handler has no end method', async () => {
    let closeReason = '';
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: {
        message: (c, f) => c.send(f),
        close: (_c, r) => void (closeReason = r),
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.end(lp4('last words'));
    assert.equal(await peer.ended, 'end');
    assert.deepEqual(peer.received(), lp4('last words'));
    await peer.closed;
    await server.close();
    assert.equal(closeReason, 'peer-closed');
  });
});
