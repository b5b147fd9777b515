import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { LatencyRecorder, LATENCY_BUCKETS_US, WINDOW_MS } from '../../src/metrics/latency.js';
import { collectWorkerSnapshot, combineSnapshots, type WorkerSnapshot } from '../../src/metrics/snapshot.js';
import { waitFor, portOf } from '../support/net.js';
import { driveEcho, echoServer } from './support.js';

function workerWith(worker: string, listener: string, fill: (c: ListenerCounters) => void, recorder?: LatencyRecorder, now = Date.now()): WorkerSnapshot {
  const counters = new ListenerCounters();
  fill(counters);
  const snap = collectWorkerSnapshot(worker, new Map([[listener, { stats: () => counters.snapshot(7) }]]));
  if (recorder !== undefined) {
    const { summary, histogram } = recorder.collect(now);
    Object.assign(snap.listeners[listener] as object, { latencyUs: summary, latencyHist: histogram });
  }
  return snap;
}

describe('worker snapshots', () => {
  it('count the connections, messages and bytes a test client exchanged', async () => {
    const server = await echoServer('snap-echo');
    const traffic = await driveEcho(portOf(server), 3, 10, 100);
    await waitFor(() => server.stats().active === 0, 30_000, 'connections to close');
    const snap = collectWorkerSnapshot('main', new Map([['snap-echo', server]]));
    const l = snap.listeners['snap-echo'];
    assert.ok(l !== undefined);
    assert.equal(l.accepted, traffic.connections);
    assert.equal(l.active, 0);
    assert.equal(l.closes['peer-closed'] + l.closes['local-end'], traffic.connections);
    assert.equal(l.framesIn, traffic.messages);
    assert.equal(l.framesOut, traffic.messages);
    assert.equal(l.bytesIn, traffic.bytes);
    assert.equal(l.bytesOut, traffic.bytes);
    assert.equal(snap.worker, 'main');
    assert.equal(snap.pid, process.pid);
    assert.ok(snap.process.rssBytes > 0 && snap.process.heapUsedBytes > 0);
    await server.close();
  });

  it('carry the handler latency the connections recorded', async () => {
    const server = await echoServer('snap-latency');
    await driveEcho(portOf(server), 2, 20, 16, true);
    const l = collectWorkerSnapshot('main', new Map([['snap-latency', server]])).listeners['snap-latency'];
    assert.ok(l?.latencyUs !== undefined && l.latencyHist !== undefined);
    assert.ok(l.latencyHist.count > 0, 'batches with replies were recorded');
    assert.equal(l.latencyHist.buckets.at(-1), l.latencyHist.count, 'the +Inf bucket holds every value');
    assert.ok(l.latencyUs.count > 0 && l.latencyUs.p50 <= l.latencyUs.p99 && l.latencyUs.p99 <= l.latencyUs.max);
    await server.close();
  });

  it('leave out latency for a listener without a recorder', () => {
    const snap = workerWith('w', 'no-recorder-listener', () => {});
    assert.equal(snap.listeners['no-recorder-listener']?.latencyUs, undefined);
  });
});

describe('latency recorder', () => {
  it('shows the last closed window while keeping cumulative buckets since start', () => {
    const rec = new LatencyRecorder('window-test');
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) rec.record(100);
    const first = rec.collect(t0 + WINDOW_MS);
    assert.equal(first.summary.count, 100);
    assert.equal(first.summary.p50, 100);
    for (let i = 0; i < 10; i++) rec.record(5_000);
    const early = rec.collect(t0 + WINDOW_MS + 100);
    assert.equal(early.summary.count, 100, 'the window still open is not shown yet');
    assert.equal(early.histogram.count, 110, 'cumulative counts include it');
    const later = rec.collect(t0 + 2 * WINDOW_MS + 100);
    assert.equal(later.summary.count, 10);
    assert.ok(Math.abs(later.summary.p50 - 5_000) <= 50, `p50 ${later.summary.p50} is within 1% of 5000`);
    assert.equal(later.histogram.sumUs, 100 * 100 + 10 * 5_000);
  });

  it('puts each value in the first bucket whose bound is at or above it', () => {
    const rec = new LatencyRecorder('bucket-test');
    rec.record(25);
    rec.record(26);
    rec.record(100);
    rec.record(20_000_000);
    const { histogram } = rec.collect();
    const at = (bound: number) => histogram.buckets[LATENCY_BUCKETS_US.indexOf(bound)];
    assert.equal(at(25), 1);
    assert.equal(at(50), 2);
    assert.equal(at(100), 3);
    assert.equal(at(10_000_000), 3);
    assert.equal(at(Infinity), 4);
  });
});

describe('combining worker snapshots', () => {
  it('sums every counter, including close reasons, refusals and accept errors', () => {
    const a = workerWith('1', 'echo', (c) => {
      c.accepted = 5;
      c.active = 2;
      c.bytesIn = 1000;
      c.closes['peer-closed'] = 3;
      c.refused['max-connections'] = 1;
      c.acceptErrors.EMFILE = 2;
    });
    const b = workerWith('2', 'echo', (c) => {
      c.accepted = 7;
      c.active = 1;
      c.bytesIn = 24;
      c.closes['peer-closed'] = 4;
      c.closes['idle-timeout'] = 2;
      c.acceptErrors.ENFILE = 1;
    });
    const s = combineSnapshots([a, b], false);
    const l = s.combined.listeners.echo;
    assert.ok(l !== undefined);
    assert.equal(l.accepted, 12);
    assert.equal(l.active, 3);
    assert.equal(l.bytesIn, 1024);
    assert.equal(l.bufferedBytes, 14);
    assert.equal(l.closes['peer-closed'], 7);
    assert.equal(l.closes['idle-timeout'], 2);
    assert.equal(l.timeouts.idle, 2);
    assert.equal(l.refused['max-connections'], 1);
    assert.deepEqual(l.acceptErrors, { EMFILE: 2, ENFILE: 1 });
    assert.equal(s.workers.length, 2);
    assert.equal(s.draining, false);
  });

  it('keeps listeners that only some workers have', () => {
    const a = workerWith('1', 'only-a', (c) => (c.accepted = 1));
    const b = workerWith('2', 'only-b', (c) => (c.accepted = 2));
    const s = combineSnapshots([a, b], true);
    assert.equal(s.combined.listeners['only-a']?.accepted, 1);
    assert.equal(s.combined.listeners['only-b']?.accepted, 2);
    assert.equal(s.draining, true);
  });

  it('merges latency histograms so combined percentiles cover every worker', () => {
    const ra = new LatencyRecorder('merge-a');
    const rb = new LatencyRecorder('merge-b');
    for (let v = 1; v <= 1000; v++) ra.record(v);
    for (let v = 1001; v <= 2000; v++) rb.record(v);
    const now = Date.now() + WINDOW_MS;
    const s = combineSnapshots([workerWith('1', 'echo', () => {}, ra, now), workerWith('2', 'echo', () => {}, rb, now)], false);
    const lat = s.combined.listeners.echo?.latencyUs;
    assert.ok(lat !== undefined);
    assert.equal(lat.count, 2000);
    assert.ok(Math.abs(lat.p50 - 1000) <= 10, `p50 ${lat.p50} ≈ 1000`);
    assert.ok(Math.abs(lat.p90 - 1800) <= 18, `p90 ${lat.p90} ≈ 1800`);
    assert.ok(lat.max >= 2000 && lat.max <= 2020);
    const hist = s.combined.listeners.echo?.latencyHist;
    assert.equal(hist?.count, 2000);
    assert.equal(hist?.sumUs, (2000 * 2001) / 2);
  });
});
