import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { chartData, rates } from '../../src/metrics/dashboard/series.js';
import { collectWorkerSnapshot, combineSnapshots, type ServerSnapshot } from '../../src/metrics/snapshot.js';
import { renderStats } from '../../src/metrics/stats-view.js';

/** A one-worker snapshot at `time` whose listener `echo` has the given counters. */
function snapshotAt(time: number, fill: (c: ListenerCounters) => void, worker = 'main'): ServerSnapshot {
  const c = new ListenerCounters();
  fill(c);
  const w = collectWorkerSnapshot(worker, new Map([['echo', { stats: () => c.snapshot(0) }]]));
  w.time = time;
  const s = combineSnapshots([w], false);
  s.time = time;
  return s;
}

describe('the stats view', () => {
  it('shows per-second rates computed from two snapshots', () => {
    const t = 1_700_000_000_000;
    const prev = snapshotAt(t, (c) => {
      c.framesIn = 1_000;
      c.bytesIn = 10_240;
      c.accepted = 10;
    });
    const cur = snapshotAt(t + 2_000, (c) => {
      c.framesIn = 5_000;
      c.bytesIn = 10_240 + 2 * 1024 * 1024;
      c.accepted = 30;
      c.active = 20;
      c.closes['peer-closed'] = 7;
      c.closes['idle-timeout'] = 2;
    });
    const text = renderStats(cur, prev, 'http://admin');
    const row = text.split('\n').find((l) => l.startsWith('echo'));
    assert.ok(row !== undefined);
    const cells = row.split(/\s{2,}/);
    assert.equal(cells[1], '20', 'active');
    assert.equal(cells[2], '10', 'accepted per second');
    assert.equal(cells[3], '2.00k', 'messages in per second');
    assert.equal(cells[5], '1.0 MiB', 'bytes in per second');
    assert.match(row, /peer-closed 7, idle-timeout 2$/);
  });

  it('shows dashes instead of rates before a second snapshot', () => {
    const text = renderStats(snapshotAt(Date.now(), (c) => (c.framesIn = 9)), undefined, 'http://admin');
    const row = text.split('\n').find((l) => l.startsWith('echo')) ?? '';
    assert.equal(row.split(/\s{2,}/)[3], '–');
  });

  it('says when the server is draining', () => {
    const s = snapshotAt(Date.now(), () => {});
    s.draining = true;
    assert.match(renderStats(s, undefined, 'http://admin'), /DRAINING/);
  });
});

describe('dashboard series', () => {
  it('turn counters into per-second rates and leave a gap where a worker restarted', () => {
    const t = 1_700_000_000_000;
    const history = [100, 300, 50].map((n, i) => snapshotAt(t + i * 1000, (c) => (c.framesIn = n)));
    assert.deepEqual(
      rates(history, (s) => s.combined.listeners.echo?.framesIn ?? null),
      [null, 200, null],
    );
  });

  it('give one latency series per percentile for a chosen listener', () => {
    const history = [snapshotAt(Date.now(), () => {})];
    const data = chartData(history, { listener: 'echo', worker: '*' });
    assert.deepEqual(
      data.latency.map((s) => s.label),
      ['p50', 'p90', 'p99', 'p999'],
    );
    assert.deepEqual(
      data.connections.map((s) => s.label),
      ['echo'],
    );
  });
});
