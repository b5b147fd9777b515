/** wss:// — the WebSocket client over TLS to a Capstan TLS listener with a certificate from a test CA. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, isCapstanError, listen, silentLogger, websocket, type Server } from '../../src/index.js';
import { testPki, type TestPki } from '../support/certs.js';
import { recorder } from './client-support.js';

describe('the WebSocket client over TLS (wss://)', () => {
  let pki: TestPki;
  let server: Server;
  let port: number;
  const servernames: Array<string | false | null | undefined> = [];
  before(async () => {
    pki = await testPki();
    server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert },
      logger: silentLogger,
      websocket: websocket({
        path: '/secure',
        handler: {
          open: (s) => void servernames.push(s.conn.tls?.servername),
          message: (s, data, isBinary) => void s.send(data, isBinary),
        },
      }),
    });
    port = (server.address as { port: number }).port;
  });
  after(async () => {
    await server.close();
  });

  it('echoes over TLS when the CA is trusted, sending the URL’s host name as SNI', async () => {
    const r = recorder();
    const client = await connect({ url: `wss://localhost:${port}/secure`, tls: { ca: pki.caCert }, handler: r.handler, logger: silentLogger });
    const facts = client.socket?.conn.tls;
    assert.ok(facts !== undefined, 'the connection is TLS');
    assert.equal(facts.authorized, true);
    assert.equal(servernames.at(-1), 'localhost');
    client.send('secret');
    client.send(Buffer.alloc(100_000, 1));
    await r.until(() => r.messages.length === 2, 'both echoes');
    assert.equal(r.messages[0]?.data.toString(), 'secret');
    assert.equal(r.messages[1]?.data.length, 100_000);
    await client.close();
  });

  it('passes servername through for an address URL', async () => {
    const client = await connect({ url: `wss://127.0.0.1:${port}/secure`, tls: { ca: pki.caCert, servername: 'localhost' }, handler: {}, logger: silentLogger });
    assert.equal(servernames.at(-1), 'localhost');
    await client.close();
  });

  it('refuses a certificate it cannot verify, unless rejectUnauthorized is false', async () => {
    await assert.rejects(
      connect({ url: `wss://localhost:${port}/secure`, handler: {}, logger: silentLogger }),
      (err: unknown) => isCapstanError(err, 'ERR_CONNECT_FAILED') && /certificate/i.test(err.message),
    );
    const r = recorder();
    const client = await connect({ url: `wss://localhost:${port}/secure`, tls: { rejectUnauthorized: false }, handler: r.handler, logger: silentLogger });
    assert.equal(client.socket?.conn.tls?.authorized, false);
    client.send('anyway');
    await r.until(() => r.messages.length === 1, 'the echo');
    await client.close();
  });

  it('speaks TLS only for wss:// (a ws:// URL to the TLS port gets no 101)', async () => {
    await assert.rejects(connect({ url: `ws://localhost:${port}/secure`, connectTimeoutMs: 2_000, handler: {}, logger: silentLogger }), (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && /closed the connection/.test(err.message));
    assert.throws(() => connect({ url: `ws://localhost:${port}/secure`, tls: { ca: pki.caCert }, handler: {} }), (err: unknown) => isCapstanError(err, 'ERR_INVALID_OPTION') && err.path === 'tls');
  });
});
