/**
 * A subscriber that never reads, beside two that do, while a client floods a
 * topic through the server: the one that never reads hits its own outbound
 * cap and is closed with `slow-consumer`; the publisher and the readers go on
 * and miss nothing.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { portOf, rawConnect, waitFor } from '../support/net.js';
import { wsConnect } from '../support/ws-client.js';
import { statusOf, upgradeRequest, waitFor as waitForBytes } from '../websocket/support.js';
import { pubsubServer } from './support.js';

const WINDOW = 24;
const PAD = 'p'.repeat(4000);
/** 4 KB messages: the reader's kernel buffers and the 256 KiB cap fill within a few thousand of them. */
const MAX_ROUNDS = 1500;

it('closes a subscriber that never reads with slow-consumer, while the publisher and the other subscribers carry on', async (t) => {
  const s = await pubsubServer({ limits: { maxBufferedBytes: 256 * 1024, highWaterBytes: 32 * 1024 } });
  t.after(() => s.close());
  const readers = [await wsConnect(`${s.url}?t=flood`), await wsConnect(`${s.url}?t=flood`)];
  await waitFor(() => s.sockets.length === 2);

  const slow = await rawConnect({ host: '127.0.0.1', port: portOf(s.server), allowHalfOpen: false });
  slow.socket.write(upgradeRequest('/?t=flood'));
  assert.equal(statusOf(await waitForBytes(slow, (b) => b.includes('\r\n\r\n'))), 101);
  slow.socket.pause();
  await waitFor(() => s.sockets.length === 3);
  const SLOW = 2;

  const publisher = await wsConnect(s.url);
  let sent = 0;
  let rounds = 0;
  // Rounds of WINDOW messages, each waiting until the readers have them all, so only the one that never reads falls behind.
  const round = async () => {
    for (let i = 0; i < WINDOW; i++) publisher.socket.send(`pub:flood:${sent++}:${PAD}`);
    await Promise.all(readers.map((r) => r.received(sent)));
    rounds++;
  };
  while (!s.closes.has(SLOW)) {
    assert.ok(rounds < MAX_ROUNDS, `the subscriber that never reads was still open after ${sent} messages (${s.sockets[SLOW]?.bufferedBytes} bytes queued)`);
    await round();
  }
  assert.equal(s.closes.get(SLOW), 'slow-consumer');
  const atClose = sent;
  for (let i = 0; i < 10; i++) await round();

  const expected = Array.from({ length: sent }, (_, i) => `${i}:${PAD}`);
  for (const r of readers) assert.deepEqual((await r.received(sent)).map((m) => m.data), expected, 'every message, in order');
  assert.ok(sent > atClose);
  assert.equal(s.wss.subscribers('flood'), 2, 'the slow one left the topic');
  assert.equal(publisher.socket.readyState, publisher.socket.OPEN);
  assert.deepEqual([...s.closes.keys()], [SLOW], 'no one else was closed');
  assert.equal(s.server.stats().closes['slow-consumer'], 1);
  // A paused socket notices the close only once it reads again.
  slow.socket.resume();
  await slow.closed;
  for (const p of [...readers, publisher]) await p.close();
});
