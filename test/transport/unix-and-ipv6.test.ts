import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen, connect, lengthPrefixed, silentLogger, type Connection } from '../../src/index.js';
import { waitFor } from '../support/net.js';

const echo = { message: (c: Connection, f: Buffer) => void c.send(f) };

async function roundTrip(target: { port?: number; path?: string; host?: string }): Promise<string[]> {
  const got: string[] = [];
  const client = await connect({ ...target, codec: lengthPrefixed(), logger: silentLogger, handler: { message: (_c, f) => void got.push(f.toString()) } });
  client.send('x');
  client.send('yz');
  await waitFor(() => got.length === 2);
  await client.close();
  return got;
}

describe('unix sockets', () => {
  it('serves a unix socket path and reports the family as unix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-'));
    const path = join(dir, 'echo.sock');
    let family = '';
    const server = await listen({ path, codec: lengthPrefixed(), logger: silentLogger, handler: { ...echo, open: (c) => void (family = c.remoteFamily) } });
    assert.equal(server.transport, 'unix');
    assert.equal(server.url, `unix://${path}`);
    assert.deepEqual(await roundTrip({ path }), ['x', 'yz']);
    assert.equal(family, 'unix');
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces a stale socket file but refuses to steal a live one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-'));
    const path = join(dir, 'stale.sock');
    // A stale file left behind by a crashed server: a socket nobody listens on.
    const ghost = net.createServer();
    await new Promise<void>((r) => ghost.listen(path, r));
    await new Promise<void>((r) => {
      // Closing removes the file; recreate a plain file where it was, as a crash would leave it.
      ghost.close(() => r());
    });
    writeFileSync(path, '');
    const server = await listen({ path, codec: lengthPrefixed(), logger: silentLogger, handler: echo });
    assert.deepEqual(await roundTrip({ path }), ['x', 'yz']);
    await assert.rejects(listen({ path, handler: echo, logger: silentLogger }), { code: 'ERR_LISTEN_FAILED' });
    assert.ok(existsSync(path), 'the live socket is left alone');
    assert.deepEqual(await roundTrip({ path }), ['x', 'yz']);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('ipv6', () => {
  it('listens and connects on ::1', async () => {
    let family = '';
    const server = await listen({ host: '::1', port: 0, codec: lengthPrefixed(), logger: silentLogger, handler: { ...echo, open: (c) => void (family = c.remoteFamily) } });
    const address = server.address as { host: string; port: number; family: string };
    assert.equal(address.host, '::1');
    assert.equal(server.url, `tcp://[::1]:${address.port}`);
    assert.deepEqual(await roundTrip({ host: '::1', port: address.port }), ['x', 'yz']);
    assert.equal(family, 'IPv6');
    await server.close();
  });
});
