import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { listen, silentLogger, UDP_DROP_REASONS, type ProxyProtocolOption, type Session, type UdpServer } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { recordingLogger, type LoggedLine } from '../../support/logger.js';
import { closeTracked, relayed, track, udpPeer, type UdpPeer } from '../../support/udp.js';

const PROXY_DROPS = UDP_DROP_REASONS.filter((r) => r.startsWith('proxy-'));

function proxyDrops(server: UdpServer): number {
  const drops = server.stats().udp?.drops;
  return PROXY_DROPS.reduce((n, r) => n + (drops?.[r] ?? 0), 0);
}

async function echoServer(proxyProtocol: ProxyProtocolOption, logger = silentLogger): Promise<UdpServer> {
  return track(await listen({ transport: 'udp', port: 0, logger, proxyProtocol, handler: { message: (s: Session, d: Buffer) => void s.send(`${s.remoteAddress} ${d.toString()}`) } }));
}

/**
 * Sends `datagram`, then a good datagram from the same socket, and waits for
 * the good one's answer: loopback keeps one socket's datagrams in order, so by
 * then the first was handled.
 */
async function sendThenSync(peer: UdpPeer, datagram: Buffer, good: Buffer): Promise<Buffer[]> {
  const before = peer.received.length;
  await peer.send(datagram);
  await peer.send(good);
  for (let n = before + 1; ; n++) {
    const got = await peer.waitFor(n, 5_000);
    if (String(got[n - 1]).endsWith(' sync')) return got.slice(before);
  }
}

afterEach(closeTracked);

