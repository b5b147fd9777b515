/**
 * What the benchmark prints: the machine it ran on, and one table per scenario
 * with the ratio against the baseline and the targets met or missed.
 */
import os from 'node:os';
import type { Metric, Table } from './scenarios.js';

export interface MachineFacts {
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  os: string;
  node: string;
  fileLimit: number;
  /** Server on CPU 0, load on CPU 1. */
  pinned: boolean;
  loadAverage: number[];
  loadGenerator: string;
}

export function machineFacts(pinned: boolean, fileLimit: number, loadGenerator: string): MachineFacts {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    fileLimit,
    pinned,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    loadGenerator,
  };
}

export function factsText(m: MachineFacts): string {
  return [
    `machine   ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, ${m.os}`,
    `node      ${m.node}, file limit ${m.fileLimit}`,
    `placement ${m.pinned ? 'server on CPU 0, load on CPU 1 (taskset)' : 'not pinned (taskset missing or one CPU): figures are noisier'}`,
    `load      ${m.loadGenerator}; load average at start ${m.loadAverage.join(' ')}`,
  ].join('\n');
}

function cell(m: Metric, v: number): string {
  if (m.unit === 'us') return v === 0 ? '-' : v < 1 ? `${v.toFixed(3)} µs` : v < 1000 ? `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} µs` : `${(v / 1000).toFixed(2)} ms`;
  if (m.unit === 'bytes') return `${Math.round(v).toLocaleString('en-US')} B`;
  if (m.unit === 'ratio') return v.toFixed(1);
  if (m.unit === 'percent') return `${v.toFixed(v < 1 ? 3 : 2)} %`;
  return Math.round(v).toLocaleString('en-US');
}

export function tableText(t: Table): string {
  const width = Math.max(14, ...t.rows.map((r) => r.label.length)) + 2;
  const col = Math.max(13, ...t.metrics.map((m) => m.label.length + 3));
  const head = `  ${''.padEnd(width)}${t.metrics.map((m) => m.label.padStart(col)).join('')}`;
  const lines = [`${t.scenario}: ${t.title}`, `  load: ${t.load}; medians of ${t.rows[0]?.runs.length ?? 0} run(s)`, head];
  for (const r of t.rows) lines.push(`  ${r.label.padEnd(width)}${t.metrics.map((m) => cell(m, r.values[m.key] ?? 0).padStart(col)).join('')}`);
  lines.push(`  ${'ratio'.padEnd(width)}${t.metrics.map((m) => (m.key in t.ratios ? `${(t.ratios[m.key] as number).toFixed(2)}×` : '').padStart(col)).join('')}`);
  for (const g of t.targets) {
    const metric = t.metrics.find((m) => m.key === g.metric);
    const shown = g.kind === 'ratio' ? `${g.actual.toFixed(2)}× ${g.op} ${g.goal}×` : `${metric ? cell(metric, g.actual) : g.actual} ${g.op} ${metric ? cell(metric, g.goal) : g.goal}`;
    lines.push(`  target ${metric?.label ?? g.metric}: ${shown}  ${g.pass ? 'met' : 'MISSED'}`);
  }
  for (const n of t.notes ?? []) lines.push(`  ${n}`);
  return `${lines.join('\n')}\n`;
}
