/** The upgrade request: bounds, refusals with their HTTP statuses, endpoints, subprotocols, origins and the hooks. */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, websocket, type Server, type UpgradeDecision } from '../../src/index.js';
import { rawConnect } from '../support/net.js';
import { expectedAccept, statusOf, upgradeRequest, waitFor, wsConnect, frame, parseFrames } from './support.js';

async function ask(port: number, request: string | Buffer, dripBytes = 0): Promise<{ response: string; ended: 'end' | 'reset' }> {
  const peer = await rawConnect({ port, host: '127.0.0.1' });
  const bytes = Buffer.from(request);
  if (dripBytes > 0) {
    for (let i = 0; i < bytes.length && !peer.socket.destroyed; i += dripBytes) {
      peer.socket.write(bytes.subarray(i, i + dripBytes));
      await new Promise((r) => setImmediate(r));
    }
  } else peer.socket.write(bytes);
  const ended = await peer.ended;
  peer.socket.end();
  await peer.closed;
  return { response: peer.received().toString('latin1'), ended };
}

describe('the WebSocket upgrade', () => {
  let server: Server;
  let port: number;
  const ws = websocket<{ user: string }>({
    endpoints: [
      { path: '/echo', handler: { message: (s, d, b) => void s.send(d, b) } },
      {
        path: '/chat',
        protocols: ['chat.v2', 'chat.v1'],
        origins: ['https://app.example'],
        handler: {
          open(s) {
            s.send(`hello ${s.data.user} on ${s.protocol}`);
          },
        },
        upgrade(req): UpgradeDecision<{ user: string }> {
          if (req.headers['authorization'] !== 'Bearer ok') return { status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'who are you?' };
          return { data: { user: new URLSearchParams(req.query).get('name') ?? 'anon' }, headers: { 'Set-Cookie': 'seen=1' } };
        },
      },
      {
        path: '/slow-auth',
        handler: { open: (s) => void s.send(`async ${s.data.user}`) },
        async upgrade(req): Promise<UpgradeDecision<{ user: string }>> {
          await new Promise((r) => setTimeout(r, 20));
          if (req.query === 'deny') return { status: 403 };
          if (req.query === 'throw') throw new Error('hook failed');
          return { data: { user: req.remoteAddress } };
        },
      },
    ],
    request(req) {
      if (req.path === '/health') return { status: 200, headers: { 'Content-Type': 'application/json' }, body: '{"ok":true}' };
      return { status: 404, body: 'nothing here' };
    },
    maxHeaderBytes: 1024,
    maxRequestLineBytes: 256,
    maxHeaders: 10,
  });
  before(async () => {
    server = await listen({
      port: 0,
      logger: silentLogger,
      websocket: ws,
      limits: { frameTimeoutMs: 0 },
    });
    port = (server.address as { port: number }).port;
  });
  after(async () => {
    await server.close();
  });

  it('accepts a valid upgrade byte by byte, with bytes of the first frame in the same packet as the request', async () => {
    const peer = await rawConnect({ port, host: '127.0.0.1' });
    const bytes = Buffer.concat([Buffer.from(upgradeRequest('/echo')), frame({ op: 1, payload: 'early' })]);
    for (let i = 0; i < bytes.length; i++) {
      peer.socket.write(bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    const got = await waitFor(peer, (b) => parseFrames(b.subarray(b.indexOf('\r\n\r\n') + 4)).frames.length > 0);
    const text = got.toString('latin1');
    assert.equal(statusOf(text), 101);
    assert.ok(text.includes(`Sec-WebSocket-Accept: ${expectedAccept()}\r\n`));
    const { frames } = parseFrames(got.subarray(got.indexOf('\r\n\r\n') + 4));
    assert.equal(frames[0]?.payload.toString(), 'early');
    peer.socket.destroy();
  });

  const refusals: Array<[string, string, number, RegExp?]> = [
    ['a POST upgrade', upgradeRequest('/echo').replace('GET', 'POST'), 405, /\r\nAllow: GET\r\n/],
    ['version 8', upgradeRequest('/echo', { 'Sec-WebSocket-Version': '8' }), 426, /\r\nSec-WebSocket-Version: 13\r\n/],
    ['no version', upgradeRequest('/echo', {}, ['Sec-WebSocket-Version']), 426],
    ['a key that is not 16 bytes of base64', upgradeRequest('/echo', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }), 400],
    ['no key', upgradeRequest('/echo', {}, ['Sec-WebSocket-Key']), 400],
    ['two keys', upgradeRequest('/echo').replace('\r\n\r\n', '\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'), 400],
    ['Connection without upgrade', upgradeRequest('/echo', { Connection: 'keep-alive' }), 400],
    ['an Upgrade to another protocol', upgradeRequest('/echo', { Upgrade: 'h2c' }), 400],
    ['no Host', upgradeRequest('/echo', {}, ['Host']), 400],
    ['HTTP/1.0', upgradeRequest('/echo').replace('HTTP/1.1', 'HTTP/1.0'), 400],
    ['a garbage request line', 'HELLO THERE\r\n\r\n', 400],
    ['an unknown path', upgradeRequest('/nope'), 404],
    ['a foreign origin', upgradeRequest('/chat', { Origin: 'https://evil.example', Authorization: 'Bearer ok' }), 403],
    ['a refusal by the upgrade hook', upgradeRequest('/chat', { Origin: 'https://app.example' }), 401, /\r\nWWW-Authenticate: Bearer\r\n/],
    ['a refusal by an async upgrade hook', upgradeRequest('/slow-auth?deny'), 403],
    ['an async upgrade hook that throws', upgradeRequest('/slow-auth?throw'), 500],
    ['a request line over maxRequestLineBytes', `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
    ['a head over maxHeaderBytes', upgradeRequest('/echo', { 'X-Pad': 'p'.repeat(1100) }), 431],
    ['more header lines than maxHeaders', upgradeRequest('/echo', Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`X-${i}`, '1']))), 431],
    ['a plain GET the request hook does not know', 'GET /other HTTP/1.1\r\nHost: x\r\n\r\n', 404],
    ['folded header lines', upgradeRequest('/echo').replace('Upgrade: websocket\r\n', 'Upgrade: websocket\r\n continued\r\n'), 400],
  ];
  for (const [what, request, status, header] of refusals) {
    it(`answers ${what} with ${status} and closes`, async () => {
      const { response, ended } = await ask(port, request);
      assert.equal(statusOf(response), status, response);
      assert.match(response, /\r\nConnection: close\r\n/);
      if (header !== undefined) assert.match(response, header);
      assert.equal(ended, 'end');
    });
  }

  it('answers an oversized head sent a byte at a time with 431 before it is complete', async () => {
    const { response } = await ask(port, upgradeRequest('/echo', { 'X-Pad': 'p'.repeat(3000) }), 7);
    assert.equal(statusOf(response), 431);
  });

  it('serves a plain GET through the request hook', async () => {
    const { response } = await ask(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(statusOf(response), 200);
    assert.match(response, /\r\nContent-Type: application\/json\r\n/);
    assert.ok(response.endsWith('{"ok":true}'));
  });

  it('chooses the endpoint’s preferred subprotocol among those offered and passes the hook’s data and headers', async () => {
    const c = await wsConnect(port, '/chat?name=ada', { Origin: 'https://APP.example', Authorization: 'Bearer ok', 'Sec-WebSocket-Protocol': 'chat.v1, chat.v2' });
    assert.match(c.response, /\r\nSec-WebSocket-Protocol: chat\.v2\r\n/);
    assert.match(c.response, /\r\nSet-Cookie: seen=1\r\n/);
    const [f] = await c.frames(1);
    assert.equal(f?.payload.toString(), 'hello ada on chat.v2');
    c.peer.socket.destroy();
  });

  it('waits for an async upgrade hook before accepting', async () => {
    const c = await wsConnect(port, '/slow-auth');
    const [f] = await c.frames(1);
    assert.equal(f?.payload.toString(), 'async 127.0.0.1');
    c.peer.socket.destroy();
  });

  it('counts refusals by status', () => {
    const st = ws.stats();
    const msg = JSON.stringify(st);
    assert.ok((st.handshakesRefused['400'] ?? 0) >= 7, msg);
    assert.ok((st.handshakesRefused['431'] ?? 0) >= 3, msg);
    assert.equal(st.handshakesRefused['426'], 2);
    assert.equal(st.httpRequests, 1);
    const closes = server.stats().closes;
    assert.ok(closes['upgrade-refused'] >= 20, JSON.stringify(closes));
  });
});

describe('a server without a request hook', () => {
  it('answers a plain GET with 426 naming websocket', async () => {
    const server = await listen({ port: 0, logger: silentLogger, websocket: { handler: {} } });
    const { response } = await ask((server.address as { port: number }).port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(statusOf(response), 426);
    assert.match(response, /\r\nUpgrade: websocket\r\n/);
    await server.close();
  });

  it('destroys a connection whose upgrade request does not complete within upgradeTimeoutMs', async () => {
    const server = await listen({ port: 0, logger: silentLogger, websocket: { handler: {}, upgradeTimeoutMs: 300 } });
    const peer = await rawConnect({ port: (server.address as { port: number }).port, host: '127.0.0.1' });
    peer.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    assert.ok(['end', 'reset'].includes(await peer.ended));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.stats().closes['handshake-timeout'], 1);
    await server.close();
  });
});
