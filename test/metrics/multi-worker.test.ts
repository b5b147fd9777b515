import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheus from 'parse-prometheus-text-format';
import { createExposition } from '../../src/metrics/prometheus.js';
import { combineSnapshots, type ListenerSnapshot, type ServerSnapshot, type WorkerSnapshot } from '../../src/metrics/snapshot.js';
import { driveEcho, spawnWorker, type Traffic, type WorkerProcess } from './support.js';

/** Every numeric counter of a listener snapshot by path (`closes.peer-closed` …), latency left out. */
function counters(l: ListenerSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (o: object, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'latencyUs' || k === 'latencyHist') continue;
      if (typeof v === 'number') out.set(prefix + k, v);
      else if (v !== null && typeof v === 'object') walk(v, `${prefix}${k}.`);
    }
  };
  walk(l, '');
  return out;
}

describe('two worker processes', () => {
  let workers: WorkerProcess[] = [];
  let traffic: Traffic[] = [];
  let snaps: WorkerSnapshot[] = [];
  let combined: ServerSnapshot;

  before(async () => {
    workers = await Promise.all([spawnWorker('1', 'mw-echo'), spawnWorker('2', 'mw-echo')]);
    const [a, b] = workers as [WorkerProcess, WorkerProcess];
    traffic = await Promise.all([driveEcho(a.port, 2, 15, 40, true), driveEcho(b.port, 3, 11, 90, true)]);
    // The workers count a close once the FIN exchange finishes: wait until both report none active.
    const deadline = Date.now() + 30_000;
    for (;;) {
      snaps = await Promise.all(workers.map((w) => w.snapshot()));
      if (snaps.every((s) => s.listeners['mw-echo']?.active === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    combined = combineSnapshots(snaps, false);
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  it('report themselves under their own worker ids and pids', () => {
    assert.deepEqual(
      snaps.map((s) => s.worker),
      ['1', '2'],
    );
    assert.notEqual(snaps[0]?.pid, snaps[1]?.pid);
    assert.notEqual(snaps[0]?.pid, process.pid);
  });

  it('count what each worker served', () => {
    snaps.forEach((s, i) => {
      const l = s.listeners['mw-echo'];
      assert.equal(l?.accepted, traffic[i]?.connections);
      assert.equal(l?.bytesIn, traffic[i]?.bytes);
      assert.equal(l?.framesOut, traffic[i]?.messages);
    });
  });

  it('combine into figures that equal the sum of the workers, counter by counter', () => {
    const sum = new Map<string, number>();
    for (const s of snaps) for (const [k, v] of counters(s.listeners['mw-echo'] as ListenerSnapshot)) sum.set(k, (sum.get(k) ?? 0) + v);
    const got = counters(combined.combined.listeners['mw-echo'] as ListenerSnapshot);
    assert.deepEqual([...got.entries()].sort(), [...sum.entries()].sort());
    assert.equal(got.get('accepted'), 5);
    assert.equal(got.get('bytesIn'), (traffic[0]?.bytes ?? 0) + (traffic[1]?.bytes ?? 0));
  });

  it('merge latency so the combined window counts every worker’s batches', () => {
    const l = combined.combined.listeners['mw-echo'];
    const parts = snaps.map((s) => s.listeners['mw-echo'] as ListenerSnapshot);
    assert.equal(l?.latencyUs?.count, parts.reduce((n, p) => n + (p.latencyUs?.count ?? 0), 0));
    assert.equal(l?.latencyHist?.count, parts.reduce((n, p) => n + (p.latencyHist?.count ?? 0), 0));
    assert.ok((l?.latencyHist?.count ?? 0) > 0);
    assert.ok((l?.latencyUs?.max ?? 0) >= Math.max(...parts.map((p) => p.latencyUs?.max ?? 0)));
  });

  it('expose per-worker series in /metrics that sum to the combined figures', async () => {
    const families = parsePrometheus(await createExposition().render(combined));
    const bytes = families.find((f) => f.name === 'capstan_received_bytes_total');
    const series = bytes?.metrics.filter((m) => m.labels?.listener === 'mw-echo') ?? [];
    assert.deepEqual(series.map((m) => m.labels?.worker).sort(), ['1', '2']);
    assert.equal(
      series.reduce((n, m) => n + Number(m.value), 0),
      combined.combined.listeners['mw-echo']?.bytesIn,
    );
    const rss = families.find((f) => f.name === 'capstan_process_resident_memory_bytes');
    assert.equal(rss?.metrics.length, 2);
  });
});
