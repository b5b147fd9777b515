/**
 * Pub/sub across the workers of `capstan serve` (workers: 2): a publish in
 * either worker reaches the room's subscribers in both, each publisher's
 * messages in order, and no other room; the combined stats add up the topics.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { silentLogger } from '../../src/index.js';
import { Runtime } from '../../src/server/runtime.js';
import { ThreadPools } from '../../src/server/threads.js';
import { wsConnect, type WsPeer } from '../support/ws-client.js';
import { resolveLines } from './config-support.js';
import { ROOT, startServe, tempDir, type CliRun } from './support.js';

const ROOMS = join(ROOT, 'dist/test/server/fixtures/rooms-plugin.js');
const tmp = tempDir('capstan-pubsub-workers-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

interface Member {
  peer: WsPeer;
  worker: string;
}

async function join_(base: string, room: string): Promise<Member> {
  const peer = await wsConnect(`${base}/?room=${room}`);
  const [hello] = await peer.received(1);
  return { peer, worker: /^worker (\w+)$/.exec(hello?.data ?? '')?.[1] ?? '?' };
}

/** Texts after the greeting (and after `skip` more). */
const texts = (m: Member, skip = 0) => m.peer.messages.slice(1 + skip).map((x) => x.data);

describe('pub/sub in a plugin, one process', () => {
  it('publishes through ctx.publish and counts through ctx.subscribers', async () => {
    const config = await resolveLines(tmp.dir, ['listeners:', `  - { name: ws, port: 0, websocket: { endpoints: [{ path: "*", plugin: { module: ${JSON.stringify(ROOMS)} } }] } }`]);
    const threads = new ThreadPools({});
    const runtime = new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: tmp.dir });
    await runtime.start(config.listeners);
    try {
      const a = runtime.servers().get('ws')?.address as { port: number };
      const base = `ws://127.0.0.1:${a.port}`;
      const [x, y, z] = [await join_(base, 'x'), await join_(base, 'x'), await join_(base, 'z')];
      assert.equal(x.worker, 'main');
      x.peer.socket.send('count');
      await x.peer.received(2);
      x.peer.socket.send('to x');
      await y.peer.received(2);
      assert.deepEqual([texts(x), texts(y), texts(z)], [['count 2', 'to x'], ['to x'], []]);
      for (const m of [x, y, z]) await m.peer.close();
    } finally {
      await runtime.stop({ graceMs: 500, quietMs: 50 });
      await threads.close();
    }
  });
});

describe('pub/sub with workers: 2', () => {
  it('reaches subscribers in every worker, in each publisher\u2019s order, and only its room', async () => {
    const file = tmp.write(
      'rooms.yaml',
      ['workers: 2', 'listeners:', `  - { name: ws, port: 0, websocket: { endpoints: [{ path: "*", plugin: { module: ${JSON.stringify(ROOMS)} } }] } }`, 'admin: { port: 0 }'].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const base = `ws://127.0.0.1:${run.listeners().get('ws')?.port}`;

    // The primary hands connections to the workers in turn; keep joining until each worker has two in the lobby.
    const lobby: Member[] = [];
    for (let i = 0; i < 40 && !['1', '2'].every((w) => lobby.filter((m) => m.worker === w).length >= 2); i++) lobby.push(await join_(base, 'lobby'));
    const on = (w: string) => lobby.filter((m) => m.worker === w);
    assert.ok(on('1').length >= 2 && on('2').length >= 2, `lobby members by worker: ${lobby.map((m) => m.worker).join(',')}`);
    const other = [await join_(base, 'other'), await join_(base, 'other')];
    assert.notEqual(other[0]?.worker, other[1]?.worker, 'one in each worker');

    // A worker's interest reaches the primary a turn after the first subscribe: probe until each side hears the other.
    const [a, b] = [on('1')[0] as Member, on('2')[0] as Member];
    for (let i = 0; !(texts(a).includes('probe 2') && texts(b).includes('probe 1')); i++) {
      assert.ok(i < 200, 'the workers hear each other');
      a.peer.socket.send('probe 1');
      b.peer.socket.send('probe 2');
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 100));
    const skip = new Map(lobby.map((m) => [m, m.peer.messages.length - 1]));

    const N = 200;
    for (let i = 0; i < N; i++) {
      a.peer.socket.send(`a${i}`);
      b.peer.socket.send(`b${i}`);
    }
    const want = (p: string) => Array.from({ length: N }, (_, i) => `${p}${i}`);
    for (const m of lobby) {
      await m.peer.received(1 + (skip.get(m) as number) + 2 * N);
      const got = texts(m, skip.get(m));
      assert.equal(got.length, 2 * N, `worker ${m.worker} member got both publishers' messages`);
      assert.deepEqual(got.filter((t) => t.startsWith('a')), want('a'), `worker ${m.worker}: a's in order`);
      assert.deepEqual(got.filter((t) => t.startsWith('b')), want('b'), `worker ${m.worker}: b's in order`);
    }
    for (const m of other) assert.deepEqual(texts(m), [], 'the other room heard nothing');

    // Subscriber counts are per worker; /stats.json sums them.
    a.peer.socket.send('count');
    const local = on('1').length;
    await a.peer.received(a.peer.messages.length + 1);
    assert.equal(a.peer.messages.at(-1)?.data, `count ${local}`);
    const stats = (await (await fetch(`${run.adminUrl()}stats.json`)).json()) as {
      combined: { listeners: Record<string, { websocket?: { topics?: Record<string, number>; publishes?: number } }> };
      workers: { worker: string; listeners: Record<string, { websocket?: { topics?: Record<string, number> } }> }[];
    };
    const ws = stats.combined.listeners.ws?.websocket;
    assert.deepEqual(ws?.topics, { lobby: lobby.length, other: 2 });
    assert.ok((ws?.publishes ?? 0) >= 2 * N + 1);
    assert.deepEqual(stats.workers.map((w) => w.listeners.ws?.websocket?.topics?.lobby).sort(), [on('1').length, on('2').length].sort());

    for (const m of [...lobby, ...other]) await m.peer.close();
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });
});
