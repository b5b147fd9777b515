/**
 * Every Prometheus metric Capstan exposes, as data: name, type, help, labels
 * and how to read the values from a {@link ServerSnapshot}. The exposition and
 * docs/metrics.md are both checked against this one table.
 *
 * Series are per worker (label `worker`): sum them in PromQL
 * (`sum without (worker) (…)`) for the whole server. No "combined" series is
 * exposed, so such sums never count anything twice.
 */
import type { AdminConnectionStats } from './admin-guard.js';
import type { CompressedBytes, ListenerStats, WebSocketSnapshot } from './listener-counters.js';
import type { UdpStats } from './udp-counters.js';
import type { ServerSnapshot } from './snapshot.js';
import type { ProcessStats } from './process-stats.js';

export type Labels = Record<string, string>;
export type Sample = [labels: Labels, value: number];

/** A metric read from `S`: a {@link ServerSnapshot}, or the admin endpoint's own counters. */
export interface MetricDef<S = ServerSnapshot> {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  labels: readonly string[];
  values(source: S): Sample[];
}

/** The latency histogram, exposed from the recorder's cumulative buckets. */
export const LATENCY_METRIC = {
  name: 'capstan_handler_latency_seconds',
  type: 'histogram',
  help: 'Time from a read batch being decoded to its replies being flushed (one batch in eight that produced replies is timed).',
  labels: ['worker', 'listener'],
} as const;

function perListener(read: (l: ListenerStats) => number) {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const w of s.workers) for (const [listener, l] of Object.entries(w.listeners)) out.push([{ worker: w.worker, listener }, read(l)]);
    return out;
  };
}

/** One series per key of a per-listener record (close reasons, refusals …), labelled `label`. */
function perListenerKeyed(label: string, read: (l: ListenerStats) => Record<string, number>) {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const w of s.workers) {
      for (const [listener, l] of Object.entries(w.listeners)) {
        for (const [key, v] of Object.entries(read(l))) out.push([{ worker: w.worker, listener, [label]: key }, v]);
      }
    }
    return out;
  };
}

/** The listener's compression filters: those whose stats have the compression byte counts. */
function* compressionFilters(s: ServerSnapshot): Generator<[Labels, CompressedBytes]> {
  for (const w of s.workers) {
    for (const [listener, l] of Object.entries(w.listeners)) {
      for (const [filter, f] of Object.entries(l.filters ?? {})) if (f.wireOut !== undefined) yield [{ worker: w.worker, listener, filter }, f];
    }
  }
}

function compressedBytes(source: (s: ServerSnapshot) => Iterable<[Labels, CompressedBytes]>) {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const [labels, f] of source(s)) {
      out.push([{ ...labels, direction: 'out', side: 'plain' }, f.plainOut ?? 0], [{ ...labels, direction: 'out', side: 'wire' }, f.wireOut ?? 0]);
      out.push([{ ...labels, direction: 'in', side: 'plain' }, f.plainIn ?? 0], [{ ...labels, direction: 'in', side: 'wire' }, f.wireIn ?? 0]);
    }
    return out;
  };
}

function compressionRatio(source: (s: ServerSnapshot) => Iterable<[Labels, CompressedBytes]>) {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const [labels, f] of source(s)) {
      if ((f.wireOut ?? 0) > 0) out.push([{ ...labels, direction: 'out' }, (f.plainOut ?? 0) / (f.wireOut as number)]);
      if ((f.wireIn ?? 0) > 0) out.push([{ ...labels, direction: 'in' }, (f.plainIn ?? 0) / (f.wireIn as number)]);
    }
    return out;
  };
}

/** Every WebSocket listener of every worker, with its labels. */
function* webSockets(s: ServerSnapshot): Generator<[Labels, WebSocketSnapshot]> {
  for (const w of s.workers) {
    for (const [listener, l] of Object.entries(w.listeners)) if (l.websocket !== undefined) yield [{ worker: w.worker, listener }, l.websocket];
  }
}

/**
 * One series per WebSocket listener of a number it counts, or one per key
 * (labelled `label`) of a record of them; none where the number is absent.
 */
function perWebSocket(read: (ws: WebSocketSnapshot) => number | Record<string, number> | undefined, label = '') {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const [labels, ws] of webSockets(s)) {
      const v = read(ws);
      if (typeof v === 'number') out.push([labels, v]);
      else if (v !== undefined) for (const [key, n] of Object.entries(v)) out.push([{ ...labels, [label]: key }, n]);
    }
    return out;
  };
}

