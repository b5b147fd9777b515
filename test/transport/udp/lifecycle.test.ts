import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError, listen, silentLogger, type CloseReason, type Session } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';
import { udpPeer } from '../../support/udp.js';

type Event = string;

/** A handler that writes down every call, per session id, and echoes. */
function recordingEcho(events: Map<number, Event[]>) {
  const log = (s: Session<unknown>, e: Event) => {
    const list = events.get(s.id) ?? [];
    list.push(e);
    events.set(s.id, list);
  };
  return {
    open: (s: Session<unknown>) => log(s, 'open'),
    message: (s: Session<unknown>, d: Buffer) => {
      log(s, `message:${d.toString()}`);
      if (d.toString() === 'bye') return s.end();
      if (d.toString() === 'boom') {
        s.send('last words');
        throw new Error('boom');
      }
      s.send(d);
    },
    close: (s: Session<unknown>, reason: CloseReason) => log(s, `close:${reason}`),
  };
}

describe('udp session lifecycle', () => {
  it('opens one session per peer on its first datagram and answers each peer with its own datagrams, in order', async () => {
    const events = new Map<number, Event[]>();
    const peers: Array<{ address: string; port: number }> = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: { ...recordingEcho(events), open: (s) => void peers.push({ address: s.remoteAddress, port: s.remotePort }) },
    });
    const a = await udpPeer(server.address.port);
    const b = await udpPeer(server.address.port);
    for (const m of ['a1', 'a2', 'a3']) await a.send(m);
    for (const m of ['b1', 'b2']) await b.send(m);
    assert.deepEqual((await a.waitFor(3)).map(String), ['a1', 'a2', 'a3']);
    assert.deepEqual((await b.waitFor(2)).map(String), ['b1', 'b2']);
    assert.deepEqual(
      peers.map((p) => p.port).sort(),
      [a.port, b.port].sort(),
    );
    assert.ok(peers.every((p) => p.address === '127.0.0.1'));
    const stats = server.stats();
    assert.equal(stats.accepted, 2);
    assert.equal(stats.active, 2);
    assert.equal(server.sessionCount, 2);
    assert.equal(stats.udp?.datagramsIn, 5);
    assert.equal(stats.framesIn, 5);
    await waitFor(() => server.stats().udp?.datagramsOut === 5, 10_000, 'five sends reported');
    assert.equal(server.stats().bytesOut, 10);
    assert.equal(server.stats().bytesIn, 10);
    await Promise.all([a.close(), b.close(), server.close({ graceMs: 100 })]);
  });

  it('keeps session.data from open through every message of that peer', async () => {
    const server = await listen<{ count: number }>({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        open: (s) => void (s.data = { count: 0 }),
        message: (s) => void s.send(String(++s.data.count)),
      },
    });
    const a = await udpPeer(server.address.port);
    for (let i = 0; i < 3; i++) await a.send('x');
    assert.deepEqual((await a.waitFor(3)).map(String), ['1', '2', '3']);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('delivers close exactly once and last after end(), refuses sends afterwards, and opens a new session for the next datagram', async () => {
    const events = new Map<number, Event[]>();
    let ended: Session<unknown> | undefined;
    const handler = recordingEcho(events);
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        ...handler,
        message: (s, d) => {
          if (d.toString() === 'bye') ended = s;
          handler.message(s, d);
        },
      },
    });
    const a = await udpPeer(server.address.port);
    await a.send('hello');
    await a.waitFor(1);
    await a.send('bye');
    await waitFor(() => server.stats().closes['local-end'] === 1, 10_000, 'the session to close');
    const first = events.get((ended as Session<unknown>).id);
    assert.deepEqual(first, ['open', 'message:hello', 'message:bye', 'close:local-end']);
    assert.equal(ended?.state, 'closed');
    assert.equal(ended?.send('too late'), false);
    ended?.end();
    ended?.destroy();
    assert.equal(server.sessionCount, 0);
    await a.send('again');
    assert.deepEqual((await a.waitFor(2)).map(String), ['hello', 'again']);
    assert.equal(server.stats().accepted, 2);
    assert.equal(events.size, 2);
    assert.deepEqual(first, ['open', 'message:hello', 'message:bye', 'close:local-end'], 'nothing reached the closed session');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('closes only the session whose handler threw, with handler-error, after sending what it sent first', async () => {
    const events = new Map<number, Event[]>();
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: recordingEcho(events) });
    const a = await udpPeer(server.address.port);
    const b = await udpPeer(server.address.port);
    await a.send('boom');
    assert.equal(String((await a.waitFor(1))[0]), 'last words');
    await waitFor(() => server.stats().closes['handler-error'] === 1, 10_000, 'the throwing session to close');
    await b.send('still here');
    assert.equal(String((await b.waitFor(1))[0]), 'still here');
    const closed = [...events.values()].find((e) => e.includes('message:boom'));
    assert.deepEqual(closed, ['open', 'message:boom', 'close:handler-error']);
    assert.equal(server.stats().handlerErrors, 1);
    await Promise.all([a.close(), b.close(), server.close({ graceMs: 100 })]);
  });

  it('closes a session whose open threw without delivering its datagram, and calls close once', async () => {
    const calls: string[] = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        open: () => {
          calls.push('open');
          throw new Error('no');
        },
        message: () => void calls.push('message'),
        close: (_s, reason) => void calls.push(`close:${reason}`),
      },
    });
    const a = await udpPeer(server.address.port);
    await a.send('x');
    await waitFor(() => calls.length === 2, 10_000, 'close after the failed open');
    assert.deepEqual(calls, ['open', 'close:handler-error']);
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('throws ERR_FRAME_TOO_LARGE for a datagram larger than UDP carries, and the session stays open', async () => {
    let error: unknown;
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      handler: {
        message: (s) => {
          try {
            s.send(Buffer.alloc(70_000));
          } catch (err) {
            error = err;
          }
          s.send('small');
        },
      },
    });
    const a = await udpPeer(server.address.port);
    await a.send('x');
    assert.equal(String((await a.waitFor(1))[0]), 'small');
    assert.ok(isCapstanError(error, 'ERR_FRAME_TOO_LARGE'), String(error));
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('serves udp6 on ::1 and reports the peer as IPv6', async () => {
    let family = '';
    const server = await listen({ transport: 'udp', host: '::1', port: 0, logger: silentLogger, handler: { open: (s) => void (family = s.remoteFamily), message: (s, d) => void s.send(d) } });
    assert.equal(server.url, `udp://[::1]:${server.address.port}`);
    const a = await udpPeer(server.address.port, { host: '::1' });
    await a.send('six');
    assert.equal(String((await a.waitFor(1))[0]), 'six');
    assert.equal(family, 'IPv6');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });

  it('validates options before binding and names the bad key', async () => {
    await assert.rejects(
      listen({ transport: 'udp', port: 0, handler: {}, limits: { maxSessions: 0 } }),
      (err: unknown) => isCapstanError(err, 'ERR_INVALID_OPTION') && err.path === 'limits.maxSessions',
    );
    await assert.rejects(
      listen({ transport: 'udp', port: 0, handler: {}, backlog: 5 } as never),
      (err: unknown) => isCapstanError(err, 'ERR_UNKNOWN_OPTION') && err.path === 'backlog',
    );
  });

  it('rejects with ERR_LISTEN_FAILED when the port is taken', async () => {
    const first = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: {} });
    await assert.rejects(listen({ transport: 'udp', port: first.address.port, logger: silentLogger, handler: {} }), (err: unknown) => isCapstanError(err, 'ERR_LISTEN_FAILED'));
    await first.close();
  });
});
