/**
 * Prometheus text exposition of a {@link ServerSnapshot}, through prom-client's
 * Registry (HELP, TYPE, label escaping). One Registry per admin server; each
 * metric reads the snapshot taken for the scrape, so nothing is counted twice
 * and nothing costs anything between scrapes.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { AdminConnectionStats } from './admin-guard.js';
import { LATENCY_BUCKETS_US } from './latency.js';
import { ADMIN_METRICS, LATENCY_METRIC, METRICS, type MetricDef, type Sample } from './metric-defs.js';
import type { ServerSnapshot } from './snapshot.js';

const require = createRequire(import.meta.url);

export interface Exposition {
  /** The `Content-Type` of {@link Exposition.render}'s output. */
  readonly contentType: string;
  /** The exposition text of `snapshot` and, when given, the admin endpoint's own counters, with HELP and TYPE lines. */
  render(snapshot: ServerSnapshot, admin?: AdminConnectionStats): Promise<string>;
}

export function createExposition(): Exposition {
  // Loaded here, not at import, so that importing Capstan does not pay for prom-client.
  const prom = require('prom-client') as typeof PromClient;
  const registry = new prom.Registry();
  let current: ServerSnapshot | null = null;
  let currentAdmin: AdminConnectionStats | null = null;
  const snapshot = (): ServerSnapshot => {
    if (current === null) throw new Error('internal: a metric was collected outside render()');
    return current;
  };
  for (const def of METRICS) registry.registerMetric(snapshotMetric(def, (d) => d.values(snapshot())) as unknown as PromClient.Metric);
  for (const def of ADMIN_METRICS) registry.registerMetric(snapshotMetric(def, (d) => (currentAdmin === null ? [] : d.values(currentAdmin))) as unknown as PromClient.Metric);
  registry.registerMetric(latencyHistogram(snapshot) as unknown as PromClient.Metric);
  // Metrics are read across awaits inside registry.metrics(), so scrapes take turns.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render(s, admin) {
      const run = queue.then(async () => {
        current = s;
        currentAdmin = admin ?? null;
        try {
          return await registry.metrics();
        } finally {
          current = null;
          currentAdmin = null;
        }
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

/**
 * A metric whose values are read for the scrape (from its snapshot, or the admin's counters). prom-client's
 * Registry formats any metric by calling its `get()`; building the value list
 * directly skips the label hashing and resetting a Gauge or Counter would do
 * on every scrape (most of the scrape's cost).
 */
function snapshotMetric<S>(def: MetricDef<S>, read: (def: MetricDef<S>) => Sample[]) {
  return {
    name: def.name,
    help: def.help,
    type: def.type,
    aggregator: 'sum',
    async get() {
      const values = read(def).map(([labels, value]) => ({ labels, value }));
      return { name: def.name, help: def.help, type: def.type, aggregator: 'sum', values };
    },
  };
}

/**
 * The latency histogram: already bucketed (cumulative buckets per listener),
 * handed to the registry in the value shape prom-client's own Histogram#get()
 * returns.
 */
function latencyHistogram(snapshot: () => ServerSnapshot) {
  const m = LATENCY_METRIC;
  const le = LATENCY_BUCKETS_US.map((us) => (us === Infinity ? '+Inf' : String(us / 1e6)));
  return {
    name: m.name,
    help: m.help,
    type: m.type,
    aggregator: 'sum',
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const w of snapshot().workers) {
        for (const [listener, l] of Object.entries(w.listeners)) {
          const h = l.latencyHist;
          if (h === undefined) continue;
          const labels = { worker: w.worker, listener };
          h.buckets.forEach((count, i) => values.push({ metricName: `${m.name}_bucket`, labels: { ...labels, le: le[i] as string }, value: count }));
          values.push({ metricName: `${m.name}_sum`, labels, value: h.sumUs / 1e6 });
          values.push({ metricName: `${m.name}_count`, labels, value: h.count });
        }
      }
      return { name: m.name, help: m.help, type: m.type, aggregator: 'sum', values };
    },
  };
}
