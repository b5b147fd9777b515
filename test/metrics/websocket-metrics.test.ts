/**
 * WebSocket figures through every window on them: /metrics, /stats.json and
 * `capstan stats`, from a real admin endpoint in front of a WebSocket listener
 * that the `ws` client drove.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { listen, silentLogger, type Server, type WebSocketHandler } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/metrics/admin-server.js';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { createExposition } from '../../src/metrics/prometheus.js';
import { collectWorkerSnapshot, combineSnapshots, type ServerSnapshot } from '../../src/metrics/snapshot.js';
import { WebSocketCounters } from '../../src/websocket/counters.js';
import { portOf, waitFor } from '../support/net.js';
import { wsConnect, wsRefusal } from '../support/ws-client.js';
import { localSource } from './support.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const NAME = 'ws-metrics';
const labels = { worker: 'main', listener: NAME };

const echo: WebSocketHandler = {
  message(ws, data, isBinary) {
    ws.send(data, isBinary);
  },
};

/** The values of `name`'s samples whose labels include `match`, keyed by the labels in `by`. */
function samples(families: ParsedFamily[], name: string, by: string[], match: Record<string, string> = labels): Record<string, number> {
  const f = families.find((x) => x.name === name);
  assert.ok(f !== undefined, `${name} is exposed`);
  const out: Record<string, number> = {};
  for (const m of f.metrics) {
    if (!Object.entries(match).every(([k, v]) => m.labels?.[k] === v)) continue;
    out[by.map((k) => m.labels?.[k] ?? '').join(' ')] = Number(m.value);
  }
  return out;
}

async function scrape(admin: AdminServer): Promise<{ families: ParsedFamily[]; stats: ServerSnapshot }> {
  const base = `http://127.0.0.1:${admin.address.port}`;
  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  const stats = await fetch(`${base}/stats.json`);
  assert.equal(stats.status, 200);
  return { families: parsePrometheus(await metrics.text()), stats: (await stats.json()) as ServerSnapshot };
}

