import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError } from '../../src/errors.js';
import { resolveConfig, type ResolvedConfig } from '../../src/server/config/resolve.js';
import { parseConfigText } from '../../src/server/config/source.js';
import { Runtime } from '../../src/server/runtime.js';
import { ThreadPools } from '../../src/server/threads.js';
import { silentLogger } from '../../src/index.js';
import { relayed, udpEcho, udpPeer } from '../support/udp.js';
import { tempDir } from './support.js';

const tmp = tempDir('capstan-udp-config-');
after(() => tmp.cleanup());

function resolveText(text: string): Promise<ResolvedConfig> {
  return resolveConfig(parseConfigText('capstan.yaml', tmp.dir, text));
}

async function problems(text: string): Promise<string[]> {
  try {
    await resolveText(text);
  } catch (err) {
    assert.ok(isCapstanError(err, 'ERR_CONFIG'), `expected ERR_CONFIG, got ${String(err)}`);
    return err.message.split('\n').map((l) => l.replace(/^capstan\.yaml:\d+:\d+: /, ''));
  }
  assert.fail('the config was accepted');
}

describe('udp listeners in a config file', () => {
  it('resolve with their limits, and may share a port number with a tcp listener', async () => {
    const config = await resolveText(
      [
        'listeners:',
        '  - { name: u, transport: udp, port: 7002, plugin: echo, limits: { maxSessions: 50, datagramsPerSecond: 10, idleTimeoutMs: 5000 } }',
        '  - { name: t, port: 7002, plugin: echo }',
      ].join('\n'),
    );
    assert.deepEqual(
      config.listeners.map((l) => [l.name, l.transport, l.port]),
      [
        ['u', 'udp', 7002],
        ['t', 'tcp', 7002],
      ],
    );
    assert.deepEqual(config.listeners[0]?.limits, { maxSessions: 50, datagramsPerSecond: 10, idleTimeoutMs: 5000 });
  });

  it('name the stream settings and limits that do not apply to udp, and the udp limits on a tcp listener', async () => {
    const lines = await problems(
      [
        'listeners:',
        '  - { name: u, transport: udp, port: 7002, plugin: echo, noDelay: true, compression: deflate, limits: { maxConnections: 5 } }',
        '  - { name: t, port: 7000, plugin: echo, limits: { maxSessions: 5 } }',
        '  - { name: v, transport: udp, port: 7002, plugin: echo }',
      ].join('\n'),
    );
    assert.deepEqual(lines, [
      'listeners[0].noDelay: does not apply to transport udp',
      'listeners[0].compression: does not apply to transport udp',
      'listeners[0].limits.maxConnections: is a limit of stream transports (tcp, tls, unix), not udp',
      'listeners[1].limits.maxSessions: is a limit of transport udp, not tcp',
      'listeners[2].port: port 7002 is also used by listeners[0] (u)',
    ]);
  });

  it('refuse a plugin that has no datagram handler', async () => {
    tmp.write('stream-only.mjs', "export default { name: 'stream-only', handler: () => ({}) };\n");
    const lines = await problems(['listeners:', '  - { name: u, transport: udp, port: 0, plugin: ./stream-only.mjs }'].join('\n'));
    assert.deepEqual(lines, ['listeners[0].plugin: plugin stream-only does not serve udp listeners (it has no datagramHandler)']);
  });

  it('run with the echo plugin answering datagrams, and report the udp counters in the runtime snapshot', async () => {
    const config = await resolveText(['listeners:', '  - { name: u, transport: udp, port: 0, plugin: echo }'].join('\n'));
    const threads = new ThreadPools({});
    const runtime = new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: tmp.dir });
    try {
      const [address] = await runtime.start(config.listeners);
      assert.equal(address?.transport, 'udp');
      const port = Number(address?.address.split(':')[1]);
      assert.equal(await udpEcho(port, 'ping'), 'ping');
      const stats = runtime.servers().get('u')?.stats();
      assert.equal(stats?.udp?.datagramsIn, 1);
      assert.equal(stats?.accepted, 1);
    } finally {
      await runtime.stop({ graceMs: 100, quietMs: 10 });
      await threads.close();
    }
  });

  it('read PROXY protocol v2 on each datagram with proxyProtocol, as stream listeners do', async () => {
    const config = await resolveText(['listeners:', "  - { name: u, transport: udp, port: 0, plugin: echo, proxyProtocol: { mode: required, trusted: ['127.0.0.1'] } }"].join('\n'));
    assert.deepEqual(config.listeners[0]?.proxyProtocol, { mode: 'required', trusted: ['127.0.0.1'] });
    const threads = new ThreadPools({});
    const runtime = new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: tmp.dir });
    try {
      const [address] = await runtime.start(config.listeners);
      const port = Number(address?.address.split(':')[1]);
      const proxy = await udpPeer(port);
      try {
        await proxy.send('no header');
        await proxy.send(relayed('198.51.100.1', 1234, 'relayed'));
        assert.equal(String((await proxy.waitFor(1))[0]), 'relayed');
      } finally {
        await proxy.close();
      }
      const server = runtime.servers().get('u');
      assert.equal(server?.stats().udp?.drops['proxy-missing'], 1);
      const sessions = server !== undefined && server.transport === 'udp' ? [...server.sessions()].map((s) => `${s.remoteAddress}:${s.remotePort}`) : [];
      assert.deepEqual(sessions, ['198.51.100.1:1234']);
    } finally {
      await runtime.stop({ graceMs: 100, quietMs: 10 });
      await threads.close();
    }
  });

  it('name a proxyProtocol.trusted entry that is not an address or range, before anything binds', async () => {
    const lines = await problems(['listeners:', "  - { name: u, transport: udp, port: 0, plugin: echo, proxyProtocol: { mode: optional, trusted: ['10.0.0.0/33'] } }"].join('\n'));
    assert.deepEqual(lines, ['listeners[0].proxyProtocol.trusted.0: must be an IP address or CIDR range (10.0.0.0/8, fd00::/8), got "10.0.0.0/33"']);
  });

  it('run only in the first worker process, so that one process holds all the sessions', async () => {
    const config = await resolveText(['listeners:', '  - { name: u, transport: udp, port: 0, plugin: echo }', '  - { name: t, port: 0, plugin: echo }'].join('\n'));
    const threads = new ThreadPools({});
    const second = new Runtime({ worker: '2', logger: silentLogger, threads, configDir: tmp.dir });
    try {
      assert.deepEqual((await second.start(config.listeners)).map((a) => a.name), ['t']);
      assert.deepEqual((await second.apply(config.listeners, { graceMs: 100, quietMs: 10 })).unchanged, ['t']);
    } finally {
      await second.stop({ graceMs: 100, quietMs: 10 });
      await threads.close();
    }
  });
});
