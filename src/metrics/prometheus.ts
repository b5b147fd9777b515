/**
 * Prometheus text exposition of a {@link ServerSnapshot}, through prom-client.
 * One Registry per admin server; each metric's `collect()` reads the snapshot
 * taken for the scrape, so nothing is counted twice and nothing costs anything
 * between scrapes.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { LATENCY_BUCKETS_US } from './latency.js';
import { LATENCY_METRIC, METRICS, type MetricDef } from './metric-defs.js';
import type { ServerSnapshot } from './snapshot.js';

const require = createRequire(import.meta.url);

export interface Exposition {
  /** The `Content-Type` of {@link Exposition.render}'s output. */
  readonly contentType: string;
  /** The exposition text of `snapshot`, with HELP and TYPE lines. */
  render(snapshot: ServerSnapshot): Promise<string>;
}

export function createExposition(): Exposition {
  // Loaded here, not at import, so that importing Capstan does not pay for prom-client.
  const prom = require('prom-client') as typeof PromClient;
  const registry = new prom.Registry();
  let current: ServerSnapshot | null = null;
  const snapshot = (): ServerSnapshot => {
    if (current === null) throw new Error('internal: a metric was collected outside render()');
    return current;
  };
  for (const def of METRICS) registerDef(prom, registry, def, snapshot);
  registry.registerMetric(latencyHistogram(snapshot) as unknown as PromClient.Metric);
  // collect() runs across awaits inside registry.metrics(), so scrapes take turns.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render(s) {
      const run = queue.then(async () => {
        current = s;
        try {
          return await registry.metrics();
        } finally {
          current = null;
        }
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

function registerDef(prom: typeof PromClient, registry: PromClient.Registry, def: MetricDef, snapshot: () => ServerSnapshot): void {
  const config = { name: def.name, help: def.help, labelNames: def.labels, registers: [registry] };
  if (def.type === 'gauge') {
    new prom.Gauge({
      ...config,
      collect() {
        this.reset();
        for (const [labels, v] of def.values(snapshot())) this.set(labels, v);
      },
    });
  } else {
    new prom.Counter({
      ...config,
      collect() {
        this.reset();
        for (const [labels, v] of def.values(snapshot())) this.inc(labels, v);
      },
    });
  }
}

/**
 * prom-client's Histogram only observes single values; ours are already
 * bucketed (cumulative HDR buckets per listener), so this metric hands the
 * registry the same value shape prom-client's own Histogram#get() returns.
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
