/**
 * What one process of a load run counts, whatever its target: traffic each
 * way, errors, connections, the latency and connect-time histograms, and the
 * measured window with the CPU time spent in it; and the sample and partial
 * result made from them. Both engines (stream and datagram) keep one, and a
 * {@link Waiter} for their phases.
 */
import { ErrorLog } from './error-kinds.js';
import { encodeHistogram, newHistogram, type Histogram } from './histogram.js';
import { emptyTraffic, type PartialResult, type Sample, type Traffic } from './partial.js';

export class Tally {
  readonly errors = new ErrorLog();
  readonly total: Traffic = emptyTraffic();
  /** Latency (µs) since the last sample; added to the run's histogram at each sample. */
  readonly interval: Histogram = newHistogram();
  readonly connectTime: Histogram = newHistogram();
  private readonly latency: Histogram = newHistogram();
  private reported: Traffic = emptyTraffic();
  private window: Traffic | null = null;
  private windowSec = 0;
  private cpuStart: NodeJS.CpuUsage | null = null;
  private windowCpuUs = 0;
  /** Connections (sockets) open, and attempts in progress, now. */
  open = 0;
  connecting = 0;
  /** Connections that opened during the connect phase, and attempts that have come to an end either way. */
  established = 0;
  resolved = 0;
  /** Fixed-rate sends skipped because `depth` replies were already due. */
  skipped = 0;
  /** When traffic started (ms, `performance.now`). */
  startedAt = 0;

  /** The measured window opens now. */
  startWindow(now: number): void {
    this.startedAt = now;
    this.cpuStart = process.cpuUsage();
  }

  /** The measured window closes now: its traffic, length and CPU time are kept. */
  closeWindow(now: number): void {
    this.windowSec = (now - this.startedAt) / 1000;
    this.window = { ...this.total };
    const cpu = process.cpuUsage(this.cpuStart ?? undefined);
    this.windowCpuUs = cpu.user + cpu.system;
  }

  /** Progress since the previous sample; `lost` and `cycles` are the engine's own. */
  sample(lost: number, cycles: number): Sample {
    const t = this.total;
    const r = this.reported;
    const traffic: Traffic = {
      sentMsgs: t.sentMsgs - r.sentMsgs,
      sentBytes: t.sentBytes - r.sentBytes,
      receivedMsgs: t.receivedMsgs - r.receivedMsgs,
      receivedBytes: t.receivedBytes - r.receivedBytes,
    };
    this.reported = { ...t };
    const latency = encodeHistogram(this.interval);
    this.latency.add(this.interval);
    this.interval.reset();
    return { open: this.open, connecting: this.connecting, traffic, errors: this.errors.total, lost, cycles, latency };
  }

  /** This process's result, with the engine's own parts. Frees the histograms. */
  result(requested: number, own: Pick<PartialResult, 'cycles' | 'delivery' | 'datagrams'>): PartialResult {
    this.latency.add(this.interval);
    const out: PartialResult = {
      requested,
      established: this.established,
      total: { ...this.total },
      window: this.window ?? { ...this.total },
      windowSec: this.windowSec,
      cpuUs: this.windowCpuUs,
      skipped: this.skipped,
      ...own,
      errors: { ...this.errors.counts },
      errorSamples: { ...this.errors.samples },
      latency: encodeHistogram(this.latency),
      connectTime: encodeHistogram(this.connectTime),
    };
    this.interval.destroy();
    this.latency.destroy();
    this.connectTime.destroy();
    return out;
  }
}

/** One pending wait of an engine's phases: resolved when its condition holds at a {@link Waiter.poke}. */
export class Waiter {
  private waiting: { check: () => boolean; resolve: () => void } | null = null;

  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiting = { check, resolve };
    });
  }

  poke(): void {
    const w = this.waiting;
    if (w !== null && w.check()) {
      this.waiting = null;
      w.resolve();
    }
  }
}

/**
 * The timers of the traffic phase: the deadline, and the shared 1 ms tick of
 * fixed-rate runs. The event loop's timers may fire up to a millisecond
 * before the window, measured with `performance.now()`, is as long as asked
 * (a 0.5 s run then reported 0.499 s), so the deadline waits out what is left.
 */
export class TrafficTimers {
  private deadline: NodeJS.Timeout | null = null;
  private tick: NodeJS.Timeout | null = null;

  /** Arms the deadline `durationSec` after `startedAt` (ms), and the tick when given. */
  start(durationSec: number, startedAt: number, onDeadline: () => void, onTick?: () => void): void {
    if (onTick !== undefined) this.tick = setInterval(onTick, 1);
    const arm = (ms: number): void => {
      this.deadline = setTimeout(() => {
        this.deadline = null;
        const left = durationSec * 1000 - (performance.now() - startedAt);
        if (left > 0) arm(Math.ceil(left));
        else onDeadline();
      }, ms);
    };
    arm(durationSec * 1000);
  }

  clear(): void {
    if (this.deadline !== null) clearTimeout(this.deadline);
    if (this.tick !== null) clearInterval(this.tick);
    this.deadline = this.tick = null;
  }
}
