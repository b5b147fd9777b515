/**
 * The WebSocket client against servers written by hand in the test: the
 * upgrade request and every client frame read byte by byte, and answers no
 * real server would give (a wrong accept key, masked frames, no close).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectWebSocket, isCapstanError, silentLogger } from '../../src/index.js';
import { good101, handServer, recorder, serverFrame } from './client-support.js';
import { expectedAccept } from './support.js';

const quiet = { logger: silentLogger };

describe('the WebSocket client on the wire', () => {
  it('sends a well-formed upgrade with a fresh 16-byte key per connection', async () => {
    const s = await handServer();
    const a = await connectWebSocket({ url: `${s.url}/x?y=1`, handler: {}, ...quiet });
    const b = await connectWebSocket({ url: `${s.url}/x?y=1`, handler: {}, ...quiet });
    const [pa, pb] = [await s.peer(0), await s.peer(1)];
    assert.match(pa.request, /^GET \/x\?y=1 HTTP\/1\.1\r\n/);
    assert.equal(pa.headers['host'], `127.0.0.1:${s.port}`);
    assert.equal(pa.headers['upgrade'], 'websocket');
    assert.equal(pa.headers['connection'], 'Upgrade');
    assert.equal(pa.headers['sec-websocket-version'], '13');
    assert.equal(Buffer.from(pa.headers['sec-websocket-key'] ?? '', 'base64').length, 16);
    assert.notEqual(pa.headers['sec-websocket-key'], pb.headers['sec-websocket-key']);
    assert.equal(pa.headers['sec-websocket-protocol'], undefined, 'nothing offered, nothing sent');
    a.socket?.terminate();
    b.socket?.terminate();
    await Promise.all([a.close(), b.close()]);
    await s.close();
  });

  it('masks every frame it sends, each under a different key, and the payloads unmask to what was sent', async () => {
    const s = await handServer();
    const client = await connectWebSocket({ url: s.url, handler: {}, ...quiet });
    const sent: Array<{ op: number; payload: Buffer }> = [];
    for (let i = 0; i < 40; i++) {
      client.send(`message ${i}`);
      sent.push({ op: 1, payload: Buffer.from(`message ${i}`) });
    }
    const big = Buffer.alloc(70_000, 0x3c);
    const mid = Buffer.from('ü'.repeat(100));
    client.send(big);
    client.send(mid, false);
    client.send('z'.repeat(2_000));
    client.ping('p');
    sent.push({ op: 2, payload: big }, { op: 1, payload: mid }, { op: 1, payload: Buffer.from('z'.repeat(2_000)) }, { op: 9, payload: Buffer.from('p') });
    const peer = await s.peer();
    const frames = await peer.frames(sent.length);
    assert.equal(frames.length, sent.length);
    assert.ok(frames.every((f) => f.masked && f.fin && f.key.length === 4), 'every frame masked, whole');
    assert.deepEqual(
      frames.map((f) => [f.op, f.payload.toString('hex')]),
      sent.map((m) => [m.op, m.payload.toString('hex')]),
    );
    assert.equal(new Set(frames.map((f) => f.key.toString('hex'))).size, frames.length, 'no key repeats');
    assert.equal(big.every((b) => b === 0x3c), true, "the caller's buffer is not masked in place");
    client.socket?.terminate();
    await client.close();
    await s.close();
  });

  it('fails with ERR_WS_HANDSHAKE when Sec-WebSocket-Accept is not the one for its key', async () => {
    const s = await handServer((key) => good101(key).replace(expectedAccept(key), expectedAccept('AAAAAAAAAAAAAAAAAAAAAA==')));
    await assert.rejects(
      connectWebSocket({ url: s.url, handler: {}, ...quiet }),
      (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && err.reason === 'protocol-error' && /Sec-WebSocket-Accept/.test(err.message),
    );
    // The client gives up on the connection rather than reading frames from it.
    await (await s.peer()).ended;
    await s.close();
  });

  it('fails with ERR_WS_HANDSHAKE on a 101 without Upgrade or Connection, with an unoffered subprotocol or extension, or a garbled or oversized head', async () => {
    const cases: Array<[string, (key: string) => string, RegExp]> = [
      ['no Upgrade', (k) => good101(k).replace('Upgrade: websocket\r\n', ''), /Upgrade/],
      ['Upgrade: h2c', (k) => good101(k).replace('Upgrade: websocket', 'Upgrade: h2c'), /Upgrade/],
      ['no Connection', (k) => good101(k).replace('Connection: Upgrade\r\n', ''), /Connection/],
      ['a subprotocol not offered', (k) => good101(k, 'Sec-WebSocket-Protocol: chat\r\n'), /subprotocol "chat"/],
      ['an extension not offered', (k) => good101(k, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'), /extensions/],
      ['a garbled status line', () => 'HTTP/1.1 1O1 Switching\r\n\r\n', /status line/],
      ['a header line without a colon', (k) => good101(k, 'nonsense\r\n'), /header line/],
      ['a head over 8 KiB', (k) => good101(k, `X-Big: ${'a'.repeat(9000)}\r\n`), /head over 8192 bytes/],
    ];
    for (const [what, respond, message] of cases) {
      const s = await handServer(respond);
      await assert.rejects(
        connectWebSocket({ url: s.url, protocols: ['echo'], handler: {}, ...quiet }),
        (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && message.test(err.message),
        what,
      );
      await s.close();
    }
  });

  it('accepts the subprotocol it offered, and frames that arrive in the same packet as the 101', async () => {
    const s = await handServer((key) => good101(key, 'Sec-WebSocket-Protocol: v2\r\n') + serverFrame(1, 'early').toString('latin1'));
    const r = recorder();
    const client = await connectWebSocket({ url: s.url, protocols: ['v1', 'v2'], handler: r.handler, ...quiet });
    assert.equal(client.socket?.protocol, 'v2');
    await r.until(() => r.messages.length === 1, 'the early message');
    assert.equal(r.messages[0]?.data.toString(), 'early');
    client.socket?.terminate();
    await client.close();
    await s.close();
  });

  it('joins a fragmented server message around a ping, and answers the ping with its payload', async () => {
    const s = await handServer();
    const r = recorder();
    const client = await connectWebSocket({ url: s.url, handler: r.handler, ...quiet });
    const peer = await s.peer();
    peer.socket.write(Buffer.concat([serverFrame(1, 'frag', false), serverFrame(9, 'between'), serverFrame(0, 'men', false), serverFrame(0, 'ted ü', true), serverFrame(2, Buffer.alloc(300, 1))]));
    await r.until(() => r.messages.length === 2, 'both messages');
    assert.deepEqual(
      r.messages.map((m) => [m.data.toString(), m.isBinary]),
      [
        ['fragmented ü', false],
        [Buffer.alloc(300, 1).toString(), true],
      ],
    );
    assert.deepEqual(r.pings, ['between']);
    const [pong] = await peer.frames(1);
    assert.equal(pong?.op, 10);
    assert.equal(pong?.payload.toString(), 'between');
    client.socket?.terminate();
    await client.close();
    await s.close();
  });

  it('closes with 1002 (protocol-error) when the server masks its frames', async () => {
    const s = await handServer();
    const r = recorder();
    await connectWebSocket({ url: s.url, handler: r.handler, ...quiet });
    const peer = await s.peer();
    const masked = serverFrame(1, 'hi');
    masked[1] = (masked[1] as number) | 0x80;
    peer.socket.write(Buffer.concat([masked, Buffer.from([1, 2, 3, 4])]));
    const [close] = await peer.frames(1);
    assert.equal(close?.op, 8);
    assert.equal(close?.payload.readUInt16BE(0), 1002);
    await peer.ended;
    peer.socket.end();
    await r.until(() => r.closes.length === 1, 'the close');
    assert.equal(r.closes[0]?.cause, 'protocol-error');
    assert.ok(isCapstanError(r.closes[0]?.error, 'ERR_WS_PROTOCOL'));
    await s.close();
  });

  it('after the server’s close, echoes it and waits for the server to close TCP before sending its FIN', async () => {
    const s = await handServer();
    const r = recorder();
    await connectWebSocket({ url: s.url, handler: r.handler, ...quiet });
    const peer = await s.peer();
    peer.socket.write(serverFrame(8, Buffer.from([0x0f, 0xa1, 0x62, 0x79, 0x65])));
    const [echo] = await peer.frames(1);
    assert.equal(echo?.op, 8);
    assert.equal(echo?.payload.readUInt16BE(0), 4001);
    // A client that closed TCP first would have its FIN here well within this.
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(peer.clientEnded(), false, 'the client waits for the server to close first');
    assert.equal(r.closes.length, 0);
    peer.socket.end();
    await peer.ended;
    await r.until(() => r.closes.length === 1, 'the close');
    assert.deepEqual(r.closes[0], { code: 4001, reason: 'bye', cause: 'peer-closed' });
    await s.close();
  });

  it('on client.close(), sends its close, reads the server’s, and still lets the server close TCP first', async () => {
    const s = await handServer();
    const r = recorder();
    const client = await connectWebSocket({ url: s.url, handler: r.handler, ...quiet });
    const peer = await s.peer();
    let settled = false;
    const closing = client.close(4002, 'done').then(() => (settled = true));
    const [ours] = await peer.frames(1);
    assert.equal(ours?.op, 8);
    assert.equal(ours?.payload.readUInt16BE(0), 4002);
    assert.equal(ours?.payload.subarray(2).toString(), 'done');
    peer.socket.write(serverFrame(8, ours?.payload.subarray(0, 2)));
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(peer.clientEnded(), false, 'no FIN from the client before the server’s');
    assert.equal(settled, false);
    peer.socket.end();
    await closing;
    assert.deepEqual(r.closes, [{ code: 4002, reason: '', cause: 'local-end' }]);
    assert.equal(client.send('late'), false);
    await s.close();
  });

  it('ends the connection itself when the server keeps TCP open for closeTimeoutMs after the close exchange', async () => {
    const s = await handServer();
    const r = recorder();
    const client = await connectWebSocket({ url: s.url, closeTimeoutMs: 200, handler: r.handler, ...quiet });
    const peer = await s.peer();
    const closing = client.close();
    const [ours] = await peer.frames(1);
    peer.socket.write(serverFrame(8, ours?.payload));
    await peer.ended;
    peer.socket.end();
    await closing;
    assert.deepEqual(r.closes, [{ code: 1000, reason: '', cause: 'local-end' }]);
    await s.close();
  });

  it('drops the connection with close-timeout when the server never answers its close frame', async () => {
    const s = await handServer();
    const r = recorder();
    const client = await connectWebSocket({ url: s.url, closeTimeoutMs: 200, handler: r.handler, ...quiet });
    await s.peer();
    await client.close(1000);
    assert.equal(r.closes[0]?.cause, 'close-timeout');
    assert.ok(isCapstanError(r.closes[0]?.error, 'ERR_WS_CLOSE_TIMEOUT'));
    await s.close();
  });

  it('fails with ERR_CONNECT_TIMEOUT when the server never answers the upgrade', async () => {
    const s = await handServer(() => '');
    await assert.rejects(connectWebSocket({ url: s.url, connectTimeoutMs: 300, handler: {}, ...quiet }), (err: unknown) => isCapstanError(err, 'ERR_CONNECT_TIMEOUT'));
    await s.close();
  });
});
