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

/**
 * What became of the messages of a `send` run (all zero in other modes). A
 * connection's messages are delivered when the server answered our FIN with its
 * own after reading up to it; otherwise (reset, no close within the drain
 * timeout, closed before taking everything) they are unconfirmed.
 * @category Load client
 */
export interface Delivery {
  /** Messages the kernel took: written, minus those still queued in this process when their connection ended. */
  taken: number;
  /** Messages on connections whose server confirmed them with a clean close after our FIN. */
  delivered: number;
  /** Messages on every other connection. */
  unconfirmed: number;
  /** Seconds from the start of traffic to the last confirmation. */
  lastSec: number;
}

export function emptyDelivery(): Delivery {
  return { taken: 0, delivered: 0, unconfirmed: 0, lastSec: 0 };
}

/**
 * What became of the datagrams of a `udp://` run (all zero for stream targets).
 * Every datagram sent is answered, counted lost, or answered wrongly (a
 * `mismatch` error) by the end of the run.
 * @category Load client
 */
export interface DatagramCounts {
  /** Datagrams with no reply within the reply timeout (and those in flight on a socket that failed). */
  lost: number;
  /** Replies that came after their datagram was counted lost (or after its position was reused). */
  late: number;
  /** Second replies to a datagram already answered. */
  duplicates: number;
}

export function emptyDatagrams(): DatagramCounts {
  return { lost: 0, late: 0, duplicates: 0 };
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
  /** `udp://`: datagrams counted lost so far. */
  lost: number;
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
  delivery: Delivery;
  /** `udp://` targets: lost, late and duplicate datagrams over the whole run. */
  datagrams: DatagramCounts;
  errors: ErrorCounts;
  errorSamples: Partial<Record<ErrorKind, string>>;
  /** HDR-encoded round-trip latency (µs); churn: connect + exchange. */
  latency: string;
  /** HDR-encoded connect time (µs), TLS handshake included. */
  connectTime: string;
}
