import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { CLOSE_REASONS, isAbnormal } from '../../src/connection/close-reason.js';
import { chartData, errorCount, isAbnormalClose, rates } from '../../src/metrics/dashboard/series.js';
import { collectWorkerSnapshot, combineSnapshots, type ListenerSnapshot, type ServerSnapshot } from '../../src/metrics/snapshot.js';
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

  it('counts abnormal closes as errors: 915 protocol closes are not 0 errors', () => {
    const t = 1_700_000_000_000;
    const cur = snapshotAt(t, (c) => {
      c.closes['peer-closed'] = 40_000;
      c.closes['protocol-error'] = 915;
      c.closes['handler-error'] = 2;
      c.handlerErrors = 2;
    });
    assert.equal(errorCount(cur.combined.listeners.echo as ListenerSnapshot), 917, 'a handler error closes its connection once, and counts once');
    const row = renderStats(cur, undefined, 'http://admin').split('\n').find((l) => l.startsWith('echo')) ?? '';
    assert.equal(row.split(/\s{2,}/)[10], '917', 'the ERRORS column');
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

  it('tell normal closes from abnormal ones exactly as the connection log does', () => {
    for (const reason of CLOSE_REASONS) assert.equal(isAbnormalClose(reason), isAbnormal(reason), reason);
  });

  it('chart abnormal closes on their own, so 49.7/s of frame-too-large is not flattened by 5,000/s of peer-closed', () => {
    const t = 1_700_000_000_000;
    const history = [0, 1, 2].map((i) =>
      snapshotAt(t + i * 10_000, (c) => {
        c.closes['peer-closed'] = i * 50_000;
        c.closes['frame-too-large'] = i * 497;
      }),
    );
    const data = chartData(history, { listener: '*', worker: '*' });
    assert.deepEqual(
      data.closes.map((s) => [s.label, s.values]),
      [['peer-closed', [null, 5_000, 5_000]]],
    );
    assert.deepEqual(
      data.abnormalCloses.map((s) => [s.label, s.values]),
      [
        ['frame-too-large', [null, 49.7, 49.7]],
        ['refused', [null, 0, 0]],
      ],
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
