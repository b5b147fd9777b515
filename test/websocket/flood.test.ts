/**
 * A handshake flood: 2,100 connections from another process, most sending
 * their upgrade request a byte at a time, the rest past each header bound or
 * with a bad key. Each is closed by its own bound with its own status, close
 * reason and counter; the log stays within its budget; the server's memory
 * stays bounded by the limits; and a well-behaved client connects and echoes
 * all through it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listen, websocket } from '../../src/index.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { portOf, waitFor } from '../support/net.js';
import { wsConnect } from '../support/ws-client.js';
import type { GroupOutcome } from './flood-peers.js';

const PEERS = fileURLToPath(new URL('./flood-peers.js', import.meta.url));
const UPGRADE_TIMEOUT_MS = 4_000;
const GROUPS = [
  { kind: 'drip', count: 1_500 },
  { kind: 'endless-head', count: 300 },
  { kind: 'long-line', count: 100 },
  { kind: 'many-headers', count: 100 },
  { kind: 'bad-key', count: 100 },
] as const;

/** Heap and buffers: what a connection's held request bytes and state are made of. */
function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('a handshake flood', () => {
  it('is bounded by upgradeTimeoutMs and the header limits, each refusal counted with its status, while a well-behaved client echoes', async (t) => {
    const lines: LoggedLine[] = [];
    const closes: Array<{ code: number; reason: string }> = [];
    const ws = websocket({
      path: '/',
      upgradeTimeoutMs: UPGRADE_TIMEOUT_MS,
      handler: {
        message: (s, data, isBinary) => void s.send(data, isBinary),
        close: (_s, code, reason) => void closes.push({ code, reason }),
      },
    });
    // Default limits: 10,000 connections, 1,000 per address (the flood comes from ten).
    const server = await listen({ port: 0, logger: recordingLogger(lines), websocket: ws });
    const port = portOf(server);
    try {
      const warm = await wsConnect(`ws://127.0.0.1:${port}/`);
      warm.socket.send('warm');
      await warm.received(1);
      await warm.close();
      const base = held();
      let peak = base;
      let peakOpen = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, held());
        peakOpen = Math.max(peakOpen, server.connectionCount);
      }, 20);

      const child = spawn(process.execPath, [PEERS, JSON.stringify({ port, groups: GROUPS })], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const flooding = new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('FLOODING\n')) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      try {
        await Promise.race([flooding, exited]);
        // Every flood connection has been made; the slow ones hold on until their upgrade deadline.
        let openDuringFlood = 0;
        let echoed = 0;
        for (let round = 0; round < 3; round++) {
          const c = await wsConnect(`ws://127.0.0.1:${port}/`);
          if (round === 0) openDuringFlood = server.connectionCount;
          const sent: string[] = [];
          for (let i = 0; i < 20; i++) {
            const binary = i % 2 === 1;
            const payload = Buffer.alloc(1 + ((round * 997 + i * 131) % 3000), (round * 20 + i) & 0xff);
            c.socket.send(binary ? payload : payload.toString('hex'), { binary });
            sent.push(payload.toString('hex'));
          }
          const got = await c.received(20);
          assert.deepEqual(
            got.map((m) => m.data),
            sent,
          );
          echoed += got.length;
          assert.equal((await c.close(1000)).code, 1000);
        }
        assert.equal(echoed, 60);
        assert.ok(openDuringFlood >= 500, `the well-behaved client was served while ${openDuringFlood} flood connections were open`);
        assert.equal(await exited, 0);
      } finally {
        clearTimeout(killer);
        clearInterval(sampler);
      }
      const outcomes = JSON.parse(out.trim().split('\n').pop() as string) as GroupOutcome[];
      const by = new Map(outcomes.map((o) => [o.kind, o]));
      for (const g of GROUPS) {
        const o = by.get(g.kind) as GroupOutcome;
        assert.equal(o.connected, g.count, `${g.kind}: ${JSON.stringify(o)}`);
      }
      // A request never finished: destroyed at the deadline, nothing answered.
      const drip = by.get('drip') as GroupOutcome;
      assert.deepEqual(drip.statuses, { none: 1_500 });
      assert.equal(drip.resets, 1_500);
      // Over a bound: the status, then FIN.
      const refusals: Array<[string, string]> = [
        ['endless-head', '431'],
        ['long-line', '414'],
        ['many-headers', '431'],
        ['bad-key', '400'],
      ];
      for (const [kind, status] of refusals) {
        const o = by.get(kind as GroupOutcome['kind']) as GroupOutcome;
        assert.deepEqual(o.statuses, { [status]: o.connected }, `${kind}: ${JSON.stringify(o)}`);
        assert.equal(o.ends, o.connected, `${kind}: answered and ended, not reset`);
      }

      await waitFor(() => server.connectionCount === 0, 10_000, 'every flood connection to be gone');
      const st = server.stats();
      assert.equal(st.closes['handshake-timeout'], 1_500);
      assert.equal(st.closes['upgrade-refused'], 600);
      assert.deepEqual(ws.stats().handshakesRefused, { '400': 100, '414': 100, '431': 400 });
      assert.equal(ws.stats().handshakesAccepted, 4);
      assert.deepEqual(closes.map((c) => c.code), [1000, 1000, 1000, 1000]);
      // The log: a line per second's budget and summaries, not a line per connection.
      const closedLines = lines.filter((l) => l.obj.reason === 'handshake-timeout' || l.obj.reason === 'upgrade-refused');
      assert.ok(closedLines.length > 0 && closedLines.length <= 200, `${closedLines.length} close lines for 2,100 closes`);
      assert.ok(lines.some((l) => /^suppressed \d+/.test(l.msg ?? '')), 'the suppressed lines are summarised');
      // Memory held at the peak: bounded by the limits (a head holds at most maxHeaderBytes).
      const perConn = (peak - base) / Math.max(peakOpen, 1);
      t.diagnostic(`heap and buffers grew ${Math.round((peak - base) / 1024)} KiB at a peak of ${peakOpen} connections (${Math.round(perConn)} B each)`);
      assert.ok(peak - base < peakOpen * 16 * 1024 + 48 * 1024 * 1024, `heap and buffers grew ${Math.round((peak - base) / 1024)} KiB at ${peakOpen} connections (${Math.round(perConn)} B each)`);
    } finally {
      await server.close({ graceMs: 1_000 });
    }
  });
});
