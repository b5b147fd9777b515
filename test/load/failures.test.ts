import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../src/load/run.js';
import { listen, silentLogger } from '../../src/index.js';
import { testPki } from '../support/certs.js';
import { closingServer, corruptingServer, netServer, silentServer, type Fixture } from './servers.js';

/** A port nothing listens on: bound once, then closed. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('load client failures', () => {
  const fixtures: Fixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });

  it('counts a refused connection and says so', async () => {
    const port = await deadPort();
    const r = await runLoad({ target: `tcp://127.0.0.1:${port}`, connections: 3, durationSec: 5 });
    assert.equal(r.errors.refused, 3);
    assert.equal(r.errors.total, 3);
    assert.equal(r.connections.established, 0);
    assert.match(r.errorSamples.refused ?? '', /ECONNREFUSED/);
  });

  it('counts a missing Unix socket as unreachable', async () => {
    const r = await runLoad({ target: `unix://${join(tmpdir(), `capstan-none-${process.pid}.sock`)}`, connections: 2, durationSec: 5 });
    assert.equal(r.errors.unreachable, 2);
    assert.match(r.errorSamples.unreachable ?? '', /ENOENT/);
  });

  it('catches one corrupted reply byte and names the message and byte', async () => {
    // 64-byte messages: stream byte 200 is byte 8 of the fourth reply.
    const server = await corruptingServer(200);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 1, depth: 1, messages: 50, size: 64 });
    assert.equal(r.errors.mismatch, 1);
    assert.equal(r.errors.total, 1);
    assert.match(r.errorSamples.mismatch ?? '', /reply to message 4 differs at byte 8/);
    assert.equal(r.received.msgs, 3, 'the three replies before the corrupted one were good');
  });

  it('catches a corrupted frame body when decoding replies with the codec', async () => {
    const server = await corruptingServer(70);
    fixtures.push(server);
    const r = await runLoad({ target: server.target, framing: 'lp4', verify: 'frames', connections: 1, depth: 1, messages: 10, size: 64 });
    assert.equal(r.errors.mismatch, 1);
    assert.match(r.errorSamples.mismatch ?? '', /reply to message 2 differs at body byte 2/);
  });

  it('counts replies that were never asked for as a mismatch', async () => {
    const server = await netServer((s, chunk) => s.write(Buffer.concat([chunk, chunk])));
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 1, depth: 1, messages: 5, size: 16 });
    assert.equal(r.errors.mismatch, 1);
    assert.match(r.errorSamples.mismatch ?? '', /more bytes than were sent/);
  });

  it('counts a server that closes early as closed, and stops once no connection is left', async () => {
    const server = await closingServer();
    fixtures.push(server);
    const started = Date.now();
    const r = await runLoad({ target: server.target, connections: 4, depth: 1, durationSec: 30 });
    assert.equal(r.errors.closed, 4);
    assert.match(r.errorSamples.closed ?? '', /server closed the connection with 1 replies due/);
    assert.ok(Date.now() - started < 20_000, 'the run ended when its last connection was lost, not at its deadline');
  });

  it('times out a reply that never comes', async () => {
    const server = await silentServer();
    fixtures.push(server);
    const r = await runLoad({ target: server.target, connections: 2, depth: 1, durationSec: 30, replyTimeoutMs: 300 });
    assert.equal(r.errors.timeout, 2);
    assert.match(r.errorSamples.timeout ?? '', /no reply within 300 ms \(1 due\)/);
  });

  it('times out a TLS handshake the server never answers', async () => {
    const server = await silentServer();
    fixtures.push(server);
    const r = await runLoad({ target: `tls://127.0.0.1:${server.port}`, connections: 2, durationSec: 5, connectTimeoutMs: 300 });
    assert.equal(r.errors.timeout, 2);
    assert.match(r.errorSamples.timeout ?? '', /no connection within 300 ms/);
  });

  it('rejects an untrusted certificate as a tls error, and echoes over TLS when told to trust it', async () => {
    const pki = await testPki();
    let frames = 0;
    const server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert },
      codec: (await import('../../src/codecs/registry.js')).codecFromName('lp4'),
      logger: silentLogger,
      handler: {
        message(conn, frame) {
          frames++;
          conn.send(frame);
        },
      },
    });
    try {
      const port = (server.address as { port: number }).port;
      const refused = await runLoad({ target: `tls://127.0.0.1:${port}`, connections: 1, durationSec: 5 });
      assert.equal(refused.errors.tls, 1, JSON.stringify(refused.errorSamples));
      const trusted = await runLoad({ target: `tls://127.0.0.1:${port}`, framing: 'lp4', tls: { ca: pki.caCert }, connections: 2, depth: 4, messages: 100 });
      assert.equal(trusted.errors.total, 0, JSON.stringify(trusted.errorSamples));
      assert.equal(trusted.received.msgs, 100);
      assert.equal(frames, 100);
    } finally {
      await server.close({ graceMs: 500 });
    }
  });

  it('rejects a bad option before connecting, naming it', async () => {
    await assert.rejects(runLoad({ target: 'quic://127.0.0.1:80' }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'ERR_INVALID_OPTION');
      assert.match(err.message ?? '', /scheme quic:\/\//);
      return true;
    });
    await assert.rejects(runLoad({ target: '127.0.0.1:7', framing: 'lp4', size: 3 }), { code: 'ERR_INVALID_OPTION' });
    await assert.rejects(runLoad({ target: '127.0.0.1:7', depth: 0 }), { code: 'ERR_INVALID_OPTION' });
  });
});
