/**
 * `npm run bench -- --scenario soak`: the TLS soak (soak.ts) for 10 minutes
 * (`CAPSTAN_SOAK_SECONDS` to change it), reported as a table with the RSS
 * series and the slopes, and targets on the slopes.
 */
import { HEAP_EXTERNAL_SLOPE_LIMIT, RSS_SLOPE_LIMIT, runSoak } from './soak.js';
import type { BenchContext, Table } from './scenarios.js';

export async function soak(ctx: BenchContext): Promise<Table[]> {
  const seconds = Number(process.env.CAPSTAN_SOAK_SECONDS ?? 600);
  ctx.log(`  soak: ${seconds} s of TLS echo with churn through PROXY, TLS/plaintext detection, a pass-through filter and deflate`);
  const r = await runSoak({ seconds, sampleMs: 5_000 });
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  const series = r.samples.filter((_, i) => i % Math.max(1, Math.round(r.samples.length / 12)) === 0).map((s) => `${Math.round(s.atSec)}s ${mb(s.rssBytes)}`);
  const values = {
    connectsPerSec: r.connections / r.seconds,
    msgsPerSec: r.messages / r.seconds,
    rssStart: r.samples[0]?.rssBytes ?? 0,
    rssEnd: r.samples.at(-1)?.rssBytes ?? 0,
    rssSlope: r.rssSlopePerMin,
    heapExternalSlope: r.heapExternalSlopePerMin,
    verifyFailures: r.verifyFailures,
    errors: r.errors,
  };
  const pass = (actual: number, goal: number) => ({ metric: '', kind: 'absolute' as const, op: '<=' as const, goal, actual, pass: actual <= goal });
  return [
    {
      scenario: 'soak',
      title: `TLS echo with connection churn through every stage, ${Math.round(r.seconds)} s: server memory after GC, slopes over the second half`,
      load: 'node clients in the benchmark process (PROXY v2 + TLS + deflate, TLS + deflate, plaintext + deflate)',
      metrics: [
        { key: 'connectsPerSec', label: 'conns/s', unit: 'count', higherIsBetter: true },
        { key: 'msgsPerSec', label: 'msgs/s', unit: 'count', higherIsBetter: true },
        { key: 'rssStart', label: 'RSS start', unit: 'bytes', higherIsBetter: false },
        { key: 'rssEnd', label: 'RSS end', unit: 'bytes', higherIsBetter: false },
        { key: 'rssSlope', label: 'RSS B/min', unit: 'bytes', higherIsBetter: false },
        { key: 'heapExternalSlope', label: 'heap+ext B/min', unit: 'bytes', higherIsBetter: false },
        { key: 'verifyFailures', label: 'bad echoes', unit: 'count', higherIsBetter: false },
        { key: 'errors', label: 'errors', unit: 'count', higherIsBetter: false },
      ],
      rows: [{ label: 'capstan tls+proxy+pass+deflate', values, runs: [values] }],
      ratios: {},
      targets: [
        { ...pass(r.heapExternalSlopePerMin, HEAP_EXTERNAL_SLOPE_LIMIT), metric: 'heapExternalSlope' },
        { ...pass(r.rssSlopePerMin, RSS_SLOPE_LIMIT), metric: 'rssSlope' },
        { ...pass(r.verifyFailures, 0), metric: 'verifyFailures' },
      ],
      notes: [`RSS over time (MiB): ${series.join(', ')}`],
    },
  ];
}
