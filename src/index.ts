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
 * ## TypeBox, re-exported for plugins
 *
 * `Type`, `Static`, `TSchema`, `TObject`, `TProperties`, `TString`,
 * `TNumber`, `TInteger`, `TBoolean`, `TArray`, `TUnion`, `TLiteral`,
 * `TOptional`, `TRecord`, `TUnknown`, `TAny`, `TNull`, `SchemaOptions` and
 * `ObjectOptions` are exported from `capstan` exactly as
 * [`@sinclair/typebox`](https://www.npmjs.com/package/@sinclair/typebox)
 * exports them, from the copy Capstan itself uses; they are TypeBox's, and
 * documented there, not here. Build a plugin's `options` schema with this
 * `Type` (see {@link definePlugin}) so that it matches {@link Plugin} with no
 * second copy of TypeBox in the plugin's project: a schema made by another
 * copy works at run time but not in tsc ("Property '[Kind]' is missing in
 * type 'TObject'", TS2741), since each copy declares its own types.
 *
 * @packageDocumentation
 * @sortStrategy kind, alphabetical-ignoring-documents
 */
export { listen, supportsReusePort } from './transport/listen.js';
export type { ListenOptions, Server, CloseOptions, CloseResult, Transport, ListenerTransport } from './transport/listen.js';
export type { UdpListenOptions, UdpSocketOptions, UdpServer, DatagramHandler, UdpListenAddress, UdpCloseOptions, UdpCloseResult } from './transport/udp/options.js';
export { Session } from './transport/udp/session.js';
export type { PeerInfo, SessionStateName } from './transport/udp/session.js';
export { DEFAULT_UDP_LIMITS, UdpLimitsSchema } from './transport/udp/limits.js';
export type { UdpLimits, UdpLimitsOptions } from './transport/udp/limits.js';
export type { UdpConnectOptions, UdpClient, UdpClientHandler, UdpClientLimits, UdpClientLimitsOptions, RequestOptions, UdpClientStats, RequestStats, UdpEndpoint } from './transport/udp/client-options.js';
export { DEFAULT_UDP_CLIENT_LIMITS, UdpClientLimitsSchema } from './transport/udp/client-options.js';
export type { ListenerMulticastOptions, ClientMulticastOptions, GroupOption } from './transport/udp/multicast.js';
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

export type { ListenerStats, RefuseReason, ProxyStats, ProxyRefusal, TlsStats, WebSocketSnapshot, CompressedBytes } from './metrics/listener-counters.js';
export type { UdpStats, UdpDropReason } from './metrics/udp-counters.js';
export { UDP_DROP_REASONS } from './metrics/udp-counters.js';
export { CapstanError, isCapstanError } from './errors.js';
export type { ErrorCode, ErrorDetails } from './errors.js';
export { silentLogger } from './logger.js';
export type { Logger, LogFn } from './logger.js';
export { delimited, lines } from './codecs/delimited.js';
export type { DelimitedOptions, LinesOptions, OversizePolicy } from './codecs/delimited.js';
export { fixedSize } from './codecs/fixed.js';
export type { FixedSizeOptions } from './codecs/fixed.js';
export { codecFromName, CODEC_NAMES } from './codecs/registry.js';
export { definePlugin } from './server/plugin.js';
// TypeBox's own, documented by TypeBox; the package comment above says why they are here.
export { Type } from '@sinclair/typebox';
export type {
  Static,
  TSchema,
  TObject,
  TProperties,
  TString,
  TNumber,
  TInteger,
  TBoolean,
  TArray,
  TUnion,
  TLiteral,
  TOptional,
  TRecord,
  TUnknown,
  TAny,
  TNull,
  SchemaOptions,
  ObjectOptions,
} from '@sinclair/typebox';
export type { Plugin, PluginContext } from './server/plugin.js';
export type { PluginWebSocketHandler } from './server/websocket-endpoints.js';
export type { Threads, TaskOptions, PoolName } from './server/threads.js';
export { ConfigSchema } from './server/config/schema.js';
export type { Config, ListenerConfig } from './server/config/schema.js';
export { startAdminServer, DEFAULT_ADMIN_PORT } from './metrics/admin-server.js';
export type { AdminServer, AdminServerOptions, StatsSource } from './metrics/admin-server.js';
export type { HistoryOptions as AdminHistoryOptions } from './metrics/admin-history.js';
export { DEFAULT_ADMIN_LIMITS } from './metrics/admin-guard.js';
export type { AdminLimits } from './metrics/admin-guard.js';
export { collectWorkerSnapshot, combineSnapshots, latencyRecorder, LATENCY_BUCKETS_US } from './metrics/snapshot.js';
export type { WorkerSnapshot, ServerSnapshot, ListenerSnapshot, LatencySummary, LatencyHistogram, ProcessStats } from './metrics/snapshot.js';
export { runLoad } from './load/run.js';
export type { LoadOptions, LoadMode, LoadTlsOptions, VerifyMode } from './load/options.js';
export type { LoadResult, Direction as LoadDirection } from './load/result.js';
export type { Delivery as LoadDelivery, DatagramCounts as LoadDatagramCounts } from './load/partial.js';
export type { DatagramReport as LoadDatagramReport } from './load/result.js';
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
export type { WebSocketServer, PublishOptions } from './websocket/server.js';
export { WebSocket } from './websocket/socket.js';
export type { SocketPublishOptions } from './websocket/socket.js';
export { localBackend } from './pubsub/backend.js';
export type { PublishBackend, RemoteDelivery } from './pubsub/backend.js';
export { MAX_TOPIC_LENGTH, STATS_TOPICS } from './pubsub/topics.js';
export type { PubSubStats } from './pubsub/topics.js';
export { CloseCode } from './websocket/frame.js';
export type { WebSocketHandler, WebSocketEndpoint, WebSocketServerOptions, PubSubOptions, UpgradeRequest, UpgradeRefusal, UpgradeAcceptance, UpgradeDecision, HttpRequest, HttpResponse } from './websocket/options.js';
export type { WebSocketStats, DeflateCounters } from './websocket/counters.js';
export type { PerMessageDeflateOptions } from './websocket/deflate-options.js';
export { setDeflateLimits, deflateUsage } from './websocket/deflate-pool.js';
export type { DeflateLimits } from './websocket/deflate-pool.js';
export { messageFrame } from './websocket/deflate.js';
export type { DeflateSettings } from './websocket/deflate.js';
export type { DeflateDirection } from './websocket/extension-negotiation.js';
export { connectWebSocket } from './websocket/client.js';
export type { WebSocketClient, WebSocketConnectOptions, WebSocketClientHandler } from './websocket/client.js';
export { ClientWebSocket } from './websocket/client-socket.js';
