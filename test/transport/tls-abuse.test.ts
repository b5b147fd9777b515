/**
 * Hostile TLS peers: ones that give up during the handshake (FIN, RST, a
 * rejected certificate) and ones that renegotiate. Each must be released at
 * once with a typed, counted reason, without waiting for a timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { spawn, spawnSync } from 'node:child_process';
import { listen, raw, silentLogger, type CloseReason, type Connection } from '../../src/index.js';
import { testPki } from '../support/certs.js';
import { portOf, waitFor } from '../support/net.js';

/** The first bytes of a TLS record carrying a ClientHello: enough for the server to start a handshake. */
const HELLO_START = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xf0, 0x01]);

async function tlsServer(closes: Array<{ reason: CloseReason; code: string | undefined }>) {
  const pki = await testPki();
  return listen({
    port: 0,
    tls: { key: pki.serverKey, cert: pki.serverCert },
    codec: raw(),
    // No timeout could release these connections: only noticing the peer can.
    limits: { handshakeTimeoutMs: 0 },
    handler: {
      message: (c: Connection, f: Buffer) => void c.send(f),
      close: (_c, reason, error) => void closes.push({ reason, code: (error as { code?: string } | undefined)?.code }),
    },
    logger: silentLogger,
  });
}

function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version']).status === 0;
}

describe('tls: peers that abandon the handshake', () => {
  it('releases a connection whose peer sends FIN mid-handshake at once, as a counted TLS failure, with handshakeTimeoutMs 0', async () => {
    const server = await tlsServer([]);
    const peers: net.Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = net.connect({ port: portOf(server), host: '127.0.0.1' });
      s.on('error', () => {});
      s.once('connect', () => s.end(HELLO_START));
      peers.push(s);
    }
    await waitFor(() => server.stats().accepted === 20, 10_000, '20 accepted');
    await waitFor(() => server.stats().active === 0, 10_000, 'every abandoned handshake released');
    const stats = server.stats();
    assert.equal(stats.closes['tls-error'], 20);
    assert.equal(stats.tlsHandshakeFailures, 20);
    assert.equal(stats.closes['handshake-timeout'], 0);
    for (const p of peers) p.destroy();
    await server.close();
  });

  it('releases connections from TLS clients that reject the server certificate, keeping `active` right', async () => {
    const server = await tlsServer([]);
    const errors: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, () => {
        // No CA given: the client refuses the test CA's certificate and walks away.
        const c = tls.connect({ port: portOf(server), host: '127.0.0.1', servername: 'localhost' });
        return new Promise<void>((resolve) => {
          c.once('error', (e: NodeJS.ErrnoException) => {
            errors.push(e.code ?? e.message);
            resolve();
          });
          c.once('secureConnect', () => resolve());
        });
      }),
    );
    assert.equal(errors.length, 20, 'every client refused the certificate');
    await waitFor(() => server.stats().accepted === 20 && server.stats().active === 0, 10_000, 'every refused handshake released');
    assert.equal(server.stats().tlsHandshakeFailures, 20);
    assert.equal(server.stats().closes['tls-error'], 20);
    await server.close();
  });

  it('releases a connection whose peer resets mid-handshake, counted as a TLS failure', async () => {
    const server = await tlsServer([]);
    for (let i = 0; i < 10; i++) {
      const s = net.connect({ port: portOf(server), host: '127.0.0.1' });
      s.on('error', () => {});
      s.once('connect', () => {
        s.write(HELLO_START);
        setTimeout(() => s.resetAndDestroy(), 20);
      });
    }
    await waitFor(() => server.stats().accepted === 10 && server.stats().active === 0, 10_000, 'every reset handshake released');
    const stats = server.stats();
    assert.equal(stats.tlsHandshakeFailures, 10);
    assert.equal(stats.closes['peer-reset'] + stats.closes['tls-error'], 10);
    await server.close();
  });
});

