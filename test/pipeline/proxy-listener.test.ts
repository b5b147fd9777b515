/**
 * A listener with `proxyProtocol` over real sockets: the client it reports,
 * the limits and logs that use that client, and every way a header (or its
 * absence) is refused. The proxies here are raw sockets writing headers by
 * hand; haproxy.test.ts puts a real HAProxy in front.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { listen, lengthPrefixed, lines, silentLogger, ManualClock, TimerWheel, type CloseReason, type Connection, type ListenOptions } from '../../src/index.js';
import { encodeProxyV2 } from '../../src/pipeline/proxy-protocol.js';
import { testPki } from '../support/certs.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { connectExpectingRefusal, lp4, portOf, rawConnect, waitFor } from '../support/net.js';

interface Seen {
  opened: string[];
  closes: Array<{ reason: CloseReason; code: string | undefined }>;
}

async function server(extra: Partial<ListenOptions>, seen: Seen = { opened: [], closes: [] }) {
  const s = await listen({
    port: 0,
    codec: lengthPrefixed(),
    logger: silentLogger,
    handler: {
      open: (c: Connection) => void seen.opened.push(`${c.remoteAddress}:${c.remotePort}`),
      message: (c: Connection, f: Buffer) => void c.send(Buffer.concat([Buffer.from(`${c.remoteAddress} `), f])),
      close: (_c, reason, error) => void seen.closes.push({ reason, code: (error as { code?: string } | undefined)?.code }),
    },
    ...extra,
  } as ListenOptions);
  return { s, seen };
}

const v1 = (src: string, sport: number) => Buffer.from(`PROXY TCP4 ${src} 10.0.0.1 ${sport} 7000\r\n`);

describe('proxyProtocol on a plaintext listener', () => {
  it('reports the client named by a v1 header, with the first frame in the same packet', async () => {
    const { s, seen } = await server({ proxyProtocol: 'required' });
    const peer = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    peer.socket.write(Buffer.concat([v1('203.0.113.7', 40000), lp4('hi')]));
    const got = await peer.waitBytes(4 + '203.0.113.7 hi'.length);
    assert.equal(got.subarray(4).toString(), '203.0.113.7 hi');
    assert.deepEqual(seen.opened, ['203.0.113.7:40000']);
    peer.socket.destroy();
    assert.equal(s.stats().proxy.accepted, 1);
    await s.close();
  });

  it('reads a v2 header split into single bytes, and a LOCAL command keeps the proxy as the peer', async () => {
    const { s, seen } = await server({ proxyProtocol: 'required' });
    const header = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '198.51.100.2', port: 1234 }, destination: { address: '10.0.0.1', port: 7000 } });
    const peer = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    for (const byte of header) {
      peer.socket.write(Buffer.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    peer.socket.write(lp4('x'));
    await peer.waitBytes(4 + 'x'.length + '198.51.100.2 '.length);
    const local = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    local.socket.write(Buffer.concat([encodeProxyV2({ command: 'local', transport: 'unknown' }), lp4('health')]));
    assert.equal((await local.waitBytes(4 + 'health'.length + '127.0.0.1 '.length)).subarray(4).toString(), '127.0.0.1 health');
    assert.equal(seen.opened[0], '198.51.100.2:1234');
    assert.match(seen.opened[1] ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(s.stats().proxy.local, 1);
    peer.socket.destroy();
    local.socket.destroy();
    await s.close();
  });

  it('applies the per-address limit to the client behind the proxy, not to the proxy', async () => {
    const lines: LoggedLine[] = [];
    const { s } = await server({ proxyProtocol: 'required', limits: { maxConnectionsPerAddress: 2 }, logger: recordingLogger(lines) });
    const peers = [];
    // Five clients behind one proxy address: all welcome.
    for (let i = 0; i < 5; i++) {
      const p = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
      p.socket.write(Buffer.concat([v1(`192.0.2.${i + 1}`, 1000 + i), lp4('a')]));
      await p.waitBytes(4 + 1 + `192.0.2.${i + 1} `.length);
      peers.push(p);
    }
    // Three connections from one client: the third is turned away.
    const same = [];
    for (let i = 0; i < 3; i++) {
      const p = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
      p.socket.write(v1('192.0.2.200', 2000 + i));
      same.push(p);
    }
    assert.equal(await same[2]?.closed.then(() => 'closed'), 'closed');
    await waitFor(() => s.stats().refused['max-per-address'] === 1);
    assert.equal(s.stats().closes.refused, 1);
    assert.ok(lines.some((l) => l.obj.reason === 'max-per-address' && l.obj.proxied === true && /^192\.0\.2\.200:/.test(String(l.obj.remote))));
    for (const p of [...peers, ...same]) p.socket.destroy();
    await s.close();
  });

  it('in required mode refuses a connection without a header, one from an untrusted source, and a malformed one', async () => {
    const { s, seen } = await server({ proxyProtocol: { mode: 'required', trusted: ['127.0.0.1'] } });
    const plain = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    plain.socket.write(lp4('no header'));
    await plain.closed;
    const bad = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    bad.socket.write('PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n');
    await bad.closed;
    // Refused at accept: the kernel completed the connection, the listener resets it.
    assert.equal(await connectExpectingRefusal({ port: portOf(s), host: '127.0.0.1', localAddress: '127.0.0.2' }), 'reset');
    const st = s.stats();
    assert.equal(st.proxy.refused.missing, 1);
    assert.equal(st.proxy.refused.malformed, 1);
    assert.equal(st.refused['proxy-untrusted'], 1);
    assert.deepEqual(seen.opened, [], 'no handler saw any of them');
    assert.equal(st.closes['protocol-error'], 2);
    await s.close();
  });

  it('in optional mode serves direct clients, opens an untrusted one at once, and refuses its spoofed header', async () => {
    const { s, seen } = await server({ proxyProtocol: { mode: 'optional', trusted: ['127.0.0.1'] } });
    const direct = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    direct.socket.write(lp4('plain'));
    assert.equal((await direct.waitBytes(4 + 'plain'.length + '127.0.0.1 '.length)).subarray(4).toString(), '127.0.0.1 plain');
    const spoof = await rawConnect({ port: portOf(s), host: '127.0.0.1', localAddress: '127.0.0.3' });
    await waitFor(() => seen.opened.some((o) => o.startsWith('127.0.0.3:')), 10_000, 'an untrusted peer opened without waiting for bytes');
    spoof.socket.write(v1('8.8.8.8', 53));
    await spoof.closed;
    assert.equal(s.stats().proxy.refused.untrusted, 1);
    assert.ok(seen.closes.some((c) => c.code === 'ERR_PROXY_UNTRUSTED'));
    assert.ok(!seen.opened.some((o) => o.startsWith('8.8.8.8')));
    direct.socket.destroy();
    await s.close();
  });

  it('closes a trusted peer that does not finish its header within timeoutMs, counting a timeout', async () => {
    const clock = new ManualClock(1_000_000);
    const wheel = new TimerWheel({ clock, autoTick: false });
    const { s } = await server({ proxyProtocol: { mode: 'required', timeoutMs: 2_000 }, timerWheel: wheel, limits: { handshakeTimeoutMs: 0 } });
    const p = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    p.socket.write('PROXY TCP4 1.2.3.4');
    await waitFor(() => s.stats().bytesIn > 0);
    for (let t = 0; t < 1_500; t += 100) {
      clock.advance(100);
      wheel.tick();
    }
    assert.equal(s.connectionCount, 1, 'still waiting before the deadline');
    for (let t = 0; t < 1_000; t += 100) {
      clock.advance(100);
      wheel.tick();
    }
    await p.closed;
    assert.equal(s.stats().proxy.refused.timeout, 1);
    await waitFor(() => s.stats().closes['handshake-timeout'] === 1, 10_000, 'the close to be counted');
    await s.close();
  });

  it('refuses a v2 header over maxHeaderBytes without waiting for its body', async () => {
    const { s } = await server({ proxyProtocol: { mode: 'required', maxHeaderBytes: 256 } });
    const big = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '1.2.3.4', port: 1 }, destination: { address: '1.2.3.5', port: 2 }, tlvs: [{ type: 0x04, value: Buffer.alloc(1000) }] });
    const p = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    p.socket.write(big.subarray(0, 16));
    await p.closed;
    assert.equal(s.stats().proxy.refused['too-large'], 1);
    await s.close();
  });

  it('refuses bad trusted entries before binding, naming them', async () => {
    await assert.rejects(listen({ port: 0, handler: {}, proxyProtocol: { mode: 'required', trusted: ['10.0.0.0/33'] } }), { code: 'ERR_INVALID_OPTION', path: 'proxyProtocol.trusted.0' });
    await assert.rejects(listen({ port: 0, handler: {}, proxyProtocol: 'sometimes' as 'optional' }), { code: 'ERR_INVALID_OPTION' });
  });
});

describe('proxyProtocol before TLS', () => {
  it('reads the header, then the TLS handshake that follows it in the same packet', async () => {
    const pki = await testPki();
    const { s, seen } = await server({ proxyProtocol: 'required', tls: { key: pki.serverKey, cert: pki.serverCert } });
    const raw = net.connect({ port: portOf(s), host: '127.0.0.1' });
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.cork();
    raw.write(encodeProxyV2({ command: 'proxy', transport: 'tcp6', source: { address: '2001:db8::42', port: 4242 }, destination: { address: '2001:db8::1', port: 443 }, checksum: true }));
    const t = tls.connect({ socket: raw, ca: pki.caCert, servername: 'localhost' });
    raw.uncork();
    await new Promise<void>((r) => t.once('secureConnect', () => r()));
    t.write(lp4('secret'));
    const reply = await new Promise<Buffer>((r) => t.once('data', (d: Buffer) => r(d)));
    assert.equal(reply.subarray(4).toString(), '2001:db8::42 secret');
    assert.deepEqual(seen.opened, ['2001:db8::42:4242']);
    t.destroy();
    await s.close();
  });
});

describe('TLS and plaintext on one port', () => {
  it('serves each by its first byte and counts each side', async () => {
    const pki = await testPki();
    const { s } = await server({ tls: { key: pki.serverKey, cert: pki.serverCert, plaintext: true }, codec: lines() });
    const plain = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    plain.socket.write('hello plain\n');
    assert.equal((await plain.waitBytes('127.0.0.1 hello plain\r\n'.length)).toString(), '127.0.0.1 hello plain\r\n');
    const t = tls.connect({ port: portOf(s), host: '127.0.0.1', ca: pki.caCert, servername: 'localhost' });
    await new Promise<void>((r) => t.once('secureConnect', () => r()));
    t.write('hello tls\n');
    const reply = await new Promise<Buffer>((r) => t.once('data', (d: Buffer) => r(d)));
    assert.equal(reply.toString(), '127.0.0.1 hello tls\r\n');
    assert.deepEqual(s.stats().detected, { tls: 1, plaintext: 1 });
    plain.socket.destroy();
    t.destroy();
    await s.close();
  });

  it('refuses plaintext on a TLS-only port as a failed handshake, and keeps serving TLS', async () => {
    const pki = await testPki();
    const { s } = await server({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    const plain = await rawConnect({ port: portOf(s), host: '127.0.0.1' });
    plain.socket.write('GET / HTTP/1.1\r\n\r\n');
    await plain.ended;
    plain.socket.destroy();
    await waitFor(() => s.stats().tlsHandshakeFailures === 1);
    const t = tls.connect({ port: portOf(s), host: '127.0.0.1', ca: pki.caCert, servername: 'localhost' });
    await new Promise<void>((r) => t.once('secureConnect', () => r()));
    t.destroy();
    await s.close();
  });
});
