import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen, connect, lengthPrefixed, silentLogger, ManualClock, TimerWheel, type Connection, type TlsInfo } from '../../src/index.js';
import { testPki } from '../support/certs.js';
import { lp4, portOf, waitFor } from '../support/net.js';
import { recordingHandler } from '../support/recorder.js';

const echo = { message: (c: Connection, f: Buffer) => void c.send(f) };

describe('tls transport', () => {
  it('echoes length-prefixed frames over TLS 1.3 with a verified server certificate', async () => {
    const pki = await testPki();
    const server = await listen({ port: 0, tls: { key: pki.serverKey, cert: pki.serverCert }, codec: lengthPrefixed(), handler: echo, logger: silentLogger });
    assert.equal(server.transport, 'tls');
    const got: string[] = [];
    const client = await connect({
      port: portOf(server),
      tls: { ca: pki.caCert, servername: 'localhost' },
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: { message: (_c, f) => void got.push(f.toString()) },
    });
    assert.equal(client.connection?.tls?.protocol, 'TLSv1.3');
    client.send('secret one');
    client.send('secret two');
    await waitFor(() => got.length === 2);
    assert.deepEqual(got, ['secret one', 'secret two']);
    await client.close();
    await server.close();
  });

  it('negotiates ALPN and reports it on the connection', async () => {
    const pki = await testPki();
    let info: TlsInfo | undefined;
    const server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert, alpnProtocols: ['capstan/1', 'other'] },
      handler: { open: (c) => void (info = c.tls) },
      logger: silentLogger,
    });
    const client = await connect({ port: portOf(server), tls: { ca: pki.caCert, servername: 'localhost', alpnProtocols: ['capstan/1'] }, handler: {}, logger: silentLogger });
    await waitFor(() => info !== undefined);
    assert.equal(info?.alpnProtocol, 'capstan/1');
    await client.close();
    await server.close();
  });

  it('refuses TLS 1.1 and below by default', async () => {
    const pki = await testPki();
    const server = await listen({ port: 0, tls: { key: pki.serverKey, cert: pki.serverCert }, handler: {}, logger: silentLogger });
    const socket = tls.connect({ port: portOf(server), host: '127.0.0.1', ca: pki.caCert, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error];
    assert.ok(err instanceof Error);
    await waitFor(() => server.stats().tlsHandshakeFailures === 1, 30_000, 'the failed handshake to be counted');
    await server.close();
  });

  it('requires a client certificate signed by the configured CA when clientCertificate is required', async () => {
    const pki = await testPki();
    let peerCn = '';
    const server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, clientCertificate: 'required' },
      handler: {
        open(c) {
          peerCn = String(c.tls?.peerCertificate()?.subject.CN);
          assert.equal(c.tls?.authorized, true);
        },
        ...echo,
      },
      logger: silentLogger,
    });
    const port = portOf(server);
    const good = await connect({ port, tls: { ca: pki.caCert, servername: 'localhost', key: pki.clientKey, cert: pki.clientCert }, handler: {}, logger: silentLogger });
    await waitFor(() => peerCn !== '');
    assert.equal(peerCn, 'test-client');
    await good.close();
    // No certificate, and a certificate from another CA: the handshake (or the first read) fails.
    for (const creds of [{}, { key: pki.strangerKey, cert: pki.strangerCert }]) {
      await assert.rejects(
        connect({ port, tls: { ca: pki.caCert, servername: 'localhost', ...creds }, handler: {}, logger: silentLogger, connectTimeoutMs: 30_000 }).then(async (c) => {
          // TLS 1.3 reports client-certificate rejection after the client's handshake completes.
          await waitFor(() => c.connection === null, 30_000, 'the server to drop the connection');
          throw new Error('rejected after handshake');
        }),
      );
    }
    await waitFor(() => server.stats().tlsHandshakeFailures === 2, 30_000, 'both failures counted');
    await server.close();
  });

  it('accepts clients without a certificate when clientCertificate is optional, and says who verified', async () => {
    const pki = await testPki();
    const seen: Array<{ authorized: boolean; cn: string | undefined }> = [];
    const server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, clientCertificate: 'optional' },
      handler: {
        open(c) {
          seen.push({ authorized: c.tls?.authorized ?? false, cn: c.tls?.peerCertificate()?.subject.CN as string | undefined });
        },
      },
      logger: silentLogger,
    });
    const port = portOf(server);
    const anonymous = await connect({ port, tls: { ca: pki.caCert, servername: 'localhost' }, handler: {}, logger: silentLogger });
    await waitFor(() => seen.length === 1);
    const known = await connect({ port, tls: { ca: pki.caCert, servername: 'localhost', key: pki.clientKey, cert: pki.clientCert }, handler: {}, logger: silentLogger });
    await waitFor(() => seen.length === 2);
    assert.deepEqual(seen, [
      { authorized: false, cn: undefined },
      { authorized: true, cn: 'test-client' },
    ]);
    await anonymous.close();
    await known.close();
    await server.close();
  });

  it('destroys a connection that never completes the handshake after handshakeTimeoutMs, without calling open', async () => {
    const pki = await testPki();
    const clock = new ManualClock(5_000_000);
    const wheel = new TimerWheel({ tickMs: 100, clock, autoTick: false });
    const { handler, rec } = recordingHandler();
    const server = await listen({
      port: 0,
      tls: { key: pki.serverKey, cert: pki.serverCert },
      handler,
      logger: silentLogger,
      timerWheel: wheel,
      limits: { handshakeTimeoutMs: 3_000 },
    });
    // A plain TCP client that says nothing: the TLS handshake never starts.
    const socket = net.connect({ port: portOf(server), host: '127.0.0.1' });
    await once(socket, 'connect');
    const closed = new Promise((r) => socket.once('close', r));
    socket.on('error', () => {});
    await waitFor(() => server.stats().active === 1);
    for (let t = 0; t < 3_200; t += 100) {
      clock.advance(100);
      wheel.tick();
    }
    await closed;
    await waitFor(() => server.stats().active === 0);
    const stats = server.stats();
    assert.equal(stats.timeouts.handshake, 1);
    assert.equal(stats.tlsHandshakeFailures, 1);
    assert.deepEqual(rec.events, [], 'a connection that never opened is never reported');
    await server.close();
  });

  it('counts garbage instead of a ClientHello as a failed handshake and keeps serving others', async () => {
    const pki = await testPki();
    const server = await listen({ port: 0, tls: { key: pki.serverKey, cert: pki.serverCert }, codec: lengthPrefixed(), handler: echo, logger: silentLogger });
    const socket = net.connect({ port: portOf(server), host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => socket.once('close', r));
    await waitFor(() => server.stats().tlsHandshakeFailures === 1);
    const got: Buffer[] = [];
    const client = await connect({ port: portOf(server), tls: { ca: pki.caCert, servername: 'localhost' }, codec: lengthPrefixed(), handler: { message: (_c, f) => void got.push(f) }, logger: silentLogger });
    client.send('still fine');
    await waitFor(() => got.length === 1);
    assert.deepEqual(got[0], Buffer.from('still fine'));
    await client.close();
    await server.close();
    void lp4;
  });

  it('serves a new certificate to new connections after updateTls, keeping open ones', async () => {
    const pki = await testPki();
    const server = await listen({ port: 0, tls: { key: pki.serverKey, cert: pki.serverCert }, codec: lengthPrefixed(), handler: echo, logger: silentLogger });
    const port = portOf(server);
    const peerCn = async (): Promise<string> => {
      const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      await once(socket, 'secureConnect');
      const cn = String(socket.getPeerCertificate().subject.CN);
      socket.destroy();
      return cn;
    };
    const early = await connect({ port, tls: { ca: pki.caCert, servername: 'localhost' }, codec: lengthPrefixed(), handler: {}, logger: silentLogger });
    assert.equal(await peerCn(), 'localhost');
    assert.throws(() => server.updateTls({ cert: pki.strangerCert }), { code: 'ERR_TLS_CONFIG' });
    assert.equal(await peerCn(), 'localhost', 'a rejected update keeps the old certificate');
    server.updateTls({ key: pki.strangerKey, cert: pki.strangerCert });
    assert.equal(await peerCn(), 'stranger');
    assert.equal(early.send('still open'), true, 'connections made before the update stay up');
    await early.close();
    await server.close();
  });

  it('loads its key and certificate from a PKCS#12 (pfx) bundle with a passphrase', async (t) => {
    const pki = await testPki();
    const dir = mkdtempSync(join(tmpdir(), 'capstan-pfx-'));
    writeFileSync(join(dir, 'key.pem'), pki.serverKey);
    writeFileSync(join(dir, 'cert.pem'), pki.serverCert);
    const made = spawnSync('openssl', ['pkcs12', '-export', '-inkey', 'key.pem', '-in', 'cert.pem', '-passout', 'pass:s3cret', '-out', 'server.pfx'], { cwd: dir });
    if (made.error !== undefined || made.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      if (process.env.CI === 'true') assert.fail(`openssl is needed to make the pfx bundle: ${made.error?.message ?? made.stderr.toString()}`);
      return t.skip('openssl not found: cannot make a pfx bundle here');
    }
    const pfx = readFileSync(join(dir, 'server.pfx'));
    rmSync(dir, { recursive: true, force: true });
    await assert.rejects(listen({ port: 0, tls: { pfx, passphrase: 'wrong' }, handler: echo, logger: silentLogger }), { code: 'ERR_TLS_CONFIG' });
    const server = await listen({ port: 0, tls: { pfx, passphrase: 's3cret' }, codec: lengthPrefixed(), handler: echo, logger: silentLogger });
    const got: string[] = [];
    const client = await connect({ port: portOf(server), tls: { ca: pki.caCert, servername: 'localhost' }, codec: lengthPrefixed(), logger: silentLogger, handler: { message: (_c, f) => void got.push(f.toString()) } });
    client.send('from pfx');
    await waitFor(() => got.length === 1);
    assert.deepEqual(got, ['from pfx']);
    await client.close();
    await server.close();
  });
});
