/**
 * permessage-deflate in the WebSocket client: the offer it sends, the
 * answers it refuses (each a violation of RFC 7692 §7 for that offer), and
 * compressed traffic with hand-made servers and with Capstan's own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectWebSocket, deflateUsage, isCapstanError, silentLogger } from '../../src/index.js';
import { good101, handServer, recorder, serverFrame } from './client-support.js';
import { compress, deflateEcho, inflate } from './deflate-support.js';

const quiet = { logger: silentLogger };

/** A server text frame with RSV1 set around `wire`. */
function compressedFrame(wire: Buffer): Buffer {
  const f = serverFrame(1, wire);
  f[0] = 0xc1;
  return f;
}

describe('the WebSocket client with perMessageDeflate', () => {
  it('offers permessage-deflate with what it asks of the server, and nothing without the option', async () => {
    const s = await handServer();
    const cases: Array<[object | boolean | undefined, string | undefined]> = [
      [undefined, undefined],
      [true, 'permessage-deflate; client_max_window_bits'],
      [{ serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12 }, 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12'],
      [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits'],
    ];
    for (const [i, [option, offer]] of cases.entries()) {
      const c = await connectWebSocket({ url: s.url, handler: {}, ...(option === undefined ? {} : { perMessageDeflate: option }), ...quiet });
      assert.equal((await s.peer(i)).headers['sec-websocket-extensions'], offer);
      c.socket?.terminate();
      await c.close();
    }
    await s.close();
  });

  it('fails with ERR_WS_HANDSHAKE on an answer its offer does not allow, and gives back the contexts it reserved', async () => {
    const before = deflateUsage().contexts;
    const answers: Array<[string, object | true, RegExp]> = [
      ['x-webkit-deflate-frame', true, /did not offer/],
      ['permessage-deflate, permessage-deflate', true, /did not offer/],
      ['permessage-deflate; client_max_window_bits', true, /without a value/],
      ['permessage-deflate; server_max_window_bits=16', true, /not 8-15/],
      ['permessage-deflate; mystery=1', true, /unknown parameter mystery/],
      ['permessage-deflate; client_no_context_takeover; client_no_context_takeover', true, /twice/],
      ['permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, /server_max_window_bits=12 to our 10/],
      ['permessage-deflate', { serverMaxWindowBits: 10 }, /server_max_window_bits=\(none\)/],
      ['permessage-deflate; client_max_window_bits=13', { clientMaxWindowBits: 12 }, /client_max_window_bits=13 to our 12/],
      ['permessage-deflate', { serverNoContextTakeover: true }, /server_no_context_takeover/],
      ['permessage-deflate;', true, /malformed/],
    ];
    for (const [answer, option, why] of answers) {
      const s = await handServer((key) => good101(key, `Sec-WebSocket-Extensions: ${answer}\r\n`));
      await assert.rejects(
        connectWebSocket({ url: s.url, perMessageDeflate: option, handler: {}, ...quiet }),
        (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && err.reason === 'protocol-error' && why.test(err.message),
        answer,
      );
      await (await s.peer()).ended;
      await s.close();
    }
    assert.equal(deflateUsage().contexts, before);
  });

  it('takes answers the RFC allows beyond the offer: no context takeover either way, a smaller server window, a client window', async () => {
    const before = deflateUsage().contexts;
    const s = await handServer((key) => good101(key, 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10\r\n'));
    const r = recorder();
    const c = await connectWebSocket({ url: s.url, perMessageDeflate: { threshold: 0 }, handler: r.handler, ...quiet });
    assert.equal(deflateUsage().contexts, before, 'no context kept by either direction');
    c.send('q'.repeat(500));
    const peer = await s.peer();
    const [f] = await peer.frames(1);
    assert.equal(f?.rsv, 0x40);
    assert.equal(inflate(f?.payload as Buffer, 10).toString(), 'q'.repeat(500));
    peer.socket.write(serverFrame(1, 'plain'));
    peer.socket.write(compressedFrame(compress('z'.repeat(300), 9)));
    await r.until(() => r.messages.length === 2, 'two messages');
    assert.deepEqual(
      r.messages.map((m) => m.data.toString()),
      ['plain', 'z'.repeat(300)],
    );
    c.socket?.terminate();
    await c.close();
    await s.close();
  });

  it('goes on uncompressed when the server declines, and closes with 1002 on an RSV1 frame then', async () => {
    const before = deflateUsage().contexts;
    const s = await handServer();
    const r = recorder();
    const c = await connectWebSocket({ url: s.url, perMessageDeflate: true, handler: r.handler, ...quiet });
    assert.equal(c.socket?.extensions, '');
    assert.equal(deflateUsage().contexts, before);
    const peer = await s.peer();
    peer.socket.write(compressedFrame(compress('zzz')));
    const frames = await peer.frames(1);
    assert.equal(frames[0]?.op, 8);
    assert.equal(frames[0]?.payload.readUInt16BE(0), 1002);
    peer.socket.end();
    await r.until(() => r.closes.length === 1, 'the close');
    assert.equal(r.closes[0]?.cause, 'protocol-error');
    await c.close();
    await s.close();
  });

  it("echoes through Capstan's server with both windows kept, in order, and counts the bytes", async () => {
    const server = await deflateEcho({ threshold: 64 });
    const r = recorder();
    const c = await connectWebSocket({ url: `ws://127.0.0.1:${server.port}/`, perMessageDeflate: { threshold: 64 }, handler: r.handler, ...quiet });
    assert.equal(c.socket?.extensions, 'permessage-deflate');
    const sent = Array.from({ length: 300 }, (_, i) => (i % 4 === 0 ? `tiny ${i}` : `message number ${i} with a body that repeats `.repeat(1 + (i % 7))));
    for (const [i, m] of sent.entries()) c.send(i % 2 === 0 ? m : Buffer.from(m));
    await r.until(() => r.messages.length === sent.length, 'every echo');
    assert.deepEqual(
      r.messages.map((m) => [m.data.toString(), m.isBinary]),
      sent.map((m, i) => [m, i % 2 === 1]),
    );
    const mine = c.websocketStats().deflate;
    const theirs = server.server.stats().websocket?.deflate;
    assert.ok(mine !== undefined && theirs !== undefined);
    assert.equal(mine.wireOut, theirs.wireIn);
    assert.equal(mine.plainOut, theirs.plainIn);
    assert.equal(theirs.wireOut, mine.wireIn);
    assert.ok(mine.wireOut * 3 < mine.plainOut, `compressed: ${mine.wireOut} of ${mine.plainOut} bytes`);
    await c.close();
    await server.close();
  });

  it('sends empty messages compressed with a kept window as one empty stored block (RFC 7692 §7.2.3.6)', async () => {
    const server = await deflateEcho({ threshold: 0 });
    const r = recorder();
    const c = await connectWebSocket({ url: `ws://127.0.0.1:${server.port}/`, perMessageDeflate: { threshold: 0 }, handler: r.handler, ...quiet });
    // After a flush zlib writes nothing for an empty message; without the block the peer would read the trailer as a block header.
    for (const m of ['', 'between', '', '', Buffer.alloc(0), 'after']) c.send(m);
    await r.until(() => r.messages.length === 6, 'every echo');
    assert.deepEqual(
      r.messages.map((m) => [m.data.toString(), m.isBinary]),
      [['', false], ['between', false], ['', false], ['', false], ['', true], ['after', false]],
    );
    await c.close();
    await server.close();
  });
});
