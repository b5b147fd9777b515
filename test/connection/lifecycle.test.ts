import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, silentLogger, type Server } from '../../src/index.js';
import { lp4, portOf, rawConnect, waitFor } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

async function lpServer(handler: Parameters<typeof listen>[0]['handler'], limits = {}): Promise<Server> {
  return listen({ port: 0, codec: lengthPrefixed({ maxFrameBytes: 1024 }), handler, logger: silentLogger, limits });
}

describe('connection lifecycle', () => {
  it('calls open once, then each message in order, then close last when the peer closes', async () => {
    const { handler, rec } = recordingHandler();
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([lp4('a'), lp4('b'), lp4('c')]));
    await waitFor(() => rec.events.length >= 4, 30_000, 'three messages');
    peer.socket.end();
    assert.equal(await rec.closed, 'peer-closed');
    assert.deepEqual(rec.events, ['open', 'message:a', 'message:b', 'message:c', 'end', 'close:peer-closed']);
    assert.equal(server.stats().closes['peer-closed'], 1);
    await server.close();
  });

  it('reports a reset peer as peer-reset', async () => {
    const { handler, rec } = recordingHandler();
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('x'));
    await waitFor(() => rec.events.includes('message:x'));
    peer.socket.resetAndDestroy();
    assert.equal(await rec.closed, 'peer-reset');
    assert.deepEqual(rec.events, ['open', 'message:x', 'close:peer-reset']);
    await server.close();
  });

  it('flushes queued replies on local end and reports local-end once the peer closes too', async () => {
    const { handler, rec } = recordingHandler({
      message(conn, frame) {
        conn.send(frame);
        if (frame.toString() === 'bye') conn.end();
      },
    });
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([lp4('hi'), lp4('bye'), lp4('ignored')]));
    assert.equal(await peer.ended, 'end');
    assert.deepEqual(peer.received(), Buffer.concat([lp4('hi'), lp4('bye')]));
    peer.socket.end();
    assert.equal(await rec.closed, 'local-end');
    assert.deepEqual(rec.events, ['open', 'message:hi', 'message:bye', 'close:local-end']);
    await server.close();
  });

  it('resets the peer on destroy and reports the given reason', async () => {
    const { handler, rec } = recordingHandler({
      message(conn) {
        conn.destroy();
      },
    });
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([lp4('one'), lp4('two')]));
    assert.equal(await rec.closed, 'local-destroy');
    assert.equal(await peer.ended, 'reset');
    assert.deepEqual(rec.events, ['open', 'message:one', 'close:local-destroy']);
    await server.close();
  });

  it('closes with handler-error when open throws, still calling close last', async () => {
    const { handler, rec } = recordingHandler({
      open() {
        throw new Error('boom in open');
      },
    });
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('never delivered'));
    assert.equal(await peer.ended, 'end');
    peer.socket.end();
    assert.equal(await rec.closed, 'handler-error');
    assert.deepEqual(rec.events, ['open', 'close:handler-error']);
    assert.equal(rec.errors[0]?.message, 'boom in open');
    assert.equal(server.stats().handlerErrors, 1);
    await server.close();
  });

  it('closes with handler-error when message throws, after sending the replies queued before', async () => {
    const { handler, rec } = recordingHandler({
      message(conn, frame) {
        conn.send(frame);
        if (frame.toString() === 'bad') throw new Error('boom in message');
      },
    });
    const server = await lpServer(handler);
    const other = await rawConnect({ port: portOf(server) });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([lp4('ok'), lp4('bad'), lp4('after')]));
    assert.equal(await peer.ended, 'end');
    peer.socket.end();
    assert.deepEqual(peer.received(), Buffer.concat([lp4('ok'), lp4('bad')]));
    assert.equal(await rec.closed, 'handler-error');
    // The other connection is unaffected.
    other.socket.write(lp4('still here'));
    await other.waitBytes(lp4('still here').length);
    other.socket.end();
    await server.close();
  });

  it('delivers close exactly once even when close itself throws', async () => {
    let closes = 0;
    const { handler, rec } = recordingHandler({
      close() {
        closes++;
        throw new Error('boom in close');
      },
    });
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.end();
    await rec.closed;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closes, 1);
    assert.equal(server.stats().handlerErrors, 1);
    await server.close();
  });

  it('closes with frame-too-large, answering the frames before it, and keeps other connections working', async () => {
    const { handler, rec } = recordingHandler({
      message(conn, frame) {
        conn.send(frame);
      },
    });
    const server = await lpServer(handler);
    const other = await rawConnect({ port: portOf(server) });
    const peer = await rawConnect({ port: portOf(server) });
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(1_000_000);
    peer.socket.write(Buffer.concat([lp4('fine'), huge, Buffer.alloc(100)]));
    assert.equal(await peer.ended, 'end');
    peer.socket.end();
    assert.equal(await rec.closed, 'frame-too-large');
    assert.deepEqual(peer.received(), lp4('fine'));
    assert.equal(rec.errors[0] !== undefined && (rec.errors[0] as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
    other.socket.write(lp4('ping'));
    await other.waitBytes(8);
    assert.equal(server.stats().closes['frame-too-large'], 1);
    other.socket.end();
    await server.close();
  });

  it('reports a frame cut short by the peer as protocol-error', async () => {
    const { handler, rec } = recordingHandler();
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.end(lp4('complete').subarray(0, 6));
    assert.equal(await rec.closed, 'protocol-error');
    assert.equal((rec.errors[0] as { code?: string }).code, 'ERR_TRUNCATED_FRAME');
    await server.close();
  });

  it('makes send return false and calls nothing after close', async () => {
    let afterClose: boolean | null = null;
    const { handler, rec } = recordingHandler({
      close(conn) {
        afterClose = conn.send('late');
      },
    });
    const server = await lpServer(handler);
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.end();
    await rec.closed;
    assert.equal(afterClose, false);
    const conn = rec.conn;
    assert.ok(conn);
    assert.equal(conn.send('later'), false);
    assert.equal(conn.state, 'closed');
    conn.end();
    conn.destroy();
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(rec.events, ['open', 'end', 'close:peer-closed']);
    await server.close();
  });
});
