/** The WebSocket client against Capstan's own WebSocket server, over loopback. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connectWebSocket, isCapstanError, listen, silentLogger, websocket, type CloseReason, type Server, type WebSocketServer } from '../../src/index.js';
import { recorder } from './client-support.js';

interface ServerSide {
  opens: Array<{ url: string; protocol: string; headers: Record<string, string> }>;
  closes: Array<{ code: number; reason: string; cause: CloseReason }>;
}

async function capstanServer(port = 0, side: ServerSide = { opens: [], closes: [] }) {
  const wss = websocket({
    endpoints: [
      {
        path: '/echo',
        protocols: ['echo.v2', 'echo.v1'],
        maxMessageBytes: 1 << 20,
        upgrade(req) {
          if (req.headers['authorization'] === 'Bearer no') return { status: 403, body: 'go away' };
          side.opens.push({ url: req.url, protocol: req.protocol, headers: { ...req.headers } });
          return undefined;
        },
        handler: {
          message(s, data, isBinary) {
            const text = isBinary ? '' : data.toString();
            if (text.startsWith('close:')) return s.close(Number(text.slice(6)), 'server says bye');
            if (text === 'ping me') return void s.ping('from-server');
            s.send(data, isBinary);
          },
          close: (_s, code, reason, cause) => void side.closes.push({ code, reason, cause }),
        },
      },
    ],
  });
  const server = await listen({ port, logger: silentLogger, websocket: wss });
  return { server, side, wss, port: (server.address as { port: number }).port };
}

describe('the WebSocket client against Capstan’s server', () => {
  let server: Server;
  let side: ServerSide;
  let wss: WebSocketServer;
  let base: string;
  before(async () => {
    ({ server, side, wss } = await capstanServer());
    base = `ws://127.0.0.1:${(server.address as { port: number }).port}`;
  });
  after(async () => {
    await server.close();
  });

  it('sends its headers, origin, query and offered subprotocols, and learns the one the server chose', async () => {
    const r = recorder();
    const client = await connect({
      url: `${base}/echo?room=7`,
      protocols: ['echo.v1', 'echo.v2'],
      origin: 'https://app.example',
      headers: { Authorization: 'Bearer yes', 'X-Trace': ['a', 'b'] },
      handler: r.handler,
      logger: silentLogger,
    });
    const seen = side.opens.at(-1);
    assert.ok(seen !== undefined);
    assert.equal(seen.url, '/echo?room=7');
    assert.equal(seen.protocol, 'echo.v2', 'the server prefers echo.v2, which we offered second');
    assert.equal(seen.headers['authorization'], 'Bearer yes');
    assert.equal(seen.headers['x-trace'], 'a, b');
    assert.equal(seen.headers['origin'], 'https://app.example');
    assert.equal(seen.headers['sec-websocket-protocol'], 'echo.v1, echo.v2');
    assert.equal(client.socket?.protocol, 'echo.v2');
    assert.equal(client.socket?.url, '/echo?room=7');
    assert.equal(r.opens, 1);
    await client.close();
  });

  it('echoes text and binary at every length form (7-, 16- and 64-bit) and the empty message', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${base}/echo`, handler: r.handler, logger: silentLogger });
    const sent: Array<[Buffer | string, boolean]> = [
      ['héllo wörld', false],
      [Buffer.from([0, 1, 2, 255]), true],
      ['', false],
      [Buffer.alloc(0), true],
      ['x'.repeat(125), false],
      [Buffer.alloc(126, 7), true],
      ['y'.repeat(65_535), false],
      [Buffer.alloc(65_536, 9), true],
      [Buffer.from('ü'.repeat(200)), false],
      [Buffer.alloc(700_000, 0xa5), true],
    ];
    // Above the high-water mark send says so (false) but still queues.
    for (const [m, binary] of sent) client.send(m, binary);
    await r.until(() => r.messages.length === sent.length, 'every echo');
    assert.deepEqual(
      r.messages.map((m) => [m.isBinary ? m.data.toString('hex') : m.data.toString(), m.isBinary]),
      sent.map(([m, b]) => [b ? Buffer.from(m).toString('hex') : m.toString(), b]),
    );
    const stats = client.websocketStats();
    assert.equal(stats.messagesOut, sent.length);
    assert.equal(stats.messagesIn, sent.length);
    // Payload bytes as on the wire: a string's UTF-8, not its UTF-16 units ('héllo wörld' differs).
    const bytes = sent.reduce((n, [m]) => n + Buffer.byteLength(m), 0);
    assert.equal(stats.bytesOut, bytes);
    assert.equal(stats.bytesIn, bytes);
    await client.close();
  });

  it('answers the server’s ping, and gets the pong to its own', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${base}/echo`, handler: r.handler, logger: silentLogger });
    const pongsBefore = wss.stats().pongsIn;
    client.send('ping me');
    await r.until(() => r.pings.length === 1, 'the server ping');
    assert.deepEqual(r.pings, ['from-server']);
    await r.until(() => wss.stats().pongsIn === pongsBefore + 1, 'our pong at the server');
    assert.equal(client.ping('hb'), true);
    await r.until(() => r.pongs.length === 1, 'our pong');
    assert.deepEqual(r.pongs, ['hb']);
    await client.close();
  });

  it('closes with its code and reason: the server sees them, and the client reports the close it started', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${base}/echo`, handler: r.handler, logger: silentLogger });
    const n = side.closes.length;
    await client.close(4000, 'client says bye');
    // What is reported is the server's close frame: it echoes the code, not the reason.
    assert.deepEqual(r.closes, [{ code: 4000, reason: '', cause: 'local-end' }]);
    await r.until(() => side.closes.length > n, 'the server-side close');
    assert.deepEqual(side.closes[n], { code: 4000, reason: 'client says bye', cause: 'peer-closed' });
    assert.equal(client.socket, null);
    assert.equal(client.send('late'), false);
  });

  it('echoes the code of a close the server starts, and both sides report it', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${base}/echo`, handler: r.handler, logger: silentLogger });
    const n = side.closes.length;
    client.send('close:4001');
    await r.until(() => r.closes.length === 1, 'the client-side close');
    assert.deepEqual(r.closes, [{ code: 4001, reason: 'server says bye', cause: 'peer-closed' }]);
    await r.until(() => side.closes.length > n, 'the server-side close');
    assert.deepEqual(side.closes[n], { code: 4001, reason: '', cause: 'local-end' });
    assert.deepEqual(client.websocketStats().closesSent, { '4001': 1 });
    await client.close();
  });

  it('closes with 1009 when the server sends a message over maxMessageBytes', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${base}/echo`, maxMessageBytes: 1000, handler: r.handler, logger: silentLogger });
    const n = side.closes.length;
    client.send(Buffer.alloc(1001));
    await r.until(() => r.closes.length === 1, 'the close');
    assert.equal(r.closes[0]?.code, 1009);
    assert.equal(r.closes[0]?.cause, 'frame-too-large');
    assert.ok(isCapstanError(r.closes[0]?.error, 'ERR_WS_MESSAGE_TOO_LARGE'));
    await r.until(() => side.closes.length > n, 'the server-side close');
    assert.equal(side.closes[n]?.code, 1009);
    await client.close();
  });

  it('fails with ERR_WS_HANDSHAKE carrying the status when the server refuses the upgrade', async () => {
    await assert.rejects(
      connectWebSocket({ url: `${base}/echo`, headers: { Authorization: 'Bearer no' }, handler: {}, logger: silentLogger }),
      (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && err.actual === 403 && err.reason === 'upgrade-refused' && /403/.test(err.message),
    );
    await assert.rejects(
      connectWebSocket({ url: `${base}/nowhere`, handler: {}, logger: silentLogger }),
      (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && err.actual === 404,
    );
  });

  it('refuses options that would forge the handshake, before dialing', () => {
    assert.throws(() => connectWebSocket({ url: `${base}/echo`, headers: { 'Sec-WebSocket-Key': 'x' }, handler: {} }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === 'headers.Sec-WebSocket-Key');
    assert.throws(() => connectWebSocket({ url: `${base}/echo`, headers: { 'X-Evil': 'a\r\nInjected: 1' }, handler: {} }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === 'headers');
    assert.throws(() => connectWebSocket({ url: 'http://127.0.0.1/', handler: {} }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === 'url');
    assert.throws(() => connectWebSocket({ url: `${base}/echo`, protocols: ['a b'], handler: {} }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION'));
    assert.throws(() => connectWebSocket({ url: `${base}/echo`, handler: {}, pingEvery: 1 } as never), (e: unknown) => isCapstanError(e, 'ERR_UNKNOWN_OPTION'));
  });
});

describe('the WebSocket client with reconnect', () => {
  it('reconnects with back-off after the server restarts, and opens a new socket', async () => {
    const first = await capstanServer();
    const r = recorder();
    const client = await connectWebSocket({
      url: `ws://127.0.0.1:${first.port}/echo`,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      handler: r.handler,
      logger: silentLogger,
    });
    client.send('before');
    await r.until(() => r.messages.length === 1, 'the first echo');
    await first.server.close({ graceMs: 5_000 });
    await r.until(() => r.closes.length === 1 && r.retries.length >= 1, 'the close and a retry');
    assert.equal(r.closes[0]?.code, 1001, 'the server said it was going away');
    assert.equal(r.retries[0]?.reason, 'peer-closed');
    // Some retries fail while nothing listens; each is reported and the delays grow.
    await r.until(() => r.retries.length >= 3, 'failed retries');
    assert.ok(r.retries.every((info) => info.delayMs >= 1 && info.delayMs <= 200));
    assert.equal(r.retries[2]?.attempt, 3);
    const second = await capstanServer(first.port);
    await r.until(() => r.opens === 2, 'the second open');
    assert.ok(client.send('after'));
    await r.until(() => r.messages.length === 2, 'the second echo');
    assert.equal(r.messages[1]?.data.toString(), 'after');
    assert.equal(client.stats().accepted >= 2, true);
    await client.close();
    await second.server.close();
  });

  it('retries a refused upgrade with growing delays and gives up with ERR_RECONNECT_EXHAUSTED wrapping ERR_WS_HANDSHAKE', async () => {
    const s = await capstanServer();
    const r = recorder();
    await assert.rejects(
      connectWebSocket({
        url: `ws://127.0.0.1:${s.port}/echo`,
        headers: { Authorization: 'Bearer no' },
        reconnect: { initialDelayMs: 5, factor: 2, jitter: 0, maxAttempts: 3 },
        handler: r.handler,
        logger: silentLogger,
      }),
      (err: unknown) => isCapstanError(err, 'ERR_RECONNECT_EXHAUSTED') && isCapstanError((err as Error).cause, 'ERR_WS_HANDSHAKE'),
    );
    assert.deepEqual(
      r.retries.map((i) => [i.attempt, i.delayMs]),
      [
        [1, 5],
        [2, 10],
        [3, 20],
      ],
    );
    assert.ok(r.retries.every((i) => isCapstanError(i.error, 'ERR_WS_HANDSHAKE')));
    assert.equal(r.opens, 0);
    await s.server.close();
  });
});