function webSocketCloses(s: ServerSnapshot): Sample[] {
  const out: Sample[] = [];
  for (const [labels, ws] of webSockets(s)) {
    for (const [code, n] of Object.entries(ws.closesSent)) out.push([{ ...labels, direction: 'sent', code }, n]);
    for (const [code, n] of Object.entries(ws.closesReceived)) out.push([{ ...labels, direction: 'received', code }, n]);
  }
  return out;
}

function* webSocketDeflate(s: ServerSnapshot): Generator<[Labels, CompressedBytes]> {
  for (const [labels, ws] of webSockets(s)) if (ws.deflate !== undefined) yield [labels, ws.deflate];
}

/** Times each compression filter met an inbound bound (the filters' own counters, beside their byte counts). */
function compressionLimits(s: ServerSnapshot): Sample[] {
  const out: Sample[] = [];
  for (const w of s.workers) {
    for (const [listener, l] of Object.entries(w.listeners)) {
      for (const [filter, f] of Object.entries(l.filters ?? {})) {
        if (f.wireOut === undefined) continue;
        const labels = { worker: w.worker, listener, filter };
        out.push([{ ...labels, limit: 'inbound-hold' }, f.inboundHolds ?? 0], [{ ...labels, limit: 'inflate-ratio' }, f.inflateLimits ?? 0]);
      }
    }
  }
  return out;
}

/** One series per UDP listener (those whose stats have `udp`), with `extra` labels per value `read` gives. */
function perUdpListener(label: string | null, read: (u: UdpStats) => Record<string, number>) {
  return (s: ServerSnapshot): Sample[] => {
    const out: Sample[] = [];
    for (const w of s.workers) {
      for (const [listener, l] of Object.entries(w.listeners)) {
        if (l.udp === undefined) continue;
        for (const [key, v] of Object.entries(read(l.udp))) out.push([label === null ? { worker: w.worker, listener } : { worker: w.worker, listener, [label]: key }, v]);
      }
    }
    return out;
  };
}

function perWorker(read: (p: ProcessStats) => number) {
  return (s: ServerSnapshot): Sample[] => s.workers.map((w) => [{ worker: w.worker }, read(w.process)]);
}

function perWorkerKeyed(label: string, read: (p: ProcessStats) => Record<string, number>) {
  return (s: ServerSnapshot): Sample[] => s.workers.flatMap((w) => Object.entries(read(w.process)).map(([k, v]): Sample => [{ worker: w.worker, [label]: k }, v]));
}

const L = ['worker', 'listener'] as const;
const W = ['worker'] as const;

