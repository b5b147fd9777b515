/**
 * The result of a load run (what `capstan load --json` prints), merged from the
 * partial results of its processes: counters summed, histograms added.
 */
import { ERROR_KINDS, ErrorLog, type ErrorCounts, type ErrorKind } from './error-kinds.js';
import { addEncoded, latencySummary, newHistogram, type LatencyUs } from './histogram.js';
import type { LoadMode, ResolvedLoadOptions } from './options.js';
import { addTraffic, emptyDatagrams, emptyDelivery, emptyTraffic, type DatagramCounts, type Delivery, type PartialResult } from './partial.js';
import { parseTarget } from './target.js';

/**
 * Messages and bytes one way.
 * @category Load client
 */
export interface Direction {
  /** Messages over the whole run, final replies included. */
  msgs: number;
  /** Bytes over the whole run, framing included. */
  bytes: number;
  /** Messages per second over the measured window. */
  msgsPerSec: number;
  /** Bytes per second over the measured window. */
  bytesPerSec: number;
}

/**
 * What a load run measured ({@link runLoad}; `capstan load --json` prints it),
 * merged over its worker processes.
 * @category Load client
 */
export interface LoadResult {
  /** The target, normalized (`tcp://127.0.0.1:7000`). */
  target: string;
  /** The mode that ran. */
  mode: LoadMode;
  /** The framing codec's name. */
  framing: string;
  /** The payload option that ran (`random`, `ascii` …). */
  payload: string;
  /** Bytes per message on the wire, framing included (`request` mode: 0, sizes vary; see `sent.bytes / sent.msgs`). */
  sizeBytes: {
    /** Smallest message, bytes. */
    min: number;
    /** Largest message, bytes. */
    max: number;
  };
  /** `request` mode: how many request templates the run went round. */
  requests?: number;
  /** Messages in flight per connection (see {@link LoadOptions.depth}). */
  depth: number;
  /** Messages per second per connection (0: as fast as `depth` allows). */
  ratePerConnection: number;
  /** Worker processes the connections were spread over. */
  workers: number;
  /** Connections asked for and opened. */
  connections: {
    /** Connections asked for. */
    requested: number;
    /** Connections that opened. */
    established: number;
  };
  /** Length of the measured window: from the start of traffic to its deadline, count or stop. */
  durationSec: number;
  /** The headline rate: replies/s (`echo`, `churn`, `request`) or sends/s (`send`) over the window; 0 for `idle`. */
  msgsPerSec: number;
  /** Bytes/s in the headline direction (received for `echo`/`churn`, sent for `send`). */
  bytesPerSec: number;
  /** What was sent. */
  sent: Direction;
  /** What came back. */
  received: Direction;
  /** Completed connect-exchange-close cycles per second (`churn`). */
  connectsPerSec: number;
  /** Fixed-rate sends skipped because `depth` replies were already due. */
  skipped: number;
  /**
   * `send` mode only: what became of the messages sent. `delivered` counts those the
   * server confirmed (a clean close after our FIN: it read up to it), `unconfirmed`
   * the rest (each such connection is also one `unconfirmed` error), `taken` those
   * the kernel accepted. `perSec` is `delivered` over the time from the start of
   * traffic to the last confirmation: what the server really took, where `sent`
   * counts what the client handed to its sockets.
   */
  delivery?: Delivery & {
    /** Messages confirmed per second: `delivered` over `lastSec`, rounded to a whole number (0 when nothing was confirmed). */
    perSec: number;
  };
  /**
   * `udp://` targets only: what became of the datagrams. Each datagram sent is
   * answered (`received.msgs`), counted `lost` when no reply came within
   * `replyTimeoutMs`, or answered wrongly (an error of kind `mismatch`, also counted
   * here). `lossPct` is `lost` over `sent.msgs`. `late` replies came after their
   * datagram was counted lost, `duplicates` after it was answered; neither counts as
   * received.
   */
  datagrams?: DatagramReport;
  /**
   * The load client's own CPU time during the window: seconds over all its processes,
   * `utilization` of one core per process (near 1 means the client, not the server,
   * set the pace), and µs per message in the headline direction.
   */
  clientCpu: {
    /** CPU seconds over all the client's processes. */
    seconds: number;
    /** Share of one core per process, 0 to 1. */
    utilization: number;
    /** CPU µs per message in the headline direction. */
    perMsgUs: number;
  };
  /**
   * Round-trip latency (µs): send (with `rate`: the scheduled send) to the last byte of
   * the reply; `churn`: connect start to reply. `request` mode counts every reply, wrong ones too.
   */
  latencyUs: LatencyUs;
  /** Connect time (µs), TLS handshake included. */
  connectTimeUs: LatencyUs;
  /** Errors by kind (see {@link ErrorKind}), and their total. */
  errors: ErrorCounts & {
    /** Errors of every kind. */
    total: number;
  };
  /** The first message of each error kind seen. */
  errorSamples: Partial<Record<ErrorKind, string>>;
}

