/**
 * Capstan's public API. Everything a library user needs is exported here and
 * nothing else; deep imports are not part of the contract.
 *
 * ```ts
 * import { listen, lengthPrefixed } from 'capstan';
 *
 * const server = await listen({
 *   port: 7000,
 *   codec: lengthPrefixed({ lengthBytes: 4 }),
 *   handler: { message(conn, frame) { conn.send(frame); } },
 * });
 * ```
 *
 * The guides in `docs/` explain the model (getting-started, protocols,
 * reliability, filters, server, metrics, performance); this reference lists
 * every export with its options, units and defaults. It is generated from the
 * TSDoc in `src/` by `npm run docs:api`.
 *
 * @packageDocumentation
 */
export { listen, supportsReusePort } from './transport/listen.js';
export type { ListenOptions, Server, CloseOptions, CloseResult, Transport } from './transport/listen.js';
export type { UdpListenOptions, UdpServer, DatagramHandler } from './transport/udp/options.js';
export { Session } from './transport/udp/session.js';
export type { PeerInfo, SessionStateName } from './transport/udp/session.js';
export { DEFAULT_UDP_LIMITS, UdpLimitsSchema } from './transport/udp/limits.js';
export type { UdpLimits, UdpLimitsOptions } from './transport/udp/limits.js';
export { connect } from './transport/connect.js';
export type { ConnectOptions, Client, ClientHandler, ClientTlsOptions, ReconnectInfo } from './transport/connect.js';
export type { LimitsOptions, TlsServerOptions, ReconnectOptions } from './transport/options-schema.js';
export { LimitsSchema, TlsSchema, ListenOptionsSchema, ConnectOptionsSchema } from './transport/options-schema.js';

export { Connection } from './connection/connection.js';
export type { ConnectionState, TlsInfo, LatencyRecorder } from './connection/connection.js';
export type { Handler } from './connection/handler.js';
export type { CloseReason } from './connection/close-reason.js';
export { CLOSE_REASONS } from './connection/close-reason.js';
export { DEFAULT_LIMITS } from './connection/limits.js';
export type { Limits } from './connection/limits.js';

export type { Codec, Decoder, Encoder, FrameSink, DecoderEvents } from './codecs/codec.js';
export { DEFAULT_MAX_FRAME_BYTES } from './codecs/codec.js';
export { lengthPrefixed } from './codecs/length-prefixed.js';
export type { LengthPrefixedOptions } from './codecs/length-prefixed.js';
export { raw } from './codecs/raw.js';
export type { RawOptions } from './codecs/raw.js';
export { ByteQueue } from './buffers/byte-queue.js';

export { TimerWheel, ManualClock } from './timers/timer-wheel.js';
export type { Clock, TimerWheelOptions, WheelEntry } from './timers/timer-wheel.js';

export type { ListenerStats, RefuseReason, ProxyStats, ProxyRefusal, TlsStats } from './metrics/listener-counters.js';
export type { UdpStats, UdpDropReason } from './metrics/udp-counters.js';
export { UDP_DROP_REASONS } from './metrics/udp-counters.js';
export { CapstanError, isCapstanError } from './errors.js';
export type { ErrorCode, ErrorDetails } from './errors.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { delimited, lines } from './codecs/delimited.js';
export type { DelimitedOptions, LinesOptions, OversizePolicy } from './codecs/delimited.js';
export { fixedSize } from './codecs/fixed.js';
export type { FixedSizeOptions } from './codecs/fixed.js';
export { codecFromName, CODEC_NAMES } from './codecs/registry.js';
export { definePlugin } from './server/plugin.js';
export type { Plugin, PluginContext } from './server/plugin.js';
export type { Threads, TaskOptions, PoolName } from './server/threads.js';
export { ConfigSchema } from './server/config/schema.js';
export type { Config, ListenerConfig } from './server/config/schema.js';
export { startAdminServer, DEFAULT_ADMIN_PORT } from './metrics/admin-server.js';
export type { AdminServer, AdminServerOptions, StatsSource } from './metrics/admin-server.js';
export { DEFAULT_ADMIN_LIMITS } from './metrics/admin-guard.js';
export type { AdminLimits } from './metrics/admin-guard.js';
export { collectWorkerSnapshot, combineSnapshots, latencyRecorder, LATENCY_BUCKETS_US } from './metrics/snapshot.js';
export type { WorkerSnapshot, ServerSnapshot, ListenerSnapshot, LatencySummary, LatencyHistogram, ProcessStats } from './metrics/snapshot.js';
export { runLoad } from './load/run.js';
export type { LoadOptions, LoadMode, LoadTlsOptions, VerifyMode } from './load/options.js';
export type { LoadResult, Direction as LoadDirection } from './load/result.js';
export type { LoadProgress, LoadHooks, LoadPhase } from './load/run.js';
export type { ErrorKind as LoadErrorKind, ErrorCounts as LoadErrorCounts } from './load/error-kinds.js';
export type { LatencyUs as LoadLatencyUs } from './load/histogram.js';
export { frameTooLarge, protocolError } from './codecs/frame-errors.js';
export { watchCertificates, readCertificateFiles } from './pipeline/certificate-watch.js';
export type { CertificateFiles, CertificateWatcher, WatchCertificatesOptions } from './pipeline/certificate-watch.js';
export { encodeProxyV2 } from './pipeline/proxy-protocol.js';
export type { ProxyHeader, ProxySsl } from './pipeline/proxy-protocol.js';
export type { ProxyProtocolOption } from './pipeline/proxy-policy.js';
export { passThrough } from './pipeline/filter.js';
export type { Filter, FilterLink, FilterSession } from './pipeline/filter.js';
export { compression, setCompressionBudget, compressionMemory } from './pipeline/compression.js';
export type { CompressionOptions, CompressionCounters } from './pipeline/compression.js';
export { websocket, acceptKey } from './websocket/server.js';
export type { WebSocketServer } from './websocket/server.js';
export { WebSocket } from './websocket/socket.js';
export { CloseCode } from './websocket/frame.js';
export type { WebSocketHandler, WebSocketEndpoint, WebSocketServerOptions, UpgradeRequest, UpgradeRefusal, UpgradeAcceptance, UpgradeDecision, HttpRequest, HttpResponse } from './websocket/options.js';
export type { WebSocketStats, DeflateCounters } from './websocket/counters.js';
export type { PerMessageDeflateOptions } from './websocket/deflate-options.js';
export { setDeflateLimits, deflateUsage } from './websocket/deflate-pool.js';
export type { DeflateLimits } from './websocket/deflate-pool.js';
export { messageFrame } from './websocket/deflate.js';
export type { DeflateSettings } from './websocket/deflate.js';
export { connectWebSocket } from './websocket/client.js';
export type { WebSocketClient, WebSocketConnectOptions, WebSocketClientHandler } from './websocket/client.js';
export { ClientWebSocket } from './websocket/client-socket.js';
