/**
 * STARTTLS over real sockets: a Capstan server and a Capstan client upgrade
 * mid-stream and keep their codec, handler and data; bytes injected after the
 * command are refused, never read as plaintext; a failed or stalled handshake
 * closes with a typed reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { connect, listen, lines, silentLogger, type CloseReason, type Connection, type ListenOptions } from '../../src/index.js';
import { testPki } from '../support/certs.js';
import { portOf, rawConnect, waitFor } from '../support/net.js';

interface Log {
  lines: string[];
  closes: Array<{ reason: CloseReason; code: string | undefined }>;
}

/** A line server: `STARTTLS` upgrades; anything else is echoed with whether it came over TLS. */
async function lineServer(log: Log, extra: Partial<ListenOptions> = {}) {
  const pki = await testPki();
  return listen<{ count: number }>({
    port: 0,
    codec: lines(),
    logger: silentLogger,
    startTls: { key: pki.serverKey, cert: pki.serverCert },
    handler: {
      open: (c) => void (c.data = { count: 0 }),
      message: (c, line) => {
        const text = line.toString();
        log.lines.push(`${c.tls === undefined ? 'plain' : 'tls'}:${text}`);
        c.data.count++;
        if (text === 'STARTTLS') {
          c.send('READY');
          c.startTls().catch(() => {});
          return;
        }
        c.send(`${c.tls === undefined ? 'plain' : 'tls'} ${c.data.count} ${text}`);
      },
      close: (_c, reason, error) => void log.closes.push({ reason, code: (error as { code?: string } | undefined)?.code }),
    },
    ...extra,
  } as ListenOptions<{ count: number }>);
}

describe('STARTTLS', () => {
  it('upgrades a Capstan client and server mid-stream, keeping codec, handler and per-connection data', async () => {
    const pki = await testPki();
    const log: Log = { lines: [], closes: [] };
    const server = await lineServer(log);
    const got: string[] = [];
    let waiting: ((line: string) => void) | null = null;
    const client = await connect({
      port: portOf(server),
      codec: lines(),
      logger: silentLogger,
      handler: {
        message: (_c, line) => {
          got.push(line.toString());
          waiting?.(line.toString());
        },
      },
    });
    const next = () => new Promise<string>((r) => (waiting = r));
    const conn = client.connection as Connection;
    let reply = next();
    conn.send('hello');
    assert.equal(await reply, 'plain 1 hello');
    reply = next();
    conn.send('STARTTLS');
    assert.equal(await reply, 'READY');
    const info = await conn.startTls({ ca: pki.caCert, servername: 'localhost' });
    assert.match(info.protocol ?? '', /^TLSv1\.[23]$/);
    reply = next();
    conn.send('secret');
    assert.equal(await reply, 'tls 3 secret');
    assert.deepEqual(log.lines, ['plain:hello', 'plain:STARTTLS', 'tls:secret']);
    assert.equal(server.stats().starttls.upgraded, 1);
    await client.close();
    await server.close();
  });

  it('refuses bytes sent after the STARTTLS command, before the handshake: the injection is never read', async () => {
    const log: Log = { lines: [], closes: [] };
    const server = await lineServer(log);
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    // The classic attack: plaintext commands smuggled behind STARTTLS in the same packet.
    peer.socket.write('STARTTLS\r\nINJECTED COMMAND\r\n');
    await peer.ended;
    peer.socket.destroy();
    await waitFor(() => log.closes.length === 1);
    assert.deepEqual(log.lines, ['plain:STARTTLS'], 'the injected line never reached the handler');
    assert.deepEqual(log.closes[0], { reason: 'protocol-error', code: 'ERR_STARTTLS' });
    assert.equal(server.stats().starttls.refused, 1);
    await server.close();
  });

  it('refuses plaintext that arrives after the reply and before the ClientHello', async () => {
    const log: Log = { lines: [], closes: [] };
    const server = await lineServer(log);
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    peer.socket.write('STARTTLS\r\n');
    await peer.waitBytes('READY\r\n'.length);
    peer.socket.write('NOT TLS\r\n');
    await peer.ended;
    peer.socket.destroy();
    await waitFor(() => log.closes.length === 1);
    assert.equal(log.closes[0]?.reason === 'protocol-error' || log.closes[0]?.reason === 'tls-error', true, JSON.stringify(log.closes));
    assert.deepEqual(log.lines, ['plain:STARTTLS']);
    await server.close();
  });

  it('closes with handshake-timeout when the peer never starts the handshake', async () => {
    const log: Log = { lines: [], closes: [] };
    const server = await lineServer(log, { limits: { handshakeTimeoutMs: 300 } });
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    peer.socket.write('STARTTLS\r\n');
    await waitFor(() => log.closes.length === 1, 20_000, 'the stalled upgrade to close');
    assert.deepEqual(log.closes[0], { reason: 'handshake-timeout', code: 'ERR_STARTTLS' });
    peer.socket.destroy();
    await server.close();
  });

  it('rejects startTls on a listener without startTls settings, and keeps the connection', async () => {
    let outcome = '';
    const server = await listen({
      port: 0,
      codec: lines(),
      logger: silentLogger,
      handler: {
        message: (c) => {
          c.startTls().then(
            () => (outcome = 'upgraded'),
            (err: { code?: string }) => {
              outcome = String(err.code);
              c.send('still here');
            },
          );
        },
      },
    });
    const peer = await rawConnect({ port: portOf(server), host: '127.0.0.1' });
    peer.socket.write('STARTTLS\r\n');
    assert.equal((await peer.waitBytes('still here\r\n'.length)).toString(), 'still here\r\n');
    assert.equal(outcome, 'ERR_STARTTLS');
    peer.socket.destroy();
    await server.close();
  });

  it('works with a plain Node TLS client that upgrades its own socket', async () => {
    const pki = await testPki();
    const log: Log = { lines: [], closes: [] };
    const server = await lineServer(log);
    const raw = net.connect({ port: portOf(server), host: '127.0.0.1' });
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.write('STARTTLS\r\n');
    await new Promise<void>((r) => raw.once('data', () => r()));
    const t = tls.connect({ socket: raw, ca: pki.caCert, servername: 'localhost' });
    await new Promise<void>((r) => t.once('secureConnect', () => r()));
    t.write('over tls\n');
    const reply = await new Promise<Buffer>((r) => t.once('data', (d: Buffer) => r(d)));
    assert.equal(reply.toString(), 'tls 2 over tls\r\n');
    t.destroy();
    await server.close();
  });
});