describe('udp listeners behind a proxy: what is refused', () => {
  it('required: drops what a trusted proxy sends without a header, and everything from an untrusted source, making no session', async () => {
    const server = await echoServer({ mode: 'required', trusted: ['127.0.0.1'] });
    const proxy = track(await udpPeer(server.address.port));
    const stranger = track(await udpPeer(server.address.port, { localAddress: '127.0.0.2' }));
    await proxy.send('no header');
    await stranger.send('plain');
    await stranger.send(relayed('198.51.100.1', 1, 'spoofed'));
    await waitFor(() => proxyDrops(server) === 3, 10_000, 'three drops');
    const drops = server.stats().udp?.drops;
    assert.equal(drops?.['proxy-missing'], 1);
    assert.equal(drops?.['proxy-untrusted'], 2);
    assert.equal(server.sessionCount, 0);
    assert.equal(server.stats().accepted, 0);
    await proxy.send(relayed('198.51.100.1', 1, 'real'));
    assert.equal(String((await proxy.waitFor(1))[0]), '198.51.100.1 real');
    assert.equal(stranger.received.length, 0);
    await Promise.all([proxy.close(), stranger.close(), server.close({ graceMs: 100 })]);
  });

  it('optional: a trusted proxy may send without a header, as itself; an untrusted source is served as itself but its header is refused as spoofing', async () => {
    const server = await echoServer({ mode: 'optional', trusted: ['127.0.0.1'] });
    const proxy = track(await udpPeer(server.address.port));
    const stranger = track(await udpPeer(server.address.port, { localAddress: '127.0.0.2' }));
    await proxy.send('bare');
    assert.equal(String((await proxy.waitFor(1))[0]), '127.0.0.1 bare');
    await proxy.send(relayed('198.51.100.1', 1, 'relayed'));
    assert.equal(String((await proxy.waitFor(2))[1]), '198.51.100.1 relayed');
    await stranger.send('hello');
    assert.equal(String((await stranger.waitFor(1))[0]), '127.0.0.2 hello');
    const [spoofReply] = await sendThenSync(stranger, relayed('198.51.100.1', 1, 'spoofed'), Buffer.from('sync'));
    assert.equal(String(spoofReply), '127.0.0.2 sync', 'the spoofed datagram was not delivered, not even as the stranger');
    assert.equal(server.stats().udp?.drops['proxy-untrusted'], 1);
    const stats = server.stats();
    assert.equal(stats.proxy.none, 1);
    assert.equal(stats.proxy.accepted, 1);
    assert.equal(server.sessionCount, 3);
    const proxied = [...server.sessions()].map((s) => [s.remoteAddress, s.proxy === null ? null : s.proxy.command]).sort();
    assert.deepEqual(proxied, [
      ['127.0.0.1', null],
      ['127.0.0.2', null],
      ['198.51.100.1', 'proxy'],
    ]);
    await Promise.all([proxy.close(), stranger.close(), server.close({ graceMs: 100 })]);
  });

  it('drops a datagram cut at every length inside its header, counts each, makes no session for any, and logs under a budget', async () => {
    const lines: LoggedLine[] = [];
    const server = await echoServer('required', recordingLogger(lines));
    const proxy = track(await udpPeer(server.address.port));
    const full = relayed('198.51.100.7', 7, 'whole', { tlvs: [{ type: 0x02, value: Buffer.from('svc.example') }], checksum: true });
    const headerBytes = full.length - 'whole'.length;
    const good = relayed('198.51.100.8', 8, 'sync');
    for (let n = 0; n < headerBytes; n++) {
      const [reply] = await sendThenSync(proxy, full.subarray(0, n), good);
      assert.equal(String(reply), '198.51.100.8 sync', `cut at ${n}`);
    }
    const drops = server.stats().udp?.drops;
    assert.equal(drops?.['proxy-truncated'], headerBytes - 1);
    assert.equal(drops?.['proxy-missing'], 1, 'the empty datagram carries no header');
    assert.equal(server.sessionCount, 1, 'only the good client has a session');
    const logged = lines.filter((l) => /inside its PROXY protocol header/.test(l.msg ?? ''));
    assert.ok(logged.length >= 1 && logged.length <= 20, `logged ${logged.length} lines for ${headerBytes - 1} drops`);
    assert.equal(logged[0]?.obj.remote, `127.0.0.1:${proxy.port}`, 'the line names the datagram’s source');
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('logs why a malformed header was refused, with the parser’s code', async () => {
    const lines: LoggedLine[] = [];
    const server = await echoServer('required', recordingLogger(lines));
    const proxy = track(await udpPeer(server.address.port));
    const bad = relayed('198.51.100.7', 7, 'x');
    bad[12] = 0x31; // version 3
    await sendThenSync(proxy, bad, relayed('198.51.100.8', 8, 'sync'));
    assert.equal(server.stats().udp?.drops['proxy-malformed'], 1);
    const line = lines.find((l) => /not valid v2/.test(l.msg ?? ''));
    assert.equal(line?.obj.code, 'ERR_PROXY_MALFORMED');
    assert.match(String(line?.obj.detail), /version 3/);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('over real sockets, a garbled header is either read as the parser reads it or dropped under one reason, never both', async () => {
    const server = await echoServer('required');
    const proxy = track(await udpPeer(server.address.port));
    const full = relayed('198.51.100.30', 30, 'garbled?', { checksum: true });
    const good = relayed('198.51.100.31', 31, 'sync');
    await proxy.send(good);
    await proxy.waitFor(1);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(full.length - 1), fc.nat(255)), { minLength: 1, maxLength: 3 }), async (edits) => {
        const garbled = Buffer.from(full);
        for (const [at, value] of edits) garbled[at] = value;
        const dropsBefore = proxyDrops(server);
        const sessionsBefore = server.stats().accepted;
        const replies = await sendThenSync(proxy, garbled, good);
        const delivered = replies.length - 1;
        const dropped = proxyDrops(server) - dropsBefore;
        assert.equal(delivered + dropped, 1, `delivered ${delivered}, dropped ${dropped}`);
        if (dropped === 1) assert.equal(server.stats().accepted, sessionsBefore, 'a dropped datagram makes no session');
      }),
      { numRuns: 150 },
    );
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });

  it('in required mode, no random datagram makes a session, from the proxy or from a stranger', async () => {
    const server = await echoServer({ mode: 'required', trusted: ['127.0.0.1'] });
    const proxy = track(await udpPeer(server.address.port));
    const stranger = track(await udpPeer(server.address.port, { localAddress: '127.0.0.2' }));
    const good = relayed('198.51.100.40', 40, 'sync');
    await proxy.send(good);
    await proxy.waitFor(1);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, fromProxy) => {
        sent++;
        if (fromProxy) await sendThenSync(proxy, Buffer.from(bytes), good);
        else {
          await stranger.send(Buffer.from(bytes));
          // The stranger gets no answers to sync on: wait until the listener has read it.
          await waitFor(() => proxyDrops(server) === sent, 10_000, 'the drop');
        }
        assert.equal(server.stats().accepted, 1, 'only the good client ever had a session');
        assert.equal(proxyDrops(server), sent);
      }),
      { numRuns: 150 },
    );
    assert.equal(server.sessionCount, 1);
    await Promise.all([proxy.close(), stranger.close(), server.close({ graceMs: 100 })]);
  });
});
