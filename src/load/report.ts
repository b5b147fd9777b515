/**
 * How `capstan load` shows a run: one progress line a second, a final table,
 * and the verdict against the thresholds that decide the exit status.
 */
import { ERROR_KINDS } from './error-kinds.js';
import type { LatencyUs } from './histogram.js';
import type { LoadResult } from './result.js';
import type { LoadProgress } from './run.js';

/** Limits that fail a run (exit status 1) when exceeded. */
export interface Thresholds {
  /** Most errors allowed. Default 0. */
  maxErrors: number;
  /** Highest p99 round-trip latency allowed, in µs; `undefined` for none. */
  maxP99Us?: number;
  /** `udp://`: the most datagram loss allowed, in per cent of those sent; `undefined` for none. */
  maxLossPct?: number;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const percent = (p: number): string => `${p < 0.01 && p > 0 ? p.toPrecision(2) : p.toFixed(2)} %`;

/** 812 µs, 1.62 ms, 2.40 s. */
export function formatUs(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** 79.0 MB/s (decimal units, like network rates). */
export function formatRate(bytesPerSec: number): string {
  if (bytesPerSec < 1000) return `${Math.round(bytesPerSec)} B/s`;
  if (bytesPerSec < 1e6) return `${(bytesPerSec / 1e3).toFixed(1)} kB/s`;
  if (bytesPerSec < 1e9) return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
  return `${(bytesPerSec / 1e9).toFixed(2)} GB/s`;
}

function latencyLine(l: LatencyUs): string {
  if (l.count === 0) return 'no samples';
  return `p50 ${formatUs(l.p50)}   p90 ${formatUs(l.p90)}   p99 ${formatUs(l.p99)}   p99.9 ${formatUs(l.p999)}   max ${formatUs(l.max)}   mean ${formatUs(l.mean)}`;
}

/** The live line: `  3.0s  open 100  sent 1,234,567/s  recv 1,234,560/s  errors 0  p50 812 µs  p99 1.62 ms`. */
export function progressLine(p: LoadProgress, requested: number): string {
  const parts = [`${p.elapsedSec.toFixed(1).padStart(6)}s`, `${p.phase.padEnd(10)}`, `open ${count(p.open)}/${count(requested)}`];
  if (p.connecting > 0) parts.push(`connecting ${count(p.connecting)}`);
  if (p.connectsPerSec > 0) parts.push(`cycles ${count(p.connectsPerSec)}/s`);
  if (p.sentMsgsPerSec > 0 || p.receivedMsgsPerSec > 0) {
    parts.push(`sent ${count(p.sentMsgsPerSec)}/s`, `recv ${count(p.receivedMsgsPerSec)}/s`);
  }
  if (p.lost > 0) parts.push(`lost ${count(p.lost)}`);
  parts.push(`errors ${count(p.errors)}`);
  if (p.latencyUs.count > 0) parts.push(`p50 ${formatUs(p.latencyUs.p50)}`, `p99 ${formatUs(p.latencyUs.p99)}`);
  return parts.join('  ');
}

/** Why the run fails its thresholds; empty when it passes. */
export function violations(r: LoadResult, t: Thresholds): string[] {
  const out: string[] = [];
  if (r.errors.total > t.maxErrors) {
    const kinds = ERROR_KINDS.filter((k) => r.errors[k] > 0).map((k) => `${k} ${count(r.errors[k])}`);
    out.push(`${count(r.errors.total)} errors (${kinds.join(', ')}), more than the ${count(t.maxErrors)} allowed`);
  }
  if (t.maxP99Us !== undefined && r.latencyUs.count > 0 && r.latencyUs.p99 > t.maxP99Us) {
    out.push(`p99 latency ${formatUs(r.latencyUs.p99)} exceeds the limit of ${formatUs(t.maxP99Us)}`);
  }
  const d = r.datagrams;
  if (d !== undefined && t.maxLossPct !== undefined && d.lossPct > t.maxLossPct) {
    out.push(`${count(d.lost)} of ${count(d.sent)} datagrams lost (${percent(d.lossPct)}), more than the ${percent(t.maxLossPct)} allowed`);
  }
  // Loss is not an error, but a run in which no datagram came back measured nothing.
  if (d !== undefined && d.sent > 0 && d.received === 0 && r.errors.total === 0) out.push(`none of the ${count(d.sent)} datagrams sent was answered`);
  return out;
}

/** The final table. */
export function resultTable(r: LoadResult): string {
  const size = r.sizeBytes.min === r.sizeBytes.max ? `${r.sizeBytes.min} B` : `${r.sizeBytes.min}-${r.sizeBytes.max} B`;
  const what = r.mode === 'request' ? `${count(r.requests ?? 0)} request${r.requests === 1 ? '' : 's'}` : `${size} ${r.payload}`;
  const d = r.datagrams;
  const unit = d !== undefined ? 'datagrams' : 'msgs';
  const pace = r.ratePerConnection > 0 ? `${count(r.ratePerConnection)} ${unit}/s per ${d !== undefined ? 'socket' : 'connection'}` : `depth ${r.depth}`;
  const lines = [
    `capstan load ${r.target}: ${r.mode}, ${r.framing}, ${what}, ${pace}, ${r.workers} process${r.workers === 1 ? '' : 'es'}`,
    '',
    `  window        ${r.durationSec.toFixed(2)} s`,
    r.mode === 'churn'
      ? `  connections   ${count(r.connectsPerSec)} cycles/s over ${count(r.connections.requested)} slots   connect ${latencyBrief(r.connectTimeUs)}`
      : `  ${d !== undefined ? 'sockets    ' : 'connections'}   ${count(r.connections.established)} of ${count(r.connections.requested)} ${d !== undefined ? 'connected' : 'established'}   connect ${latencyBrief(r.connectTimeUs)}`,
  ];
  if (r.mode !== 'idle') {
    lines.push(
      `                ${'sent'.padStart(16)}  ${'received'.padStart(16)}`,
      `  ${(d !== undefined ? 'datagrams' : 'messages').padEnd(14)}${count(r.sent.msgs).padStart(16)}  ${count(r.received.msgs).padStart(16)}`,
      `  ${`${unit}/s`.padEnd(14)}${count(r.sent.msgsPerSec).padStart(16)}  ${count(r.received.msgsPerSec).padStart(16)}`,
      `  bytes/s       ${formatRate(r.sent.bytesPerSec).padStart(16)}  ${formatRate(r.received.bytesPerSec).padStart(16)}`,
    );
    if (d !== undefined) {
      lines.push(
        `  lost          ${count(d.lost)} (${percent(d.lossPct)}), no reply within ${count(d.replyTimeoutMs)} ms`,
        `  late replies  ${count(d.late)}   duplicates ${count(d.duplicates)}   mismatches ${count(d.mismatches)}`,
      );
    }
    if (r.mode !== 'send') lines.push('', `  latency       ${latencyLine(r.latencyUs)}`);
    const delivery = r.delivery;
    if (delivery !== undefined) {
      lines.push(
        '',
        `  delivered     ${count(delivery.delivered)} confirmed by the server (${count(delivery.perSec)}/s over ${delivery.lastSec.toFixed(2)} s), ${count(delivery.unconfirmed)} unconfirmed`,
        `                ${count(delivery.taken)} taken by the kernel`,
      );
    }
  }
  const cpu = r.clientCpu;
  lines.push(
    '',
    `  client CPU    ${cpu.seconds.toFixed(2)} s, ${Math.round(cpu.utilization * 100)}% of a core per process${cpu.perMsgUs > 0 ? `, ${cpu.perMsgUs.toFixed(2)} µs per message` : ''}`,
  );
  if (cpu.utilization >= 0.9) lines.push('                the client was busy all the time: the server may do more than this shows (try --workers)');
  if (r.skipped > 0) lines.push(`  skipped       ${count(r.skipped)} scheduled sends (depth ${r.depth} replies already due; raise --depth or lower --rate)`);
  lines.push('', `  errors        ${count(r.errors.total)}`);
  for (const kind of ERROR_KINDS) {
    if (r.errors[kind] > 0) lines.push(`    ${kind.padEnd(12)}${count(r.errors[kind]).padStart(10)}   e.g. ${r.errorSamples[kind] ?? ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function latencyBrief(l: LatencyUs): string {
  return l.count === 0 ? '-' : `p50 ${formatUs(l.p50)}  p99 ${formatUs(l.p99)}  max ${formatUs(l.max)}`;
}
