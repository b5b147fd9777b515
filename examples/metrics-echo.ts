/**
 * A length-prefixed echo that reports on itself: handler latency recorded per
 * read batch, and the admin endpoint (live dashboard, Prometheus /metrics,
 * /stats.json, /healthz, /readyz) on its own thread. What `capstan serve` does
 * for every listener, in a program of your own.
 *
 *   node dist/examples/metrics-echo.js [port] [admin port]   (defaults 7000 and 9100; 0 picks a free port)
 *
 * Then open http://127.0.0.1:9100/ and drive it, for example with
 * `capstan load tcp://127.0.0.1:7000 --framing lp4 -c 50 -d 30`.
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { collectWorkerSnapshot, combineSnapshots, latencyRecorder, lengthPrefixed, listen, startAdminServer } from '../src/index.js';

const name = 'echo';
const server = await listen({
  name,
  port: Number(process.argv[2] ?? 7000),
  codec: lengthPrefixed(),
  handler: {
    message(conn, frame) {
      conn.send(frame);
    },
  },
  latency: latencyRecorder(name),
});

let draining = false;
const servers = new Map([[name, server]]);
const admin = await startAdminServer({
  port: Number(process.argv[3] ?? 9100),
  source: {
    // Called on this thread when a scrape asks: counters, latency and process figures, combined.
    snapshot: async () => combineSnapshots([collectWorkerSnapshot('main', servers)], draining),
    ready: () => !draining,
  },
});

console.log(`metrics-echo listening on ${server.url}, admin http://${admin.address.host}:${admin.address.port}/`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    draining = true; // /readyz answers 503 from now on
    void server
      .close({ graceMs: 5_000 })
      .then(() => admin.close())
      .then(() => process.exit(0));
  });
}
