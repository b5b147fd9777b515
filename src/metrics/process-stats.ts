/**
 * Process statistics: memory, event-loop delay and utilization, GC pauses.
 * The probes (libuv's event-loop delay histogram and a 'gc' performance
 * observer) start once, on the first sample, and cost nothing between samples
 * beyond what Node itself does.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { WINDOW_MS } from './latency.js';

/**
 * One process's health in a {@link WorkerSnapshot}: memory, event-loop delay
 * and utilization, garbage collection.
 * @category Metrics
 */
export interface ProcessStats {
  /** The process id. */
  pid: number;
  /** Seconds since the process started. */
  uptimeSec: number;
  /** Resident set size, bytes. */
  rssBytes: number;
  /** V8 heap in use, bytes. */
  heapUsedBytes: number;
  /** V8 heap reserved, bytes. */
  heapTotalBytes: number;
  /** Memory of objects outside the V8 heap that it tracks (Buffers among them), bytes. */
  externalBytes: number;
  /** Event-loop delay over the last window (about one second), in ms, sampled every 20 ms. */
  eventLoopDelayMs: {
    /** Mean delay, ms. */
    mean: number;
    /** Median delay, ms. */
    p50: number;
    /** 99th percentile, ms. */
    p99: number;
    /** Longest delay, ms. */
    max: number;
  };
  /** Event-loop utilization over the last window, 0..1. */
  eventLoopUtilization: number;
  /** Garbage collections since the probes started: count, summed and largest pause. */
  gc: {
    /** Collections. */
    count: number;
    /** Pauses summed, ms. */
    totalPauseMs: number;
    /** Longest pause, ms. */
    maxPauseMs: number;
  };
}

type Delay = ProcessStats['eventLoopDelayMs'];

/** Resolution of the event-loop delay probe, ms (libuv samples the loop this often). */
const DELAY_RESOLUTION_MS = 20;

class ProcessProbe {
  private readonly delay: IntervalHistogram;
  private elu: EventLoopUtilization;
  private windowStart = Date.now();
  private recent: { delay: Delay; utilization: number } | null = null;
  private readonly gc = { count: 0, totalPauseMs: 0, maxPauseMs: 0 };

  constructor() {
    this.delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    this.delay.enable();
    this.elu = performance.eventLoopUtilization();
    const gc = this.gc;
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.count++;
        gc.totalPauseMs += e.duration;
        if (e.duration > gc.maxPauseMs) gc.maxPauseMs = e.duration;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  }

  /** The last complete window, or the one being filled when none has closed yet. */
  sample(now = Date.now()): ProcessStats {
    const window = this.windowView();
    if (now - this.windowStart >= WINDOW_MS) {
      this.recent = window;
      this.delay.reset();
      this.elu = performance.eventLoopUtilization();
      this.windowStart = now;
    }
    const view = this.recent ?? window;
    const m = process.memoryUsage();
    return {
      pid: process.pid,
      uptimeSec: process.uptime(),
      rssBytes: m.rss,
      heapUsedBytes: m.heapUsed,
      heapTotalBytes: m.heapTotal,
      externalBytes: m.external,
      eventLoopDelayMs: view.delay,
      eventLoopUtilization: view.utilization,
      gc: { ...this.gc },
    };
  }

  private windowView(): { delay: Delay; utilization: number } {
    const d = this.delay;
    // The histogram counts the probe's own resolution as delay; report only the excess.
    const ms = (ns: number) => (d.count === 0 || !Number.isFinite(ns) ? 0 : Math.max(0, ns / 1e6 - DELAY_RESOLUTION_MS));
    return {
      delay: { mean: ms(d.mean), p50: ms(d.percentile(50)), p99: ms(d.percentile(99)), max: ms(d.max) },
      // Until a window has closed, the one just opened is too short to mean anything: use the process's lifetime.
      utilization: (this.recent === null ? performance.eventLoopUtilization() : performance.eventLoopUtilization(this.elu)).utilization,
    };
  }
}

let probe: ProcessProbe | null = null;

/** This process's statistics; the first call starts the probes. */
export function processStats(now?: number): ProcessStats {
  probe ??= new ProcessProbe();
  return probe.sample(now);
}
