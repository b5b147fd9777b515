/**
 * The relay between workers bounds what it has in flight on a channel: a
 * worker that stops reading (its event loop busy) makes the primary drop
 * publishes for it past RELAY_MAX_BYTES, counted and logged, while what it
 * does get arrives whole and in order.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { PrimaryRelay } from '../../src/pubsub/primary-relay.js';
import { RELAY_MAX_BYTES, type RelayMessage } from '../../src/pubsub/worker-relay.js';
import { silentLogger } from '../../src/index.js';
import { WorkerChannel } from '../../src/server/ipc.js';

const WORKER = fileURLToPath(new URL('./fixtures/busy-worker.js', import.meta.url));
const MB = 1024 * 1024;

it('drops publishes for a worker that stops reading once RELAY_MAX_BYTES are in flight, and counts them', async () => {
  const child = fork(WORKER, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: { t: string; seen?: number[] }[] = [];
  child.on('message', (m: { t: string }) => messages.push(m));
  const next = async (t: string) => {
    while (!messages.some((m) => m.t === t)) await once(child, 'message');
    return messages.find((m) => m.t === t) as { t: string; seen?: number[] };
  };
  await next('ready');
  const warnings: unknown[] = [];
  const logger = { ...silentLogger, warn: (o: unknown) => void warnings.push(o), child: () => logger } as typeof silentLogger;
  // The supervisor's channel to a worker, as it sends relay messages.
  const channel = new WorkerChannel(child);
  const relay = new PrimaryRelay((_w, m, done) => channel.send(m, done), logger);
  relay.fromWorker('2', { t: 'capstan:pubsub', pubs: [], interest: [['ws', 'flood', true]] });

  child.send({ t: 'block', ms: 3000 });
  await next('blocking');
  const TOTAL = 48;
  let seq = 0;
  // A few 1 MiB publishes a turn, as a busy worker would send them; the blocked one reads none of them for now.
  for (let turn = 0; turn < TOTAL / 4; turn++) {
    const pubs: RelayMessage['pubs'] = [];
    for (let i = 0; i < 4; i++) {
      const data = Buffer.alloc(MB, 0x61);
      data.writeUInt32BE(seq++, 0);
      pubs.push(['ws', 'flood', data, true]);
    }
    relay.fromWorker('1', { t: 'capstan:pubsub', pubs });
    await new Promise((r) => setImmediate(r));
  }
  child.send({ t: 'report' });
  const seen = (await next('seen')).seen ?? [];
  assert.ok(relay.dropped > 0, 'some were dropped');
  assert.equal(seen.length + relay.dropped, TOTAL, 'each publish was either delivered or counted as dropped');
  assert.ok(seen.length * MB <= RELAY_MAX_BYTES + 4 * MB, `${seen.length} MiB went out while the worker read nothing`);
  assert.deepEqual(seen, [...seen].sort((x, y) => x - y), 'in order');
  assert.deepEqual(seen.slice(0, 4), [0, 1, 2, 3]);
  assert.ok(warnings.length >= 1 && warnings.length <= 5, `${warnings.length} warning lines (at most five a second)`);
  await once(child, 'exit');
});
