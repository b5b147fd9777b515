/**
 * The dashboard's history on a real admin server: sampled on the admin
 * thread, bounded, served after a sample number, thinned, and quiet about a
 * failing source (one line when failures start, one when they stop).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError, silentLogger } from '../../src/index.js';
import { MAX_HISTORY_BYTES, SnapshotHistory } from '../../src/metrics/admin-history.js';
import { startAdminServer, type AdminServerOptions, type StatsSource } from '../../src/metrics/admin-server.js';
import type { ListenerSnapshot, ServerSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/net.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';

interface Reply {
  intervalMs: number;
  maxSamples: number;
  last: number;
  error?: string;
  samples: ServerSnapshot[];
}

/** A snapshot whose time is `n` and whose one listener carries a latency histogram. */
function numbered(n: number): ServerSnapshot {
  const listener = { active: n, latencyUs: { count: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 }, latencyHist: { recent: [[0, 1]], buckets: [1], count: 1, sumUs: 1 } } as unknown as ListenerSnapshot;
  return { time: n, draining: false, workers: [{ worker: 'main', pid: 1, time: n, listeners: { echo: listener }, process: {} as ServerSnapshot['workers'][number]['process'] }], combined: { listeners: { echo: { ...listener } } } };
}

function countingSource(): StatsSource & { taken: number } {
  const source = {
    taken: 0,
    ready: () => true,
    snapshot: async () => numbered(++source.taken),
  };
  return source;
}

/** Runs `check` against an admin server started with `options`, and closes it after. */
async function withAdmin(options: Omit<AdminServerOptions, 'port'>, check: (base: string) => Promise<void>): Promise<void> {
  const admin = await startAdminServer({ port: 0, logger: silentLogger, ...options });
  try {
    await check(`http://127.0.0.1:${admin.address.port}`);
  } finally {
    await admin.close();
  }
}

async function history(base: string, after?: number): Promise<Reply> {
  const res = await fetch(`${base}/stats/history.json${after === undefined ? '' : `?after=${after}`}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return (await res.json()) as Reply;
}

describe('the dashboard history', () => {
  it('keeps the last maxSamples snapshots, sampled without any request, oldest first', async () => {
    const source = countingSource();
    await withAdmin({ source, history: { intervalMs: 100, maxSamples: 3 } }, async (base) => {
      await waitFor(() => source.taken >= 6, 30_000, 'six samples');
      const reply = await history(base);
      assert.equal(reply.intervalMs, 100);
      assert.equal(reply.maxSamples, 3);
      const times = reply.samples.map((s) => s.time);
      assert.equal(times.length, 3, 'no more than maxSamples');
      assert.ok(times[0]! >= 3 && times[1] === times[0]! + 1 && times[2] === times[0]! + 2, `the latest three, in order: ${times.join(', ')}`);
      assert.ok(reply.last >= times[2]!, 'last numbers the newest sample');
    });
  });

  it('answers ?after=N with only the samples taken after N', async () => {
    const source = countingSource();
    await withAdmin({ source, history: { intervalMs: 100, maxSamples: 100 } }, async (base) => {
      await waitFor(() => source.taken >= 2, 30_000, 'two samples');
      const first = await history(base);
      await waitFor(() => source.taken >= first.last + 3, 30_000, 'three more samples');
      const next = await history(base, first.last);
      assert.ok(next.samples.length >= 2, `${next.samples.length} new samples`);
      const newest = first.samples.at(-1)?.time ?? 0;
      assert.ok(next.samples.every((s) => s.time > newest), 'nothing the page already has');
      assert.deepEqual((await history(base, next.last)).samples.filter((s) => s.time <= (next.samples.at(-1)?.time ?? 0)), []);
    });
  });

  it('drops the latency histograms the dashboard does not draw, which /stats.json keeps', async () => {
    const source = countingSource();
    await withAdmin({ source, history: { intervalMs: 100, maxSamples: 10 } }, async (base) => {
      await waitFor(() => source.taken >= 2, 30_000, 'a sample');
      const sample = (await history(base)).samples[0];
      assert.equal(sample?.combined.listeners.echo?.latencyHist, undefined);
      assert.equal(sample?.workers[0]?.listeners.echo?.latencyHist, undefined);
      assert.equal(sample?.combined.listeners.echo?.latencyUs?.p99, 1, 'the percentiles stay');
      const full = (await (await fetch(`${base}/stats.json`)).json()) as ServerSnapshot;
      assert.notEqual(full.combined.listeners.echo?.latencyHist, undefined);
    });
  });

  it('logs a failing source once when failures start and once when they end, and says why in the reply meanwhile', async () => {
    let fail = true;
    let asked = 0;
    const source: StatsSource = {
      ready: () => true,
      snapshot: async () => {
        asked++;
        if (fail) throw new Error('worker 2 did not answer');
        return numbered(asked);
      },
    };
    const lines: LoggedLine[] = [];
    await withAdmin({ logger: recordingLogger(lines), source, history: { intervalMs: 100, maxSamples: 10 } }, async (base) => {
      await waitFor(() => asked >= 5, 30_000, 'five failed samples');
      assert.equal((await history(base)).error, 'worker 2 did not answer');
      fail = false;
      await waitFor(() => lines.some((l) => l.msg === 'dashboard history: snapshots are taken again'), 30_000, 'the recovery line');
      const failures = lines.filter((l) => /snapshot/.test(l.msg ?? '') && l.level === 'warn');
      assert.deepEqual(
        failures.map((l) => l.msg),
        ['dashboard history: a snapshot failed; trying again every interval'],
      );
      const reply = await history(base);
      assert.equal(reply.error, undefined);
      assert.ok(reply.samples.length >= 1);
    });
  });

  it('is off with history: false (404, and no snapshots unless asked)', async () => {
    const source = countingSource();
    await withAdmin({ source, history: false }, async (base) => {
      assert.equal((await fetch(`${base}/stats/history.json`)).status, 404);
      // A sampler asks at once and then every second (the default interval).
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal(source.taken, 0);
    });
  });

  it('refuses a history interval under 100 ms or a sample count under 1', async () => {
    const source = countingSource();
    await assert.rejects(startAdminServer({ port: 0, source, history: { intervalMs: 10 } }), (err) => isCapstanError(err, 'ERR_INVALID_OPTION') && /history\.intervalMs/.test(err.message));
    await assert.rejects(startAdminServer({ port: 0, source, history: { maxSamples: 0 } }), (err) => isCapstanError(err, 'ERR_INVALID_OPTION') && /history\.maxSamples/.test(err.message));
  });
});

describe('SnapshotHistory', () => {
  it('drops the oldest samples once their text passes MAX_HISTORY_BYTES, whatever maxSamples allows', () => {
    const h = new SnapshotHistory({ intervalMs: 1000, maxSamples: 1000 });
    const big = numbered(1);
    // About a quarter of the budget per sample: at most four fit.
    big.combined.listeners = { ['x'.repeat(Math.floor(MAX_HISTORY_BYTES / 4) - 1000)]: big.combined.listeners.echo as ListenerSnapshot };
    for (let i = 0; i < 8; i++) h.add(JSON.stringify({ ...big, time: i }));
    assert.ok(h.length >= 3 && h.length <= 4, `${h.length} samples kept`);
    const kept = (JSON.parse(h.render()) as Reply).samples.map((s) => s.time);
    assert.deepEqual(kept, Array.from({ length: h.length }, (_, i) => 8 - h.length + i), 'the newest ones');
  });
});
