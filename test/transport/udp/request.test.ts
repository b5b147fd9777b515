import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, isCapstanError, listen, silentLogger, type Session, type UdpServer } from '../../../src/index.js';
import { waitFor } from '../../support/net.js';

/** A UDP listener on a free port whose handler is `message`. */
function answering(message: (s: Session<unknown>, d: Buffer) => void): Promise<UdpServer> {
  return listen({ transport: 'udp', port: 0, logger: silentLogger, handler: { message } });
}

/** A listener that ignores the first `drop` datagrams and answers the rest with `re:<datagram>`. */
async function droppingServer(drop: number): Promise<{ server: UdpServer; seen: () => number }> {
  let seen = 0;
  const server = await answering((s, d) => {
    if (++seen > drop) s.send(`re:${d}`);
  });
  return { server, seen: () => seen };
}

describe('udp client requests', () => {
  it('resolves with the reply, which is not delivered to message', async () => {
    const { server } = await droppingServer(0);
    const messages: string[] = [];
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: { message: (_s, d) => void messages.push(String(d)) } });
    assert.equal(String(await client.request('ping')), 're:ping');
    client.send('plain');
    await waitFor(() => messages.length === 1, 10_000, 'the plain reply');
    assert.deepEqual(messages, ['re:plain']);
    assert.deepEqual(client.stats().requests, { replies: 1, timeouts: 0, failed: 0, overloaded: 0 });
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('sends again after each timeout and resolves when a retry is answered (the server drops the first two)', async () => {
    const { server, seen } = await droppingServer(2);
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: {} });
    assert.equal(String(await client.request('are you there', { timeoutMs: 200, retries: 3 })), 're:are you there');
    assert.equal(seen(), 3, 'two attempts dropped, the third answered');
    assert.equal(client.stats().requests.timeouts, 2);
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('rejects with ERR_REQUEST_TIMEOUT after the last retry, having sent 1 + retries attempts', async () => {
    const { server, seen } = await droppingServer(1_000);
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: {} });
    await assert.rejects(client.request('hello?', { timeoutMs: 150, retries: 2 }), (e: unknown) => isCapstanError(e, 'ERR_REQUEST_TIMEOUT') && e.actual === 3 && e.limit === 150);
    await waitFor(() => seen() === 3, 10_000, 'three attempts to arrive');
    assert.deepEqual(client.stats().requests, { replies: 0, timeouts: 3, failed: 1, overloaded: 0 });
    assert.equal(client.session?.state, 'open', 'a request that timed out leaves the session open');
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('sends requests without match one at a time, so a reply cannot answer another request', async () => {
    const log: string[] = [];
    const server = await answering((s, d) => {
      log.push(`in:${d}`);
      // Answers late, by a different delay each: concurrent requests would cross.
      setTimeout(() => {
        log.push(`out:${d}`);
        s.send(`re:${d}`);
      }, 30 - 10 * log.filter((l) => l.startsWith('in')).length);
    });
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: {} });
    const replies = await Promise.all(['a', 'b', 'c'].map((m) => client.request(m)));
    assert.deepEqual(replies.map(String), ['re:a', 're:b', 're:c']);
    assert.deepEqual(log, ['in:a', 'out:a', 'in:b', 'out:b', 'in:c', 'out:c']);
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('runs requests with match at once, each taking the reply it matches; others go to message', async () => {
    const held: Array<[Session<unknown>, string]> = [];
    const server = await answering((s, d) => {
      held.push([s, String(d)]);
      // Once all three are in, answer in reverse order, with an unrelated datagram first.
      if (held.length < 3) return;
      s.send('id=? news');
      for (const [peer, m] of held.reverse()) peer.send(`${m} answered`);
    });
    const messages: string[] = [];
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: { message: (_s, d) => void messages.push(String(d)) } });
    const ids = ['id=1', 'id=2', 'id=3'];
    const replies = await Promise.all(ids.map((id) => client.request(id, { match: (r) => String(r).startsWith(`${id} `) })));
    assert.deepEqual(replies.map(String), ['id=1 answered', 'id=2 answered', 'id=3 answered']);
    await waitFor(() => messages.length === 1, 10_000, 'the unmatched datagram');
    assert.deepEqual(messages, ['id=? news']);
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });

  it('fails requests still waiting when the session closes, with ERR_NOT_OPEN and the close reason', async () => {
    const { server } = await droppingServer(1_000);
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: {} });
    const waiting = [client.request('one', { timeoutMs: 60_000 }), client.request('two', { timeoutMs: 60_000, match: () => true })];
    await client.close();
    for (const w of waiting) await assert.rejects(w, (e: unknown) => isCapstanError(e, 'ERR_NOT_OPEN') && e.reason === 'local-end');
    assert.equal(client.stats().requests.failed, 2);
    await server.close({ graceMs: 100, quietMs: 0 });
  });

  it('refuses requests beyond limits.maxPendingRequests with ERR_OVERLOADED, and counts them', async () => {
    const { server } = await droppingServer(1_000);
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, limits: { maxPendingRequests: 2 }, handler: {} });
    const waiting = [client.request('1', { timeoutMs: 60_000 }), client.request('2', { timeoutMs: 60_000 })];
    await assert.rejects(client.request('3'), (e: unknown) => isCapstanError(e, 'ERR_OVERLOADED') && e.limit === 2);
    assert.equal(client.stats().requests.overloaded, 1);
    await client.close();
    await Promise.all(waiting.map((w) => assert.rejects(w)));
    await server.close({ graceMs: 100, quietMs: 0 });
  });

  it('rejects bad request options and a match that throws', async () => {
    const { server } = await droppingServer(0);
    const client = await connect({ transport: 'udp', port: server.address.port, logger: silentLogger, handler: {} });
    await assert.rejects(client.request('x', { timeoutMS: 5 } as never), (e: unknown) => isCapstanError(e, 'ERR_UNKNOWN_OPTION') && /did you mean timeoutMs\?/.test(e.message));
    await assert.rejects(client.request('x', { retries: -1 }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === 'retries');
    await assert.rejects(client.request('x', { match: 'yes' as never }), (e: unknown) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === 'match');
    await assert.rejects(client.request(Buffer.alloc(70_000)), (e: unknown) => isCapstanError(e, 'ERR_FRAME_TOO_LARGE'));
    await assert.rejects(
      client.request('x', {
        match: () => {
          throw new Error('bad matcher');
        },
      }),
      /bad matcher/,
    );
    assert.equal(client.session?.state, 'open');
    await Promise.all([client.close(), server.close({ graceMs: 100, quietMs: 0 })]);
  });
});
