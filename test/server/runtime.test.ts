import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from 'selfsigned';
import { silentLogger } from '../../src/index.js';
import type { ResolvedListener } from '../../src/server/config/resolve.js';
import { Runtime } from '../../src/server/runtime.js';
import { ThreadPools } from '../../src/server/threads.js';
import type { TlsServerOptions } from '../../src/transport/options-schema.js';
import { occupiedPort, tlsPeer, type TlsPeer } from './support.js';

const threads = new ThreadPools({});
after(() => threads.close());

const DRAIN = { graceMs: 1_000, quietMs: 50 };

async function certificate(cn: string): Promise<TlsServerOptions> {
  const pems = await generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256' });
  return { cert: pems.cert, key: pems.private };
}

function echoListener(name: string, extra: Partial<ResolvedListener>): ResolvedListener {
  return { name, transport: 'tcp', host: '127.0.0.1', port: 0, codec: { name: 'lp4', options: {} }, plugin: { ref: 'echo', specifier: 'builtin:echo', options: {} }, ...extra };
}

const tlsListener = (name: string, tls: TlsServerOptions) => echoListener(name, { transport: 'tls', tls });

function newRuntime(): Runtime {
  return new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: process.cwd() });
}

function portOf(runtime: Runtime, name: string): number {
  const a = runtime.servers().get(name)?.address;
  assert.ok(a !== undefined && 'port' in a, `listener ${name} runs on a port`);
  return a.port;
}

/** The certificate a new connection to `name` gets, checked with one round trip. */
async function subjectOfNew(runtime: Runtime, name: string): Promise<string | undefined> {
  const peer = await tlsPeer(portOf(runtime, name));
  assert.equal(await peer.roundTrip('hello'), 'hello');
  peer.socket.destroy();
  return peer.subject;
}

describe('Runtime reload of TLS settings', () => {
  it('updates a listener whose only change is its certificate in place: same socket, open connections kept, new ones get the new certificate', async () => {
    const first = await certificate('first.example');
    const second = await certificate('second.example');
    const runtime = newRuntime();
    await runtime.start([tlsListener('secure', first)]);
    const server = runtime.servers().get('secure');
    const open: TlsPeer = await tlsPeer(portOf(runtime, 'secure'));
    assert.equal(await open.roundTrip('before'), 'before');

    const result = await runtime.apply([tlsListener('secure', { ...second, minVersion: 'TLSv1.3' })], DRAIN);
    assert.deepEqual(result, { started: [], stopped: [], updated: ['secure'], unchanged: [] });
    assert.equal(runtime.servers().get('secure'), server, 'the same listener object, not a replacement');
    assert.equal(await subjectOfNew(runtime, 'secure'), 'second.example');
    assert.equal(await open.roundTrip('after'), 'after');
    assert.equal(open.subject, 'first.example');
    assert.equal(open.ended, false);
    open.socket.destroy();
    await runtime.stop(DRAIN);
  });

  it('replaces a TLS listener when something besides its TLS settings changes too', async () => {
    const first = await certificate('first.example');
    const runtime = newRuntime();
    await runtime.start([tlsListener('secure', first)]);
    const server = runtime.servers().get('secure');
    const result = await runtime.apply([{ ...tlsListener('secure', await certificate('second.example')), codec: { name: 'lp2', options: {} } }], DRAIN);
    assert.deepEqual(result.updated, []);
    assert.deepEqual(result.stopped, ['secure']);
    assert.notEqual(runtime.servers().get('secure'), server);
    await runtime.stop(DRAIN);
  });

  it('rejects a reload whose TLS settings do not load, keeping every listener on its old settings', async () => {
    const first = await certificate('first.example');
    const second = await certificate('second.example');
    const other = await certificate('other.example');
    const runtime = newRuntime();
    await runtime.start([tlsListener('a', first), tlsListener('b', first)]);
    const open = await tlsPeer(portOf(runtime, 'b'));

    // a's new settings load; b's key belongs to another certificate. a comes first, so it was
    // already updated when b failed, and must be put back.
    const mismatched = { cert: second.cert, key: other.key };
    await assert.rejects(
      runtime.apply([tlsListener('a', second), tlsListener('b', mismatched), echoListener('extra', {})], DRAIN),
      (err: { code?: string; message?: string }) => err.code === 'ERR_TLS_CONFIG' && /listener b/.test(String(err.message)),
    );
    assert.deepEqual([...runtime.servers().keys()].sort(), ['a', 'b'], 'the listener the reload would add was not started');
    assert.equal(await subjectOfNew(runtime, 'a'), 'first.example');
    assert.equal(await subjectOfNew(runtime, 'b'), 'first.example');
    assert.equal(await open.roundTrip('still here'), 'still here');
    open.socket.destroy();

    // The runtime still knows the old settings as current: the same change again is a TLS update.
    const again = await runtime.apply([tlsListener('a', second), tlsListener('b', second)], DRAIN);
    assert.deepEqual(again.updated, ['a', 'b']);
    assert.equal(await subjectOfNew(runtime, 'b'), 'second.example');
    await runtime.stop(DRAIN);
  });

  it('puts the old TLS settings back when another listener of the reload cannot start', async () => {
    const { port: taken, release } = await occupiedPort();
    const runtime = newRuntime();
    try {
      await runtime.start([tlsListener('secure', await certificate('first.example'))]);
      await assert.rejects(
        runtime.apply([tlsListener('secure', await certificate('second.example')), echoListener('clash', { port: taken })], DRAIN),
        (err: { code?: string }) => err.code === 'ERR_LISTEN_FAILED',
      );
      assert.equal(await subjectOfNew(runtime, 'secure'), 'first.example');
      assert.deepEqual([...runtime.servers().keys()], ['secure']);
    } finally {
      await runtime.stop(DRAIN);
      await release();
    }
  });
});
