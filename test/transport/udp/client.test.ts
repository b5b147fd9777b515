import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, isCapstanError, lengthPrefixed, listen, ManualClock, silentLogger, TimerWheel, type CloseReason, type Session, type UdpClientHandler, type UdpConnectOptions } from '../../../src/index.js';
import { lp4, waitFor } from '../../support/net.js';
import { rawEcho, udpPeer } from '../../support/udp.js';

/** A client handler that writes down every call, in order. */
function recorder() {
  const calls: string[] = [];
  const received: string[] = [];
  return {
    calls,
    received,
    handler: {
      open: (s: Session<unknown>) => void calls.push(`open:${s.remotePort}`),
      message: (_s: Session<unknown>, d: Buffer) => {
        calls.push(`message:${d.toString()}`);
        received.push(d.toString());
      },
      close: (_s: Session<unknown>, reason: CloseReason) => void calls.push(`close:${reason}`),
    },
  };
}

/** A plain dgram echo and a client connected to it. */
async function clientOfEcho(handler: UdpClientHandler, options: Partial<UdpConnectOptions> = {}) {
  const echo = await rawEcho();
  const client = await connect({ transport: 'udp', port: echo.port, logger: silentLogger, ...options, handler });
  return { echo, client };
}

describe('udp client', () => {
  it('talks to a Capstan UDP listener over a connected socket: open, replies in order, close once and last after close()', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, handler: { message: (s, d) => void s.send(`echo ${d}`) } });
    const r = recorder();
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: r.handler });
    assert.equal(client.url, `udp://127.0.0.1:${server.address.port}`);
    assert.equal(client.remote.port, server.address.port);
    assert.equal(client.local.address, '127.0.0.1', 'connect picked the loopback source');
    for (const m of ['a', 'b', 'c']) assert.equal(client.send(m), true);
    await waitFor(() => r.received.length === 3, 10_000, 'three replies');
    assert.deepEqual(r.received, ['echo a', 'echo b', 'echo c']);
    await client.close();
    assert.deepEqual(r.calls, [`open:${server.address.port}`, 'message:echo a', 'message:echo b', 'message:echo c', 'close:local-end']);
    const stats = client.stats();
    assert.equal(stats.accepted, 1);
    assert.equal(stats.active, 0);
    assert.equal(stats.closes['local-end'], 1);
    assert.equal(stats.udp?.datagramsIn, 3);
    assert.equal(stats.udp?.datagramsOut, 3);
    assert.equal(server.sessionCount, 1, 'the server saw one peer');
    await server.close({ graceMs: 100, quietMs: 0 });
  });

  it('talks to a plain dgram echo, and udp6 on ::1', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const echo = await rawEcho(host);
      const r = recorder();
      const client = await connect({ transport: 'udp', host, port: echo.port, logger: silentLogger, handler: r.handler });
      assert.equal(client.session?.remoteFamily, host === '::1' ? 'IPv6' : 'IPv4');
      client.send('one');
      client.send(Buffer.from('two'));
      await waitFor(() => r.received.length === 2, 10_000, `two echoes over ${host}`);
      assert.deepEqual(r.received, ['one', 'two']);
      await client.close();
      await echo.close();
    }
  });

  it('receives only from its peer: the kernel drops datagrams from other sources', async () => {
    const r = recorder();
    const { echo, client } = await clientOfEcho(r.handler);
    const stranger = await udpPeer(client.local.port);
    await stranger.send('from a stranger');
    client.send('from the peer');
    await waitFor(() => r.received.length === 1, 10_000, 'the echo');
    // The echo went out after the stranger's datagram, over the same loopback: had that been taken, it would be here first.
    assert.deepEqual(r.received, ['from the peer']);
    assert.equal(client.stats().udp?.datagramsIn, 1);
    await Promise.all([client.close(), echo.close(), stranger.close()]);
  });

  it('applies the codec inside each datagram: records packed per turn, several per datagram, truncated datagrams dropped whole', async () => {
    const datagrams: Buffer[] = [];
    const server = await listen({
      transport: 'udp',
      port: 0,
      logger: silentLogger,
      codec: lengthPrefixed({ lengthBytes: 4 }),
      handler: {
        message: (s, record) => {
          datagrams.push(record);
          s.send(`re:${record}`);
        },
      },
    });
    const r = recorder();
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, codec: lengthPrefixed({ lengthBytes: 4 }), handler: r.handler });
    // Three records in one turn leave in one datagram; the server answers each in one turn too.
    client.send('x');
    client.send('y');
    client.send('z');
    await waitFor(() => r.received.length === 3, 10_000, 'three replies');
    assert.deepEqual(r.received, ['re:x', 're:y', 're:z']);
    assert.equal(server.stats().udp?.datagramsIn, 1, 'the three records went in one datagram');
    assert.equal(client.stats().udp?.datagramsIn, 1, 'and came back in one');
    assert.equal(client.stats().framesIn, 3);
    // A peer that is not Capstan sends one datagram cut inside its second record, then a good one.
    const raw = await udpPeer(0);
    const rawClient = await connect({ transport: 'udp', port: raw.port, logger: silentLogger, codec: lengthPrefixed({ lengthBytes: 4 }), handler: r.handler });
    rawClient.send('hello');
    await raw.waitFor(1);
    const back = (buf: Buffer) => new Promise<void>((resolve, reject) => raw.socket.send(buf, rawClient.local.port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    await back(Buffer.concat([lp4('whole'), lp4('cut short').subarray(0, 6)]));
    await back(Buffer.concat([lp4('after'), lp4('the cut')]));
    await waitFor(() => r.received.length === 5, 10_000, 'the good datagram');
    assert.deepEqual(r.received.slice(3), ['after', 'the cut'], 'nothing of the truncated datagram was delivered');
    assert.equal(rawClient.stats().udp?.drops.truncated, 1);
    await Promise.all([client.close(), rawClient.close(), raw.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('ends with end(): what was sent goes out, close comes once and last, and sends after it fail cleanly', async () => {
    const echo = await rawEcho();
    const r = recorder();
    let ended: Session<unknown> | undefined;
    let lateSend: boolean | undefined;
    const client = await connect({
      transport: 'udp',
      port: echo.port,
      logger: silentLogger,
      codec: lengthPrefixed({ lengthBytes: 4 }),
      handler: {
        ...r.handler,
        message: (s, d) => {
          r.handler.message(s, d);
          if (d.toString() === 'last') {
            ended = s;
            s.send('goodbye');
            s.end();
            // A second end, a destroy and a send within the same turn are no-ops.
            s.end();
            s.destroy();
            lateSend = s.send('too late');
          }
        },
      },
    });
    const sawGoodbye = echo.received();
    client.send('last');
    await waitFor(() => r.calls.includes('close:local-end'), 10_000, 'the close');
    assert.deepEqual(r.calls.slice(1), ['message:last', 'close:local-end']);
    await waitFor(() => echo.received() === sawGoodbye + 2, 10_000, 'the goodbye to reach the echo');
    assert.equal(lateSend, false, 'a send after end() in the same turn is refused');
    assert.equal(ended?.state, 'closed');
    assert.equal(client.session, null);
    assert.equal(client.send('after close'), false);
    await assert.rejects(client.request('after close'), (e: unknown) => isCapstanError(e, 'ERR_NOT_OPEN') && e.reason === 'local-end');
    assert.throws(() => client.joinGroup('239.255.1.1'), (e: unknown) => isCapstanError(e, 'ERR_NOT_OPEN'));
    await client.close();
    await client.close();
    assert.equal(r.calls.filter((c) => c.startsWith('close')).length, 1);
    await echo.close();
  });

  it('closes the session whose handler threw with handler-error, after what it sent', async () => {
    const calls: string[] = [];
    const { echo, client } = await clientOfEcho({
      message: (s, d) => {
        calls.push(`message:${d}`);
        if (String(d) === 'boom') {
          s.send('last words');
          throw new Error('boom');
        }
      },
      close: (_s, reason, error) => void calls.push(`close:${reason}:${error?.message}`),
    });
    const before = echo.received();
    client.send('boom');
    await waitFor(() => calls.length === 2, 10_000, 'the close');
    assert.deepEqual(calls, ['message:boom', 'close:handler-error:boom']);
    await waitFor(() => echo.received() === before + 2, 10_000, 'the last words to go out');
    assert.equal(client.stats().handlerErrors, 1);
    await Promise.all([client.close(), echo.close()]);
  });

  it('closes with idle-timeout on the timer wheel after idleTimeoutMs without a datagram from the peer (sending does not count)', async () => {
    const clock = new ManualClock(1_000);
    const wheel = new TimerWheel({ clock, autoTick: false });
    const r = recorder();
    const { echo, client } = await clientOfEcho(r.handler, { timerWheel: wheel, limits: { idleTimeoutMs: 5_000 } });
    assert.equal(wheel.size, 1, 'one wheel entry for the session');
    clock.advance(3_000);
    client.send('keep me');
    await waitFor(() => r.received.length === 1, 10_000, 'the echo');
    clock.advance(4_000);
    wheel.tick();
    assert.equal(client.session?.state, 'open', 'the echo 3 s in moved the deadline past 7 s');
    echo.drop(1);
    client.send('unanswered');
    await waitFor(() => echo.received() === 2, 10_000, 'the unanswered datagram');
    clock.advance(1_100);
    wheel.tick();
    await waitFor(() => r.calls.includes('close:idle-timeout'), 10_000, 'the idle close');
    assert.equal(client.stats().closes['idle-timeout'], 1);
    assert.equal(wheel.size, 0);
    await Promise.all([client.close(), echo.close()]);
  });

  it('drops and counts a datagram over limits.maxDatagramBytes', async () => {
    const r = recorder();
    const { echo, client } = await clientOfEcho(r.handler, { limits: { maxDatagramBytes: 100 } });
    client.send(Buffer.alloc(101, 'x'));
    client.send('small');
    await waitFor(() => r.received.length === 1, 10_000, 'the small echo');
    assert.deepEqual(r.received, ['small']);
    assert.equal(client.stats().udp?.drops.oversize, 1);
    await Promise.all([client.close(), echo.close()]);
  });

  it('resolves connect after a failing open, and still delivers close once', async () => {
    const calls: string[] = [];
    const { echo, client } = await clientOfEcho({
      open: () => {
        calls.push('open');
        throw new Error('no');
      },
      close: (_s, reason) => void calls.push(`close:${reason}`),
    });
    await client.close();
    assert.deepEqual(calls, ['open', 'close:handler-error']);
    assert.equal(client.session, null);
    await echo.close();
  });
});
