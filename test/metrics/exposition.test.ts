import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { silentLogger, type Server } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/metrics/admin-server.js';
import { ADMIN_METRICS, LATENCY_METRIC, METRICS } from '../../src/metrics/metric-defs.js';
import { createExposition } from '../../src/metrics/prometheus.js';
import { combineSnapshots, collectWorkerSnapshot } from '../../src/metrics/snapshot.js';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { portOf, waitFor } from '../support/net.js';
import { driveEcho, echoServer, localSource, type Traffic } from './support.js';

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const f = families.find((x) => x.name === name);
  assert.ok(f !== undefined, `${name} is exposed`);
  return f;
}

/** The value of the one sample of `name` whose labels include `labels`. */
function value(families: ParsedFamily[], name: string, labels: Record<string, string>): number {
  const matches = family(families, name).metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.equal(matches.length, 1, `one ${name} sample with ${JSON.stringify(labels)}`);
  return Number(matches[0]?.value);
}

describe('the /metrics exposition', () => {
  let server: Server;
  let admin: AdminServer;
  let traffic: Traffic;
  let families: ParsedFamily[];
  let contentType: string | null;

  before(async () => {
    server = await echoServer('expo-echo');
    traffic = await driveEcho(portOf(server), 4, 25, 60, true);
    await waitFor(() => server.stats().active === 0, 30_000, 'connections to close');
    admin = await startAdminServer({ port: 0, logger: silentLogger, source: localSource(new Map([['expo-echo', server]])) });
    const res = await fetch(`http://127.0.0.1:${admin.address.port}/metrics`);
    assert.equal(res.status, 200);
    contentType = res.headers.get('content-type');
    families = parsePrometheus(await res.text());
  });

  after(async () => {
    await admin.close();
    await server.close();
  });

  it('is served as Prometheus text format version 0.0.4', () => {
    assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);
  });

  it('parses, with HELP and TYPE for every metric Capstan defines', () => {
    for (const def of [...METRICS, ...ADMIN_METRICS]) {
      const f = family(families, def.name);
      assert.equal(f.type, def.type.toUpperCase(), `${def.name} type`);
      assert.equal(f.help, def.help, `${def.name} help`);
    }
    const h = family(families, LATENCY_METRIC.name);
    assert.equal(h.type, 'HISTOGRAM');
  });

  it('counts the connections the test client opened and closed', () => {
    const labels = { worker: 'main', listener: 'expo-echo' };
    assert.equal(value(families, 'capstan_connections_accepted_total', labels), traffic.connections);
    assert.equal(value(families, 'capstan_connections_active', labels), 0);
    const closed = family(families, 'capstan_connections_closed_total').metrics.reduce((n, m) => n + Number(m.value), 0);
    assert.equal(closed, traffic.connections);
  });

  it('counts the bytes and messages the test client sent', () => {
    const labels = { worker: 'main', listener: 'expo-echo' };
    assert.equal(value(families, 'capstan_received_bytes_total', labels), traffic.bytes);
    assert.equal(value(families, 'capstan_sent_bytes_total', labels), traffic.bytes);
    assert.equal(value(families, 'capstan_messages_received_total', labels), traffic.messages);
    assert.equal(value(families, 'capstan_messages_sent_total', labels), traffic.messages);
  });

  it('exposes handler latency as a cumulative histogram ending in +Inf', () => {
    const h = family(families, LATENCY_METRIC.name);
    const buckets = h.metrics[0]?.buckets;
    assert.ok(buckets !== undefined);
    const counts = Object.entries(buckets)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, v]) => Number(v));
    for (let i = 1; i < counts.length; i++) assert.ok((counts[i] as number) >= (counts[i - 1] as number), 'buckets never decrease');
    assert.ok(Number(buckets['+Inf']) > 0, 'replies were timed');
  });

  it('reports process memory and event-loop figures for the worker', () => {
    assert.ok(value(families, 'capstan_process_resident_memory_bytes', { worker: 'main' }) > 0);
    const elu = value(families, 'capstan_eventloop_utilization_ratio', { worker: 'main' });
    assert.ok(elu >= 0 && elu <= 1);
    assert.equal(value(families, 'capstan_workers', {}), 1);
  });

  it("counts the admin endpoint's own connections, the scrape's among them", () => {
    assert.equal(value(families, 'capstan_admin_connections_accepted_total', {}), 1);
    assert.equal(value(families, 'capstan_admin_connections_active', {}), 1);
    for (const reason of ['max-per-address', 'max-connections']) assert.equal(value(families, 'capstan_admin_connections_refused_total', { reason }), 0);
    for (const reason of ['evicted', 'request-timeout', 'bad-request']) assert.equal(value(families, 'capstan_admin_connections_closed_total', { reason }), 0);
  });
});

describe('exposition edge cases', () => {
  it('escapes listener names with quotes, backslashes and newlines so they parse back intact', async () => {
    const name = 'odd "name" \\ with\nnewline';
    const counters = new ListenerCounters();
    counters.accepted = 3;
    const snap = combineSnapshots([collectWorkerSnapshot('w"1', new Map([[name, { stats: () => counters.snapshot(0) }]]))], false);
    const families = parsePrometheus(await createExposition().render(snap));
    assert.equal(value(families, 'capstan_connections_accepted_total', { worker: 'w"1', listener: name }), 3);
  });

  it('renders concurrent scrapes each from its own snapshot', async () => {
    const exposition = createExposition();
    const snaps = [1, 2, 3].map((n) => {
      const c = new ListenerCounters();
      c.accepted = n;
      return combineSnapshots([collectWorkerSnapshot('main', new Map([['l', { stats: () => c.snapshot(0) }]]))], false);
    });
    const texts = await Promise.all(snaps.map((s) => exposition.render(s)));
    texts.forEach((t, i) => assert.equal(value(parsePrometheus(t), 'capstan_connections_accepted_total', { listener: 'l' }), i + 1));
  });
});

describe('docs/metrics.md', () => {
  it('documents every metric with its type and labels', () => {
    const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
    for (const def of [...METRICS, LATENCY_METRIC, ...ADMIN_METRICS]) {
      const row = doc.split('\n').find((l) => l.includes(`\`${def.name}\``));
      assert.ok(row !== undefined, `${def.name} has a row`);
      assert.ok(row.includes(def.type), `${def.name} row names its type`);
      for (const label of def.labels) assert.ok(row.includes(`\`${label}\``), `${def.name} row names label ${label}`);
    }
  });
});