describe('tls: renegotiation', () => {
  it('closes a TLS 1.2 connection whose client renegotiates, with tls-error and ERR_TLS_RENEGOTIATION, and keeps serving others', async () => {
    const closes: Array<{ reason: CloseReason; code: string | undefined }> = [];
    const server = await tlsServer(closes);
    const pki = await testPki();
    const attacker = tls.connect({ port: portOf(server), host: '127.0.0.1', ca: pki.caCert, servername: 'localhost', maxVersion: 'TLSv1.2' });
    attacker.on('error', () => {});
    await new Promise<void>((r) => attacker.once('secureConnect', () => r()));
    let renegotiated = 0;
    const closed = new Promise<void>((r) => attacker.once('close', () => r()));
    const again = () =>
      attacker.renegotiate({ rejectUnauthorized: false }, (err) => {
        if (err === null && renegotiated++ < 100) again();
      });
    again();
    await closed;
    assert.equal(renegotiated, 0, 'no renegotiation completed');
    await waitFor(() => closes.length === 1, 10_000, 'the server closed the connection');
    assert.deepEqual(closes[0], { reason: 'tls-error', code: 'ERR_TLS_RENEGOTIATION' });

    const good = tls.connect({ port: portOf(server), host: '127.0.0.1', ca: pki.caCert, servername: 'localhost' });
    await new Promise<void>((r) => good.once('secureConnect', () => r()));
    good.write('still serving');
    const [echo] = (await new Promise((r) => good.once('data', (d: Buffer) => r([d])))) as [Buffer];
    assert.equal(echo.toString(), 'still serving');
    good.destroy();
    await server.close();
  });

  it('refuses renegotiation from openssl s_client (R) but keeps a TLS 1.3 connection through key updates (k, K)', async (t) => {
    if (!hasOpenssl()) {
      if (process.env.CI === 'true') assert.fail('openssl is needed (the CI script installs it)');
      return t.skip('openssl not found');
    }
    const closes: Array<{ reason: CloseReason; code: string | undefined }> = [];
    const server = await tlsServer(closes);
    const port = portOf(server);

    // Interactive s_client reads one command per line: k and K send TLS 1.3 KeyUpdate messages, R renegotiates.
    const sClient = (version: string) => {
      const p = spawn('openssl', ['s_client', version, '-connect', `127.0.0.1:${port}`, '-servername', 'localhost'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      // s_client reports commands (KEYUPDATE, RENEGOTIATING) on stderr, received data on stdout.
      p.stdout.on('data', (d: Buffer) => void (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => void (out += d.toString()));
      const exited = new Promise<void>((r) => p.once('close', () => r()));
      const timer = setTimeout(() => p.kill(), 30_000);
      void exited.then(() => clearTimeout(timer));
      return {
        out: () => out,
        exited,
        send: (line: string) => void p.stdin.write(`${line}\n`),
        waitFor: (text: string) => waitFor(() => out.includes(text), 15_000, `s_client to print ${JSON.stringify(text)}`),
        end: () => p.stdin.end(),
        kill: () => p.kill(),
      };
    };

    const kept = sClient('-tls1_3');
    t.after(() => kept.kill());
    await kept.waitFor('---\n'); // the session summary: the handshake is done
    kept.send('echo-0');
    await kept.waitFor('echo-0\n');
    // A command must arrive in a read of its own, so each waits for s_client to act on the one before.
    let updates = 0;
    for (const [command, line] of [['k', 'echo-1'], ['K', 'echo-2']] as const) {
      kept.send(command);
      updates++;
      await waitFor(() => kept.out().split('KEYUPDATE').length > updates, 15_000, 'the key update');
      kept.send(line);
      await kept.waitFor(`${line}\n`);
    }
    kept.end();
    await kept.exited;

    const before = closes.length;
    assert.ok(!closes.some((c) => c.code === 'ERR_TLS_RENEGOTIATION'), 'key updates were not taken for renegotiation');
    const reneg = sClient('-tls1_2');
    t.after(() => reneg.kill());
    await reneg.waitFor('---\n');
    reneg.send('echo-0');
    await reneg.waitFor('echo-0\n');
    reneg.send('R');
    await reneg.exited; // the server closed the connection: s_client stops by itself
    await waitFor(() => closes.length > before, 10_000, 'the renegotiating connection closed');
    assert.deepEqual(closes.at(-1), { reason: 'tls-error', code: 'ERR_TLS_RENEGOTIATION' });
    await server.close();
  });
});