export const METRICS: readonly MetricDef[] = [
  { name: 'capstan_connections_accepted_total', type: 'counter', labels: L, help: 'Connections accepted and handed to the handler (or to the TLS handshake); on a UDP listener, sessions opened.', values: perListener((l) => l.accepted) },
  { name: 'capstan_connections_active', type: 'gauge', labels: L, help: 'Connections open now, including those in a TLS handshake; on a UDP listener, sessions.', values: perListener((l) => l.active) },
  { name: 'capstan_connections_refused_total', type: 'counter', labels: [...L, 'reason'], help: 'Sockets closed on accept, by reason (max-connections, max-per-address, closing).', values: perListenerKeyed('reason', (l) => l.refused) },
  { name: 'capstan_connections_closed_total', type: 'counter', labels: [...L, 'reason'], help: 'Connections closed, by close reason.', values: perListenerKeyed('reason', (l) => l.closes) },
  { name: 'capstan_accept_errors_total', type: 'counter', labels: [...L, 'code'], help: 'Accept failures the listener survived (EMFILE, ENFILE …), by error code.', values: perListenerKeyed('code', (l) => l.acceptErrors) },
  { name: 'capstan_received_bytes_total', type: 'counter', labels: L, help: 'Bytes read from peers.', values: perListener((l) => l.bytesIn) },
  { name: 'capstan_sent_bytes_total', type: 'counter', labels: L, help: 'Bytes written to peers.', values: perListener((l) => l.bytesOut) },
  { name: 'capstan_messages_received_total', type: 'counter', labels: L, help: 'Frames decoded and delivered to the handler.', values: perListener((l) => l.framesIn) },
  { name: 'capstan_messages_sent_total', type: 'counter', labels: L, help: 'Frames sent by the handler.', values: perListener((l) => l.framesOut) },
  { name: 'capstan_messages_discarded_total', type: 'counter', labels: L, help: 'Oversized frames dropped by a codec in discard mode.', values: perListener((l) => l.framesDiscarded) },
  { name: 'capstan_outbound_queued_bytes', type: 'gauge', labels: L, help: 'Bytes queued for sending, summed over open connections.', values: perListener((l) => l.bufferedBytes) },
  { name: 'capstan_backpressure_pauses_total', type: 'counter', labels: L, help: 'Times a connection stopped reading because its outbound queue passed the high-water mark.', values: perListener((l) => l.backpressurePauses) },
  { name: 'capstan_timeouts_total', type: 'counter', labels: [...L, 'kind'], help: 'Connections closed by a timeout, by kind (firstByte, frame, idle, write, handshake, linger).', values: perListenerKeyed('kind', (l) => l.timeouts) },
  { name: 'capstan_tls_handshake_failures_total', type: 'counter', labels: L, help: 'TLS handshakes that failed or timed out.', values: perListener((l) => l.tlsHandshakeFailures) },
  { name: 'capstan_proxy_headers_total', type: 'counter', labels: [...L, 'result'], help: 'PROXY protocol headers read (accepted: a client named; local: the proxy itself), and trusted connections without one (none); on a UDP listener, per datagram.', values: perListenerKeyed('result', (l) => ({ accepted: l.proxy.accepted, local: l.proxy.local, none: l.proxy.none })) },
  { name: 'capstan_proxy_refused_total', type: 'counter', labels: [...L, 'reason'], help: 'Connections closed over their PROXY protocol header, by reason (malformed, too-large, checksum, untrusted, missing, timeout).', values: perListenerKeyed('reason', (l) => l.proxy.refused) },
  { name: 'capstan_tls_detected_total', type: 'counter', labels: [...L, 'protocol'], help: 'Connections told apart by their first byte on a port serving TLS and plaintext.', values: perListenerKeyed('protocol', (l) => l.detected) },
  { name: 'capstan_starttls_total', type: 'counter', labels: [...L, 'result'], help: 'STARTTLS upgrades done (upgraded), and refused for bytes injected before the handshake (refused).', values: perListenerKeyed('result', (l) => l.starttls) },
  { name: 'capstan_tls_handshakes_total', type: 'counter', labels: [...L, 'version'], help: 'Completed TLS handshakes, by protocol version.', values: perListenerKeyed('version', (l) => l.tls.versions) },
  { name: 'capstan_tls_certificate_handshakes_total', type: 'counter', labels: [...L, 'name'], help: 'Completed TLS handshakes by the certificate served: an SNI entry, or default.', values: perListenerKeyed('name', (l) => l.tls.names) },
  { name: 'capstan_tls_unknown_servername_total', type: 'counter', labels: L, help: 'TLS handshakes refused: no certificate for the server name asked for, and no default.', values: perListener((l) => l.tls.unknownName) },
  { name: 'capstan_tls_certificate_expiry_days', type: 'gauge', labels: [...L, 'name'], help: 'Days until each certificate of the listener expires (negative once expired).', values: perListenerKeyed('name', (l) => l.tls.expiryDays) },
  { name: 'capstan_tls_reloads_total', type: 'counter', labels: [...L, 'result'], help: 'New TLS settings applied to a listener (applied: rotation, reload, SIGHUP), and refused (a bad or mismatched pair; the old stays).', values: perListenerKeyed('result', (l) => ({ applied: l.tls.reloads, refused: l.tls.reloadFailures })) },
  { name: 'capstan_compression_bytes_total', type: 'counter', labels: [...L, 'filter', 'direction', 'side'], help: 'Bytes through a compression filter: out (sent) and in (received), plain (before compressing, after inflating) and wire (compressed).', values: compressedBytes(compressionFilters) },
  { name: 'capstan_compression_ratio', type: 'gauge', labels: [...L, 'filter', 'direction'], help: 'Plain bytes per compressed byte through a compression filter since start, each way (absent until bytes passed).', values: compressionRatio(compressionFilters) },
  { name: 'capstan_compression_limits_total', type: 'counter', labels: [...L, 'filter', 'limit'], help: 'Times a compression filter met an inbound bound: inbound-hold (256 KiB received bytes waited for the inflater, so reading paused), inflate-ratio (a decompression bomb closed).', values: compressionLimits },
  { name: 'capstan_websocket_handshakes_accepted_total', type: 'counter', labels: L, help: 'WebSocket upgrades accepted (101 Switching Protocols).', values: perWebSocket((ws) => ws.handshakesAccepted) },
  { name: 'capstan_websocket_handshakes_refused_total', type: 'counter', labels: [...L, 'status'], help: 'WebSocket upgrades refused (and plain requests answered with an error), by HTTP status.', values: perWebSocket((ws) => ws.handshakesRefused, 'status') },
  { name: 'capstan_websocket_http_requests_total', type: 'counter', labels: L, help: "Plain HTTP requests answered by the WebSocket server's request hook.", values: perWebSocket((ws) => ws.httpRequests) },
  { name: 'capstan_websocket_open', type: 'gauge', labels: L, help: 'WebSockets open now (upgraded connections).', values: perWebSocket((ws) => ws.open) },
  { name: 'capstan_websocket_messages_total', type: 'counter', labels: [...L, 'direction'], help: 'Whole WebSocket messages, received (in) and sent (out).', values: perWebSocket((ws) => ({ in: ws.messagesIn, out: ws.messagesOut }), 'direction') },
  { name: 'capstan_websocket_message_bytes_total', type: 'counter', labels: [...L, 'direction'], help: 'Payload bytes of whole WebSocket messages, received (in) and sent (out).', values: perWebSocket((ws) => ({ in: ws.bytesIn, out: ws.bytesOut }), 'direction') },
  { name: 'capstan_websocket_pings_total', type: 'counter', labels: [...L, 'direction'], help: 'WebSocket pings received (in) and sent (out: heartbeats and ws.ping()).', values: perWebSocket((ws) => ({ in: ws.pingsIn, out: ws.pingsOut }), 'direction') },
  { name: 'capstan_websocket_pongs_total', type: 'counter', labels: [...L, 'direction'], help: 'WebSocket pongs received (in) and sent (out: answers to pings and ws.pong()).', values: perWebSocket((ws) => ({ in: ws.pongsIn, out: ws.pongsOut }), 'direction') },
  { name: 'capstan_websocket_closes_total', type: 'counter', labels: [...L, 'direction', 'code'], help: 'WebSocket close frames sent and received, by close code (received 1005: a close frame without a code).', values: webSocketCloses },
  { name: 'capstan_websocket_deflate_bytes_total', type: 'counter', labels: [...L, 'direction', 'side'], help: 'WebSocket message bytes through permessage-deflate: out (sent) and in (received), plain and wire (compressed).', values: compressedBytes(webSocketDeflate) },
  { name: 'capstan_websocket_deflate_ratio', type: 'gauge', labels: [...L, 'direction'], help: 'Plain bytes per compressed byte through permessage-deflate since start, each way (absent until bytes passed).', values: compressionRatio(webSocketDeflate) },
  { name: 'capstan_websocket_topic_subscribers', type: 'gauge', labels: [...L, 'topic'], help: 'WebSockets subscribed to each pub/sub topic now.', values: perWebSocket((ws) => ws.topics, 'topic') },
  { name: 'capstan_websocket_publishes_total', type: 'counter', labels: L, help: 'Messages published to pub/sub topics.', values: perWebSocket((ws) => ws.publishes) },
  { name: 'capstan_handler_errors_total', type: 'counter', labels: L, help: 'Handler methods that threw.', values: perListener((l) => l.handlerErrors) },
  { name: 'capstan_udp_datagrams_total', type: 'counter', labels: [...L, 'direction'], help: 'Datagrams a UDP listener received (in, dropped ones included) and sent (out).', values: perUdpListener('direction', (u) => ({ in: u.datagramsIn, out: u.datagramsOut })) },
  { name: 'capstan_udp_dropped_total', type: 'counter', labels: [...L, 'reason'], help: 'Datagrams a UDP listener dropped, and sends it did not make, by reason (oversize, rate, address-rate, session-cap, address-cap, refused, closing, truncated, malformed, send-error, backoff, and proxy-missing, proxy-untrusted, proxy-malformed, proxy-truncated, proxy-too-large, proxy-checksum).', values: perUdpListener('reason', (u) => u.drops) },
  { name: 'capstan_udp_icmp_errors_total', type: 'counter', labels: L, help: 'Errors ICMP messages caused on a UDP listener (port or host unreachable), on sends or on the socket.', values: perUdpListener(null, (u) => ({ icmp: u.icmpErrors })) },
  { name: 'capstan_udp_send_errors_total', type: 'counter', labels: [...L, 'code'], help: 'Failed sends on a UDP listener, by error code (ENOBUFS, EMSGSIZE, ECONNREFUSED …).', values: perUdpListener('code', (u) => u.sendErrors) },
  { name: 'capstan_udp_receive_errors_total', type: 'counter', labels: [...L, 'code'], help: 'Errors a UDP listener\'s socket reported while receiving, by error code; receiving goes on.', values: perUdpListener('code', (u) => u.receiveErrors) },
  { name: 'capstan_process_resident_memory_bytes', type: 'gauge', labels: W, help: 'Resident set size of the worker process.', values: perWorker((p) => p.rssBytes) },
  { name: 'capstan_process_heap_used_bytes', type: 'gauge', labels: W, help: 'V8 heap in use.', values: perWorker((p) => p.heapUsedBytes) },
  { name: 'capstan_process_heap_total_bytes', type: 'gauge', labels: W, help: 'V8 heap reserved.', values: perWorker((p) => p.heapTotalBytes) },
  { name: 'capstan_process_external_memory_bytes', type: 'gauge', labels: W, help: 'Memory of buffers and other objects outside the V8 heap.', values: perWorker((p) => p.externalBytes) },
  { name: 'capstan_process_uptime_seconds', type: 'gauge', labels: W, help: 'Seconds since the worker process started.', values: perWorker((p) => p.uptimeSec) },
  {
    name: 'capstan_eventloop_delay_seconds',
    type: 'gauge',
    labels: [...W, 'stat'],
    help: 'Event-loop delay over the last window of about one second, by statistic (mean, p50, p99, max).',
    values: perWorkerKeyed('stat', (p) => ({ mean: p.eventLoopDelayMs.mean / 1e3, p50: p.eventLoopDelayMs.p50 / 1e3, p99: p.eventLoopDelayMs.p99 / 1e3, max: p.eventLoopDelayMs.max / 1e3 })),
  },
  { name: 'capstan_eventloop_utilization_ratio', type: 'gauge', labels: W, help: 'Share of the last window the event loop was busy, 0 to 1.', values: perWorker((p) => p.eventLoopUtilization) },
  { name: 'capstan_gc_runs_total', type: 'counter', labels: W, help: 'Garbage collections.', values: perWorker((p) => p.gc.count) },
  { name: 'capstan_gc_pause_seconds_total', type: 'counter', labels: W, help: 'Time spent in garbage-collection pauses.', values: perWorker((p) => p.gc.totalPauseMs / 1e3) },
  { name: 'capstan_gc_pause_max_seconds', type: 'gauge', labels: W, help: 'Longest garbage-collection pause since the worker started.', values: perWorker((p) => p.gc.maxPauseMs / 1e3) },
  { name: 'capstan_workers', type: 'gauge', labels: [], help: 'Worker processes reporting to this admin endpoint.', values: (s) => [[{}, s.workers.length]] },
  { name: 'capstan_draining', type: 'gauge', labels: [], help: '1 while the server shuts down or reloads (then /readyz fails), else 0.', values: (s) => [[{}, s.draining ? 1 : 0]] },
];

const keyed = (label: string, record: Record<string, number>): Sample[] => Object.entries(record).map(([k, v]): Sample => [{ [label]: k }, v]);

/** The admin endpoint's own connections, counted on its thread (no `worker` label: there is one endpoint). */
export const ADMIN_METRICS: readonly MetricDef<AdminConnectionStats>[] = [
  { name: 'capstan_admin_connections_accepted_total', type: 'counter', labels: [], help: 'Connections the admin endpoint admitted.', values: (a) => [[{}, a.accepted]] },
  { name: 'capstan_admin_connections_active', type: 'gauge', labels: [], help: 'Admin connections open now.', values: (a) => [[{}, a.active]] },
  {
    name: 'capstan_admin_connections_refused_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Admin connections closed on accept, by reason (max-per-address, max-connections).',
    values: (a) => keyed('reason', a.refused),
  },
  {
    name: 'capstan_admin_connections_closed_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Admin connections the endpoint closed, by reason (evicted, request-timeout, bad-request).',
    values: (a) => keyed('reason', a.closed),
  },
];
