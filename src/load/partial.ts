/**
 * What one process of a load run reports: a progress sample each second and a
 * partial result at the end. Both are plain JSON (histograms HDR-encoded), so
 * they cross the IPC channel from worker processes unchanged.
 */
import type { ErrorCounts, ErrorKind } from './error-kinds.js';

/** Counters over some span of a run. */
export interface Traffic {
  sentMsgs: number;
  sentBytes: number;
  receivedMsgs: number;
  receivedBytes: number;
}

export function emptyTraffic(): Traffic {
  return { sentMsgs: 0, sentBytes: 0, receivedMsgs: 0, receivedBytes: 0 };
}

export function addTraffic(into: Traffic, t: Traffic): void {
  into.sentMsgs += t.sentMsgs;
  into.sentBytes += t.sentBytes;
  into.receivedMsgs += t.receivedMsgs;
  into.receivedBytes += t.receivedBytes;
}

/** One process's progress since its previous sample. */
export interface Sample {
  /** Connections open now. */
  open: number;
  /** Connection attempts in progress now. */
  connecting: number;
  /** Traffic since the previous sample. */
  traffic: Traffic;
  /** Errors so far. */
  errors: number;
  /** Completed churn cycles since the previous sample. */
  cycles: number;
  /** Latency recorded since the previous sample, HDR-encoded (µs). */
  latency: string;
}

/** One process's result. */
export interface PartialResult {
  /** Connections this process was asked for. */
  requested: number;
  /** Connections that opened during the connect phase. */
  established: number;
  /** Traffic over the whole run, the final replies included. */
  total: Traffic;
  /** Traffic in the measured window (from the start of traffic to its deadline or stop). */
  window: Traffic;
  /** Length of the measured window in seconds. */
  windowSec: number;
  /** CPU time (user + system, µs) this process used during the window. */
  cpuUs: number;
  /** Connect-exchange-close cycles completed in the window (churn). */
  cycles: number;
  /** Fixed-rate sends skipped because `depth` replies were already due. */
  skipped: number;
  errors: ErrorCounts;
  errorSamples: Partial<Record<ErrorKind, string>>;
  /** HDR-encoded round-trip latency (µs); churn: connect + exchange. */
  latency: string;
  /** HDR-encoded connect time (µs), TLS handshake included. */
  connectTime: string;
}
