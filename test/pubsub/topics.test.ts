/**
 * Pub/sub on one WebSocket server, over real sockets with the `ws` client:
 * who gets what, the frame built once, one write per subscriber per turn,
 * topics gone with their last subscriber, the stats and the bounds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError } from '../../src/errors.js';
import { STATS_TOPICS, websocket } from '../../src/index.js';
import { waitFor } from '../support/net.js';
import { wsConnect, type WsPeer } from '../support/ws-client.js';
import { pubsubServer, RecordingBackend } from './support.js';

async function peers(url: string, queries: string[]): Promise<WsPeer[]> {
  return Promise.all(queries.map((q) => wsConnect(`${url}?t=${q}`)));
}

describe('pub/sub on one server', () => {
  it('reaches the subscribers of a topic and no one else, as text or binary, and leaves out `except`', async (t) => {
    const s = await pubsubServer();
    t.after(() => s.close());
    const [a, b, c] = await peers(s.url, ['news', 'news,sport', 'sport']);
    await waitFor(() => s.sockets.length === 3);
    const [wa, wb, wc] = s.sockets as [typeof s.sockets[0], typeof s.sockets[0], typeof s.sockets[0]];
    assert.equal(s.wss.subscribers('news'), 2);
    assert.equal(s.wss.subscribers('sport'), 2);
    assert.equal(s.wss.subscribers('weather'), 0);
    assert.equal(s.wss.topicCount, 2);
    assert.deepEqual(wb.topics, ['news', 'sport']);
    assert.ok(wa.isSubscribed('news') && !wa.isSubscribed('sport'));

    assert.equal(s.wss.publish('news', 'headline'), 2);
    assert.equal(s.wss.publish('sport', Buffer.from([1, 2, 3])), 2);
    assert.equal(s.wss.publish('sport', Buffer.from('as text'), { binary: false, except: wc }), 1);
    assert.equal(s.wss.publish('weather', 'nobody listens'), 0);
    // ws.publish leaves out the publisher, as uWebSockets' does.
    assert.equal(wb.publish('news', 'from b'), 1);

    assert.deepEqual(await a?.received(2), [
      { data: 'headline', isBinary: false },
      { data: 'from b', isBinary: false },
    ]);
    assert.deepEqual(await b?.received(3), [
      { data: 'headline', isBinary: false },
      { data: '010203', isBinary: true },
      { data: 'as text', isBinary: false },
    ]);
    assert.deepEqual(await c?.received(1), [{ data: '010203', isBinary: true }]);

    assert.equal(wb.unsubscribe('news'), true);
    assert.equal(wb.unsubscribe('news'), false);
    assert.equal(s.wss.publish('news', 'after b left'), 1);
    assert.deepEqual((await a?.received(3))?.[2], { data: 'after b left', isBinary: false });
    assert.equal(wa.unsubscribe('news'), true);
    assert.equal(s.wss.topicCount, 1, 'news went with its last subscriber');
    // Nothing more reached b after it left; a text it sends itself still comes through the same path.
    b?.socket.send('pub:sport:last');
    assert.deepEqual((await c?.received(2))?.[1], { data: 'last', isBinary: false });
    assert.equal(b?.messages.length, 4);
    assert.equal(b?.messages[3]?.data, 'last');
    for (const p of [a, b, c]) await p?.close();
  });

  it('builds a published frame once and queues the same payload Buffer to every subscriber', async (t) => {
    const s = await pubsubServer();
    t.after(() => s.close());
    const clients = await peers(s.url, Array.from({ length: 30 }, () => 'wide'));
    await waitFor(() => s.sockets.length === 30);
    const before = s.wss.stats();

    const large = Buffer.alloc(8192, 0x5a);
    assert.equal(s.wss.publish('wide', large), 30);
    // Before the turn's write: every subscriber's batch holds that very Buffer, not a copy.
    for (const ws of s.sockets) assert.ok(ws.conn.outChunks?.includes(large), 'the payload is queued by reference');
    const small = 'short and copied';
    s.wss.publish('wide', small);
    const after = s.wss.stats();
    assert.equal((after.publishFrames ?? 0) - (before.publishFrames ?? 0), 2, 'one frame per publish');
    assert.equal(after.messagesOut - before.messagesOut, 60);
    assert.equal(after.bytesOut - before.bytesOut, 30 * (8192 + small.length));
    for (const c of clients) {
      const got = await c.received(2);
      assert.equal(got[0]?.data, large.toString('hex'));
      assert.equal(got[1]?.data, small);
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  it('holds a turn of publishes in each subscriber\u2019s batch and writes them together at the turn\u2019s end', async (t) => {
    const s = await pubsubServer();
    t.after(() => s.close());
    const clients = await peers(s.url, Array.from({ length: 20 }, () => 'turn'));
    await waitFor(() => s.sockets.length === 20);
    const messages = Array.from({ length: 10 }, (_, i) => `message ${i}`);
    for (const m of messages) s.wss.publish('turn', m);
    // A 2-byte header and the text each; none of it written yet (the old eight-connection rule wrote after each publish).
    const frameBytes = messages.reduce((n, m) => n + 2 + m.length, 0);
    for (const ws of s.sockets) assert.equal(ws.conn.outBytes, frameBytes);
    for (const c of clients) assert.deepEqual((await c.received(10)).map((m) => m.data), messages);
    for (const ws of s.sockets) assert.equal(ws.conn.outBytes, 0);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('keeps each topic in publish order across small copied and large referenced frames', async (t) => {
    const s = await pubsubServer();
    t.after(() => s.close());
    const [x, y, both] = await peers(s.url, ['x', 'y', 'x,y']);
    await waitFor(() => s.sockets.length === 3);
    const N = 600;
    const body = (topic: string, i: number) => `${topic}${i}:` + (i % 3 === 0 ? 'L'.repeat(3000) : 's');
    // Published from a client's messages, as an application would: pub:<topic>:<text>.
    const publisher = await wsConnect(s.url);
    for (let i = 0; i < N; i++) {
      publisher.socket.send(`pub:x:${body('x', i)}`);
      publisher.socket.send(`pub:y:${body('y', i)}`);
    }
    const gotX = (await x?.received(N))?.map((m) => m.data);
    const gotY = (await y?.received(N))?.map((m) => m.data);
    const gotBoth = (await both?.received(2 * N))?.map((m) => m.data) ?? [];
    assert.deepEqual(gotX, Array.from({ length: N }, (_, i) => body('x', i)));
    assert.deepEqual(gotY, Array.from({ length: N }, (_, i) => body('y', i)));
    // The socket in both topics sees each in order, and the two interleaved as they were published.
    assert.deepEqual(gotBoth.filter((m) => m.startsWith('x')), gotX);
    assert.deepEqual(gotBoth.filter((m) => m.startsWith('y')), gotY);
    assert.deepEqual(gotBoth.slice(0, 4), [body('x', 0), body('y', 0), body('x', 1), body('y', 1)]);
    for (const p of [x, y, both, publisher]) await p?.close();
  });

  it('drops every topic of sockets that close, whichever side closes: thousands leave the topic map empty', async (t) => {
    const backend = new RecordingBackend();
    const s = await pubsubServer({ backend });
    t.after(() => s.close());
    const ROUNDS = 10;
    const PER_ROUND = 250;
    for (let r = 0; r < ROUNDS; r++) {
      const base = r * PER_ROUND;
      const round = await peers(
        s.url,
        Array.from({ length: PER_ROUND }, (_, i) => `all,room${(base + i) % 7},own${base + i}`),
      );
      await waitFor(() => s.sockets.length === base + PER_ROUND);
      assert.equal(s.wss.subscribers('all'), PER_ROUND);
      assert.equal(s.wss.topicCount, 1 + 7 + PER_ROUND);
      assert.equal(s.wss.publish('all', `round ${r}`), PER_ROUND);
      await Promise.all(round.map((p) => p.received(1)));
      // Half close from the client, half from the server (a close handshake or a drop).
      await Promise.all(
        round.map((p, i) => {
          const ws = s.sockets[base + i];
          if (i % 3 === 0) return p.close();
          if (i % 3 === 1) ws?.close(4000);
          else ws?.terminate();
          return p.closed;
        }),
      );
      await waitFor(() => s.closes.size === base + PER_ROUND, 30_000, 'every close delivered');
      assert.equal(s.wss.topicCount, 0, `round ${r}: no topic left`);
    }
    assert.equal(s.wss.subscribers('all'), 0);
    assert.equal(backend.ups.length, ROUNDS * (1 + 7 + PER_ROUND));
    assert.deepEqual([...backend.downs].sort(), [...backend.ups].sort(), 'the backend heard of every topic going');
    const stats = s.wss.stats();
    assert.deepEqual([stats.topics, stats.topicCount, stats.publishes], [{}, 0, ROUNDS]);
    for (const ws of s.sockets.slice(0, 5)) {
      assert.equal(ws.subscribe('late'), false, 'a closed socket cannot subscribe');
      assert.deepEqual(ws.topics, []);
    }
    assert.equal(s.wss.topicCount, 0);
  });

  it('lists at most STATS_TOPICS topics in its stats, those with the most subscribers, and counts them all', async (t) => {
    const s = await pubsubServer();
    t.after(() => s.close());
    const [many, two, three] = await peers(s.url, ['', '', '']);
    await waitFor(() => s.sockets.length === 3);
    const [wm, w2, w3] = s.sockets as [typeof s.sockets[0], typeof s.sockets[0], typeof s.sockets[0]];
    for (let i = 0; i < 3 * STATS_TOPICS; i++) wm.subscribe(`t${String(i).padStart(3, '0')}`);
    for (const ws of [w2, w3]) ws.subscribe('popular');
    w3.subscribe('t299');
    const stats = s.wss.stats();
    assert.equal(stats.topicCount, 3 * STATS_TOPICS + 1);
    const listed = Object.entries(stats.topics ?? {});
    assert.equal(listed.length, STATS_TOPICS);
    // Most subscribers first, ties by name.
    assert.deepEqual(listed.slice(0, 3), [['popular', 2], ['t299', 2], ['t000', 1]]);
    assert.equal(listed[STATS_TOPICS - 1]?.[0], 't097');
    for (const p of [many, two, three]) await p?.close();
  });

  it('refuses a subscribe over maxTopicsPerSocket and a topic that is not a short string', async (t) => {
    const s = await pubsubServer({ maxTopicsPerSocket: 3 });
    t.after(() => s.close());
    const [p] = await peers(s.url, ['a,b,c']);
    await waitFor(() => s.sockets.length === 1);
    const ws = s.sockets[0] as (typeof s.sockets)[0];
    assert.equal(ws.subscribe('d'), false);
    assert.equal(ws.subscribe('a'), true, 'already subscribed');
    assert.deepEqual(ws.topics, ['a', 'b', 'c']);
    assert.equal(s.wss.stats().subscribesRefused, 1);
    assert.ok(ws.unsubscribe('b') && ws.subscribe('d'));
    for (const bad of ['', 'x'.repeat(1025), 42 as unknown as string]) {
      assert.throws(() => ws.subscribe(bad), (e) => isCapstanError(e, 'ERR_INVALID_OPTION'));
      assert.throws(() => s.wss.publish(bad, 'x'), (e) => isCapstanError(e, 'ERR_INVALID_OPTION'));
    }
    assert.throws(() => s.wss.publish('a', 42 as unknown as string), (e) => isCapstanError(e, 'ERR_INVALID_OPTION'));
    await p?.close();
  });

  it('checks the pubsub options before anything binds', () => {
    const invalid = (pubsub: unknown, path: string) =>
      assert.throws(() => websocket({ handler: {}, pubsub } as Parameters<typeof websocket>[0]), (e) => isCapstanError(e, 'ERR_INVALID_OPTION') && e.path === path);
    invalid({ backend: { publish() {} } }, 'websocket.pubsub.backend');
    invalid({ maxTopicsPerSocket: 0 }, 'websocket.pubsub.maxTopicsPerSocket');
    invalid('yes', 'websocket.pubsub');
    assert.throws(() => websocket({ handler: {}, pubsub: { maxTopics: 3 } } as Parameters<typeof websocket>[0]), (e) => isCapstanError(e, 'ERR_UNKNOWN_OPTION') && e.path === 'websocket.pubsub.maxTopics');
  });

  it('delivers what its backend brings from elsewhere, and hands the backend every local publish', async (t) => {
    const backend = new RecordingBackend();
    const s = await pubsubServer({ backend });
    t.after(() => s.close());
    const [p] = await peers(s.url, ['remote']);
    await waitFor(() => s.sockets.length === 1);
    backend.deliver?.('remote', 'from another process', false);
    backend.deliver?.('remote', Buffer.from([0xff]), true);
    backend.deliver?.('unheard', 'no one here', false);
    assert.deepEqual(await p?.received(2), [
      { data: 'from another process', isBinary: false },
      { data: 'ff', isBinary: true },
    ]);
    s.wss.publish('remote', 'local');
    s.wss.publish('elsewhere', 'nobody here, maybe there');
    assert.deepEqual(backend.published, ['remote', 'elsewhere']);
    const stats = s.wss.stats();
    assert.deepEqual([stats.publishes, stats.publishesRelayed], [2, 3]);
    // The listener's stats carry them, as /stats.json and /metrics read them.
    assert.deepEqual(s.server.stats().websocket?.topics, { remote: 1 });
    await p?.close();
  });
});