/**
 * What became of the datagrams of a `udp://` run (see {@link LoadResult.datagrams}).
 * @category Load client
 */
export interface DatagramReport extends DatagramCounts {
  /** Datagrams sent over the whole run (one message each). */
  sent: number;
  /** Datagrams answered with the right reply (within the reply timeout). */
  received: number;
  /** `lost` as a percentage of `sent` (0 when nothing was sent). */
  lossPct: number;
  /** Replies that differed from what was sent, or carried no tag of this client (the `mismatch` errors). */
  mismatches: number;
  /** The reply timeout after which a datagram counts as lost, ms. */
  replyTimeoutMs: number;
}

const rate = (n: number, sec: number): number => (sec > 0 ? Math.round(n / sec) : 0);

export function mergeResults(options: ResolvedLoadOptions, payload: string, parts: readonly PartialResult[]): LoadResult {
  const total = emptyTraffic();
  const window = emptyTraffic();
  const errors = new ErrorLog();
  const latency = newHistogram();
  const connectTime = newHistogram();
  let windowSec = 0;
  let requested = 0;
  let established = 0;
  let cycles = 0;
  let skipped = 0;
  let cpuUs = 0;
  const delivery = emptyDelivery();
  const datagrams = emptyDatagrams();
  for (const p of parts) {
    datagrams.lost += p.datagrams.lost;
    datagrams.late += p.datagrams.late;
    datagrams.duplicates += p.datagrams.duplicates;
    delivery.taken += p.delivery.taken;
    delivery.delivered += p.delivery.delivered;
    delivery.unconfirmed += p.delivery.unconfirmed;
    delivery.lastSec = Math.max(delivery.lastSec, p.delivery.lastSec);
    cpuUs += p.cpuUs;
    addTraffic(total, p.total);
    addTraffic(window, p.window);
    windowSec = Math.max(windowSec, p.windowSec);
    requested += p.requested;
    established += p.established;
    cycles += p.cycles;
    skipped += p.skipped;
    errors.merge(p.errors, p.errorSamples);
    addEncoded(latency, p.latency);
    addEncoded(connectTime, p.connectTime);
  }
  const mode = options.mode;
  const sent: Direction = { msgs: total.sentMsgs, bytes: total.sentBytes, msgsPerSec: rate(window.sentMsgs, windowSec), bytesPerSec: rate(window.sentBytes, windowSec) };
  const received: Direction = {
    msgs: total.receivedMsgs,
    bytes: total.receivedBytes,
    msgsPerSec: rate(window.receivedMsgs, windowSec),
    bytesPerSec: rate(window.receivedBytes, windowSec),
  };
  const headline = mode === 'send' ? sent : mode === 'idle' ? null : received;
  const target = parseTarget(options.target);
  const result: LoadResult = {
    target: target.display,
    mode,
    framing: options.framing,
    payload,
    sizeBytes: mode === 'request' ? { min: 0, max: 0 } : { min: options.sizeMin, max: options.sizeMax },
    depth: options.depth,
    ratePerConnection: options.rate,
    workers: options.workers,
    connections: { requested, established: mode === 'churn' ? cycles : established },
    durationSec: Math.round(windowSec * 1000) / 1000,
    msgsPerSec: headline?.msgsPerSec ?? 0,
    bytesPerSec: headline?.bytesPerSec ?? 0,
    sent,
    received,
    connectsPerSec: mode === 'churn' ? rate(cycles, windowSec) : 0,
    skipped,
    clientCpu: {
      seconds: Math.round(cpuUs / 1000) / 1000,
      utilization: windowSec > 0 ? Math.round((cpuUs / 1e6 / windowSec / Math.max(1, parts.length)) * 100) / 100 : 0,
      perMsgUs: headline !== null && headline.msgsPerSec > 0 ? Math.round((cpuUs / (headline.msgsPerSec * windowSec)) * 1000) / 1000 : 0,
    },
    latencyUs: latencySummary(latency),
    connectTimeUs: latencySummary(connectTime),
    errors: { ...errors.counts, total: ERROR_KINDS.reduce((n, k) => n + errors.counts[k], 0) },
    errorSamples: errors.samples,
  };
  if (mode === 'request') result.requests = options.requests.length;
  if (target.scheme === 'udp') {
    const lossPct = total.sentMsgs > 0 ? Math.round((datagrams.lost / total.sentMsgs) * 1e5) / 1e3 : 0;
    result.datagrams = { sent: total.sentMsgs, received: total.receivedMsgs, ...datagrams, lossPct, mismatches: errors.counts.mismatch, replyTimeoutMs: options.replyTimeoutMs };
  }
  if (mode === 'send') {
    delivery.lastSec = Math.round(delivery.lastSec * 1000) / 1000;
    result.delivery = { ...delivery, perSec: rate(delivery.delivered, delivery.lastSec) };
  }
  latency.destroy();
  connectTime.destroy();
  return result;
}
