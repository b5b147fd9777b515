/** `capstan load ws://…` and `wss://…`: the load client against Capstan's WebSocket echo and the `ws` package's. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { listen, runLoad, silentLogger, websocket, type CloseReason, type Server, type WebSocketServer as CapstanWs } from '../../src/index.js';
import { buildMessages } from '../../src/load/messages.js';
import { resolveLoadOptions } from '../../src/load/options.js';
import { wsMessageCodec } from '../../src/load/websocket.js';
import { testPki } from '../support/certs.js';

interface Seen {
  text: number;
  binary: number;
  closes: Array<{ code: number; cause: CloseReason }>;
}

function echo(seen: Seen, extra: { pingIntervalMs?: number; pongTimeoutMs?: number } = {}): CapstanWs {
  return websocket({
    path: '/echo',
    ...extra,
    handler: {
      message(s, data, isBinary) {
        if (isBinary) seen.binary++;
        else seen.text++;
        s.send(data, isBinary);
      },
      close: (_s, code, _reason, cause) => void seen.closes.push({ code, cause }),
    },
  });
}

async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('capstan load against Capstan’s WebSocket echo', () => {
  let server: Server;
  let wss: CapstanWs;
  let target: string;
  const seen: Seen = { text: 0, binary: 0, closes: [] };
  before(async () => {
    wss = echo(seen);
    server = await listen({ port: 0, logger: silentLogger, websocket: wss });
    target = `ws://127.0.0.1:${(server.address as { port: number }).port}/echo`;
  });
  after(async () => {
    await server.close();
  });

  it('echoes binary messages at depth 16 with every reply checked, and ends each socket with a close handshake', async () => {
    const before = { ...wss.stats(), closes: seen.closes.length };
    const r = await runLoad({ target, connections: 20, depth: 16, messages: 40_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.framing, 'ws-binary');
    assert.equal(r.connections.established, 20);
    assert.equal(r.sent.msgs, 40_000);
    assert.equal(r.received.msgs, 40_000);
    // Every message reached the server as a valid masked frame and was echoed.
    assert.equal(wss.stats().messagesIn - before.messagesIn, 40_000);
    assert.equal(wss.stats().handshakesAccepted - before.handshakesAccepted, 20);
    await until(() => seen.closes.length === before.closes + 20, 'the 20 closes at the server');
    assert.ok(
      seen.closes.slice(before.closes).every((c) => c.code === 1000 && c.cause === 'peer-closed'),
      JSON.stringify(seen.closes.slice(before.closes)),
    );
  });

  it('sends text messages with --ws-text over a range of sizes, each 16-bit length included', async () => {
    const text = seen.text;
    const r = await runLoad({ target, wsOpcode: 'text', size: [64, 1000], payload: 'random', connections: 4, depth: 16, messages: 4_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.framing, 'ws-text');
    assert.equal(r.payload, 'ascii', 'random bytes are not UTF-8: text falls back to printable ones');
    assert.equal(r.received.msgs, 4_000);
    assert.equal(seen.text - text, 4_000);
  });

  it('spreads the connections over worker processes', async () => {
    const r = await runLoad({ target, connections: 6, workers: 2, depth: 16, messages: 6_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.workers, 2);
    assert.equal(r.received.msgs, 6_000);
  });

  it('counts a refused upgrade as a failed connection, saying why', async () => {
    const r = await runLoad({ target: target.replace('/echo', '/nowhere'), connections: 2, durationSec: 1 });
    assert.equal(r.connections.established, 0);
    assert.equal(r.errors.other, 2);
    assert.match(r.errorSamples.other ?? '', /404 Not Found.*ERR_WS_HANDSHAKE/);
  });

  it('runs from the command line: capstan load ws://… --ws-text --depth 16 --json', async () => {
    const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
    const child = spawn(process.execPath, [cli, 'load', target, '--ws-text', '-c', '4', '--depth', '16', '-n', '4000', '--json', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 0, stderr);
    const r = JSON.parse(stdout) as { framing: string; target: string; received: { msgs: number }; errors: { total: number } };
    assert.equal(r.framing, 'ws-text');
    assert.equal(r.target, target);
    assert.equal(r.received.msgs, 4000);
    assert.equal(r.errors.total, 0);
  });

  it('refuses a framing inside a ws:// target, and an opcode without one', () => {
    assert.throws(() => resolveLoadOptions({ target, framing: 'lp4' }), { code: 'ERR_INVALID_OPTION', path: 'framing' });
    assert.throws(() => resolveLoadOptions({ target: 'tcp://127.0.0.1:1', wsOpcode: 'text' }), { code: 'ERR_INVALID_OPTION', path: 'wsOpcode' });
  });
});

describe('capstan load holding idle WebSockets', () => {
  it('answers the server’s heartbeat pings, so held sockets are not closed for silence', async () => {
    const seen: Seen = { text: 0, binary: 0, closes: [] };
    const wss = echo(seen, { pingIntervalMs: 200, pongTimeoutMs: 300 });
    const server = await listen({ port: 0, logger: silentLogger, websocket: wss });
    const r = await runLoad({ target: `ws://127.0.0.1:${(server.address as { port: number }).port}/echo`, mode: 'idle', connections: 5, durationSec: 2 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    const s = wss.stats();
    assert.ok(s.pingsOut >= 5, `the server pinged (${s.pingsOut})`);
    assert.equal(s.pongsIn, s.pingsOut, 'every ping was answered');
    assert.ok(!seen.closes.some((c) => c.cause === 'heartbeat-timeout'));
    await server.close();
  });
});

describe('capstan load wss://', () => {
  it('runs over TLS with a trusted CA', async () => {
    const pki = await testPki();
    const seen: Seen = { text: 0, binary: 0, closes: [] };
    const server = await listen({ port: 0, tls: { key: pki.serverKey, cert: pki.serverCert }, logger: silentLogger, websocket: echo(seen) });
    const r = await runLoad({ target: `wss://localhost:${(server.address as { port: number }).port}/echo`, tls: { ca: pki.caCert }, connections: 4, depth: 16, messages: 4_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 4_000);
    assert.equal(seen.binary, 4_000);
    await server.close();
  });
});

describe('capstan load against the ws package’s echo', () => {
  let wss: WebSocketServer;
  let port: number;
  let corruptEvery = 0;
  let count = 0;
  before(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
    await once(wss, 'listening');
    port = (wss.address() as AddressInfo).port;
    wss.on('connection', (sock) =>
      sock.on('message', (data: Buffer, isBinary: boolean) => {
        const reply = Buffer.from(data);
        if (corruptEvery > 0 && ++count % corruptEvery === 0) reply[reply.length - 1] = (reply[reply.length - 1] as number) ^ 0xff;
        sock.send(reply, { binary: isBinary });
      }),
    );
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('echoes binary messages of 100 B to 70 KB (7-, 16- and 64-bit lengths) with zero errors', async () => {
    const r = await runLoad({ target: `ws://127.0.0.1:${port}/`, size: [100, 70_000], connections: 4, depth: 4, messages: 2_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 2_000);
  });

  it('echoes text at depth 16', async () => {
    const r = await runLoad({ target: `ws://127.0.0.1:${port}/`, wsOpcode: 'text', connections: 8, depth: 16, messages: 8_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 8_000);
  });

  it('reports an echo that differs from what was sent as a mismatch', async () => {
    corruptEvery = 50;
    count = 0;
    try {
      const r = await runLoad({ target: `ws://127.0.0.1:${port}/`, connections: 2, depth: 4, messages: 400, replyTimeoutMs: 2_000 });
      assert.ok(r.errors.mismatch >= 1, JSON.stringify(r.errors));
      assert.match(r.errorSamples.mismatch ?? '', /differs at body byte 57/);
    } finally {
      corruptEvery = 0;
    }
  });
});

describe('WebSocket framing of load messages', () => {
  it('makes every size exact on the wire, where the length field grows (6, 8 and 14 header bytes with the mask)', () => {
    for (const [size, body] of [
      [64, 58],
      [131, 125],
      [134, 126],
      [65_543, 65_535],
      [65_550, 65_536],
    ] as const) {
      const m = buildMessages(wsMessageCodec('binary', 1 << 20), { sizeMin: size, sizeMax: size, payload: 'zeros', cap: 1 });
      assert.equal(m.fixedSize, size);
      assert.equal(m.bodies[0]?.length, body);
    }
    assert.throws(() => buildMessages(wsMessageCodec('binary', 1 << 20), { sizeMin: 132, sizeMax: 132, payload: 'zeros', cap: 1 }), { code: 'ERR_INVALID_OPTION', path: 'size' });
    const range = buildMessages(wsMessageCodec('binary', 1 << 20), { sizeMin: 100, sizeMax: 200, payload: 'zeros', cap: 1 });
    assert.ok(range.count > 1);
  });
});
