import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { listen, connect, lengthPrefixed, silentLogger } from '../../src/index.js';

const handler = {};

async function rejects(promise: Promise<unknown>, code: string, mentions: string): Promise<void> {
  await assert.rejects(promise, (err: { code?: string; message?: string; path?: string }) => {
    assert.equal(err.code, code);
    assert.match(err.message ?? '', new RegExp(mentions.replace(/\./g, '\\.')));
    return true;
  });
}

describe('listen options', () => {
  it('rejects an unknown key, naming it, before binding', async () => {
    await rejects(listen({ port: 0, handler, logger: silentLogger, limts: {} } as never), 'ERR_UNKNOWN_OPTION', 'limts');
  });

  it('suggests the option a misspelt key probably meant', async () => {
    await rejects(listen({ prot: 7000, handler, logger: silentLogger } as never), 'ERR_UNKNOWN_OPTION', 'unknown option prot; did you mean port?');
    await rejects(listen({ port: 0, handler, logger: silentLogger, limits: { maxConections: 5 } } as never), 'ERR_UNKNOWN_OPTION', 'did you mean limits.maxConnections?');
  });

  it('suggests nothing for a key close to no option', async () => {
    await assert.rejects(listen({ port: 0, handler, logger: silentLogger, colour: 'red' } as never), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'ERR_UNKNOWN_OPTION');
      assert.doesNotMatch(err.message ?? '', /did you mean/);
      assert.match(err.message ?? '', /unknown option colour/);
      return true;
    });
  });

  it('rejects an unknown nested limit, naming its path', async () => {
    await rejects(listen({ port: 0, handler, logger: silentLogger, limits: { maxConnection: 5 } } as never), 'ERR_UNKNOWN_OPTION', 'limits.maxConnection');
  });

  it('rejects an ill-typed limit with its path and the value', async () => {
    await rejects(listen({ port: 0, handler, logger: silentLogger, limits: { idleTimeoutMs: -5 } }), 'ERR_INVALID_OPTION', 'limits.idleTimeoutMs');
    await rejects(listen({ port: 70000, handler, logger: silentLogger }), 'ERR_INVALID_OPTION', 'port');
    await rejects(listen({ port: 0, handler, logger: silentLogger, noDelay: 'yes' } as never), 'ERR_INVALID_OPTION', 'noDelay');
  });

  it('requires a handler and a path for unix and key material for tls', async () => {
    await rejects(listen({ port: 0 } as never), 'ERR_INVALID_OPTION', 'handler');
    await rejects(listen({ transport: 'unix', handler }), 'ERR_INVALID_OPTION', 'path');
    await rejects(listen({ transport: 'tls', port: 0, handler }), 'ERR_INVALID_OPTION', 'tls');
    await rejects(listen({ port: 0, handler, tls: { cert: 'x' } }), 'ERR_TLS_CONFIG', 'key and cert');
  });

  it('binds nothing when options are invalid', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await assert.rejects(listen({ port, handler, logger: silentLogger, limits: { maxConnections: 0 } }));
    // The port is still free: a plain server can take it.
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((r) => again.close(() => r()));
  });

  it('reports a port in use as ERR_LISTEN_FAILED with a plain explanation', async () => {
    const first = await listen({ port: 0, handler, logger: silentLogger });
    const port = (first.address as { port: number }).port;
    await rejects(listen({ port, handler, logger: silentLogger }), 'ERR_LISTEN_FAILED', 'in use');
    await first.close();
  });

  it('validates codec options, naming the key', () => {
    assert.throws(() => lengthPrefixed({ lengthBytes: 5 as never }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => lengthPrefixed({ lenghtBytes: 2 } as never), (e: { code: string; message: string }) => e.code === 'ERR_UNKNOWN_OPTION' && e.message.includes('lenghtBytes; did you mean lengthBytes?'));
  });

  it('validates connect options the same way', async () => {
    assert.throws(() => connect({ port: 1, handler, retry: true } as never), { code: 'ERR_UNKNOWN_OPTION' });
    assert.throws(() => connect({ handler } as never), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => connect({ host: '127.0.0.1', prot: 7000, handler } as never), { code: 'ERR_UNKNOWN_OPTION', message: 'connect: unknown option prot; did you mean port?' });
    assert.throws(() => connect({ port: 1, handler, reconnect: { maxAttemps: 3 } } as never), { code: 'ERR_UNKNOWN_OPTION', message: /did you mean reconnect\.maxAttempts\?/ });
  });
});