/** Runs `capstan stats` for one refresh against `url` and returns what it printed. */
async function statsOnce(url: string): Promise<string> {
  const child = spawn(process.execPath, [CLI, 'stats', '--url', url, '--count', '1', '--interval', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, out);
  return out;
}

describe('WebSocket metrics from a real admin endpoint', () => {
  let server: Server;
  let admin: AdminServer;
  let before1: { families: ParsedFamily[]; stats: ServerSnapshot };
  let after1001: { families: ParsedFamily[]; stats: ServerSnapshot };
  let table: string;
  let beats = 0;

  before(async () => {
    server = await listen({
      name: NAME,
      port: 0,
      logger: silentLogger,
      websocket: {
        endpoints: [
          { path: '/echo', handler: echo },
          { path: '/beat', handler: echo, pingIntervalMs: 200, pongTimeoutMs: 60_000 },
        ],
      },
    });
    admin = await startAdminServer({ port: 0, logger: silentLogger, source: localSource(new Map([[NAME, server]])) });
    const base = `ws://127.0.0.1:${portOf(server)}`;

    const a = await wsConnect(`${base}/echo`);
    for (const m of ['one', 'twenty-two', 'héllo']) a.socket.send(m);
    for (const m of [Buffer.alloc(100, 1), Buffer.alloc(0)]) a.socket.send(m);
    await a.received(5);
    const ponged = once(a.socket, 'pong');
    a.socket.ping('are you there');
    await ponged;
    await a.close(1000);

    const b = await wsConnect(`${base}/echo`);
    assert.equal((await b.close(4001)).code, 4001);

    // Heartbeats: the server pings an idle socket; the ws client answers each while it is open.
    const c = await wsConnect(`${base}/beat`);
    await new Promise<void>((resolve) =>
      c.socket.on('ping', () => {
        if (c.socket.readyState === c.socket.OPEN) beats++;
        if (beats === 2) resolve();
      }),
    );
    await c.close(1000);

    assert.equal(await wsRefusal(`${base}/nowhere`), 404);
    assert.equal(await wsRefusal(`${base}/elsewhere`), 404);
    const plain = await fetch(`http://127.0.0.1:${portOf(server)}/echo`);
    assert.equal(plain.status, 426);

    // One socket stays open for the first scrape, and is sent 1001 when the server closes.
    const d = await wsConnect(`${base}/echo`);
    await waitFor(() => server.stats().websocket?.open === 1 && server.stats().active === 1, 30_000, 'the other connections to close');
    before1 = await scrape(admin);
    table = await statsOnce(`http://127.0.0.1:${admin.address.port}`);
    await server.close({ graceMs: 5_000 });
    assert.equal((await d.closed).code, 1001);
    after1001 = await scrape(admin);
  });

  after(async () => {
    await admin?.close();
    await server?.close();
  });

  it('counts handshakes accepted and refused by status, and open WebSockets', () => {
    const f = before1.families;
    assert.deepEqual(samples(f, 'capstan_websocket_handshakes_accepted_total', []), { '': 4 });
    assert.deepEqual(samples(f, 'capstan_websocket_handshakes_refused_total', ['status']), { '404': 2, '426': 1 });
    assert.deepEqual(samples(f, 'capstan_websocket_open', []), { '': 1 });
    assert.deepEqual(samples(after1001.families, 'capstan_websocket_open', []), { '': 0 });
  });

  it('counts messages and their payload bytes each way', () => {
    const f = before1.families;
    const bytes = 3 + 10 + Buffer.byteLength('héllo') + 100 + 0;
    assert.deepEqual(samples(f, 'capstan_websocket_messages_total', ['direction']), { in: 5, out: 5 });
    assert.deepEqual(samples(f, 'capstan_websocket_message_bytes_total', ['direction']), { in: bytes, out: bytes });
  });

  it('counts pings and pongs each way: the client’s ping answered, every heartbeat the client answered', () => {
    const f = before1.families;
    const pings = samples(f, 'capstan_websocket_pings_total', ['direction']);
    const pongs = samples(f, 'capstan_websocket_pongs_total', ['direction']);
    assert.equal(pings.in, 1);
    assert.equal(pongs.out, 1);
    assert.equal(pongs.in, beats);
    assert.ok((pings.out as number) >= beats, `${pings.out} heartbeats sent, ${beats} answered`);
  });

  it('counts close codes sent and received, and 1001 sent on shutdown', () => {
    assert.deepEqual(samples(before1.families, 'capstan_websocket_closes_total', ['direction', 'code']), {
      'sent 1000': 2,
      'sent 4001': 1,
      'received 1000': 2,
      'received 4001': 1,
    });
    const later = samples(after1001.families, 'capstan_websocket_closes_total', ['direction', 'code']);
    assert.equal(later['sent 1001'], 1);
    assert.equal(later['received 1001'], 1, 'the ws client echoed our 1001');
  });

  it('shows no compression or pub/sub series while the server counts none', () => {
    for (const name of ['capstan_websocket_deflate_bytes_total', 'capstan_websocket_deflate_ratio', 'capstan_websocket_topic_subscribers', 'capstan_websocket_publishes_total']) {
      assert.deepEqual(samples(before1.families, name, []), {}, name);
    }
  });

  it('serves the same figures in /stats.json, per worker and combined', () => {
    const combined = before1.stats.combined.listeners[NAME]?.websocket;
    assert.deepEqual(combined, before1.stats.workers[0]?.listeners[NAME]?.websocket);
    assert.ok(combined !== undefined);
    assert.deepEqual(
      { ...combined, pingsOut: 0, pongsIn: 0 },
      {
        handshakesAccepted: 4,
        handshakesRefused: { '404': 2, '426': 1 },
        httpRequests: 0,
        messagesIn: 5,
        messagesOut: 5,
        bytesIn: 119,
        bytesOut: 119,
        pingsIn: 1,
        pingsOut: 0,
        pongsIn: 0,
        pongsOut: 1,
        closesSent: { '1000': 2, '4001': 1 },
        closesReceived: { '1000': 2, '4001': 1 },
        open: 1,
      },
    );
  });

  it('shows a WebSocket table in capstan stats', () => {
    const lines = table.split('\n');
    const head = lines.findIndex((l) => l.startsWith('WEBSOCKET'));
    assert.ok(head >= 0, table);
    const row = lines[head + 1] ?? '';
    const cells = row.split(/\s{2,}/);
    assert.equal(cells[0], NAME);
    assert.equal(cells[1], '1', 'open');
    assert.equal(cells[3], '404 2, 426 1', 'refused by status');
    // No socket is left on /beat, so no heartbeat went out between the scrape and the table.
    assert.equal(cells[8], `1/${before1.stats.combined.listeners[NAME]?.websocket?.pingsOut}`, 'pings in/out');
    assert.match(row, /1000 2, 4001 1\s+1000 2, 4001 1/, 'close codes sent and received');
  });
});

describe('WebSocket figures the server adds when it has them', () => {
  it('expose the permessage-deflate ratio, subscribers per topic and publishes', async () => {
    const ws = new WebSocketCounters().snapshot();
    const stats = { ...new ListenerCounters().snapshot(0), websocket: { ...ws, deflate: { plainOut: 3000, wireOut: 1000, plainIn: 800, wireIn: 400, capped: 0 }, topics: { news: 3, chat: 1 }, publishes: 7 } };
    const snap = combineSnapshots([collectWorkerSnapshot('main', new Map([['l', { stats: () => stats }]]))], false);
    const f = parsePrometheus(await createExposition().render(snap));
    const at = { worker: 'main', listener: 'l' };
    assert.deepEqual(samples(f, 'capstan_websocket_deflate_ratio', ['direction'], at), { out: 3, in: 2 });
    assert.deepEqual(samples(f, 'capstan_websocket_deflate_bytes_total', ['direction', 'side'], at), { 'out plain': 3000, 'out wire': 1000, 'in plain': 800, 'in wire': 400 });
    assert.deepEqual(samples(f, 'capstan_websocket_topic_subscribers', ['topic'], at), { news: 3, chat: 1 });
    assert.deepEqual(samples(f, 'capstan_websocket_publishes_total', [], at), { '': 7 });
  });
});
