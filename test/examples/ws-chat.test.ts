import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wsConnect, wsRefusal, type WsPeer } from '../support/ws-client.js';
import { startServer } from './spawn-example.js';

interface ChatEvent {
  type: string;
  room: string;
  from?: string;
  text?: string;
  name?: string;
  event?: string;
  members?: number;
}

const events = (p: WsPeer) => p.messages.map((m) => JSON.parse(m.data) as ChatEvent);
const said = (p: WsPeer) => events(p).filter((e) => e.type === 'message').map((e) => `${e.room} ${e.from}: ${e.text}`);

/** Waits until `p` has heard `n` chat lines. */
async function hears(p: WsPeer, n: number): Promise<string[]> {
  for (let i = 0; said(p).length < n; i++) {
    assert.ok(i < 1000, `heard ${JSON.stringify(said(p))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return said(p);
}

describe('examples/ws-chat', () => {
  it('serves its page, keeps each message in its room, announces who comes and goes, and sends 1001 when stopped', async (t) => {
    const { example, port, line } = await startServer('ws-chat');
    t.after(() => example.stop());
    assert.match(line, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/`));
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /new WebSocket\(/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nothing`)).status, 404);

    const url = (room: string, name: string) => `ws://127.0.0.1:${port}/chat?room=${room}&name=${encodeURIComponent(name)}`;
    const ann = await wsConnect(url('a', 'ann'));
    const bob = await wsConnect(url('a', 'bob'));
    const cat = await wsConnect(url('b', 'cat'));
    ann.socket.send('hello room a');
    cat.socket.send('hello room b');
    // Two sockets' messages are ordered only by when they arrive: bob answers once he has heard ann.
    await hears(bob, 1);
    bob.socket.send('hi ann');
    assert.deepEqual(await hears(ann, 2), ['a ann: hello room a', 'a bob: hi ann']);
    assert.deepEqual(await hears(bob, 2), ['a ann: hello room a', 'a bob: hi ann']);
    assert.deepEqual(await hears(cat, 1), ['b cat: hello room b']);

    // ann saw bob come in; bob's leaving is announced to ann only.
    const joined = events(ann).filter((e) => e.type === 'presence');
    assert.deepEqual(joined.map((e) => [e.name, e.event, e.members]), [['ann', 'join', 1], ['bob', 'join', 2]]);
    await bob.close();
    for (let i = 0; !events(ann).some((e) => e.event === 'leave'); i++) {
      assert.ok(i < 1000, 'the leave was announced');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(events(ann).filter((e) => e.event === 'leave').map((e) => [e.name, e.members]), [['bob', 1]]);
    assert.ok(!events(cat).some((e) => e.room !== 'b'), 'room b heard nothing of room a');

    assert.equal(await wsRefusal(url('Bad Room!', 'dan')), 400);
    assert.equal(await wsRefusal(url('a', '')), 400);

    example.child.kill('SIGTERM');
    assert.equal((await ann.closed).code, 1001);
    assert.equal((await cat.closed).code, 1001);
    assert.equal(await example.exited, 0);
  });
});
