/**
 * What `listen({ transport: 'udp', … })` takes and what it returns: the
 * options (validated before anything binds), the handler and the server.
 */
import type dgram from 'node:dgram';
import { Type } from '@sinclair/typebox';
import type { Codec } from '../../codecs/codec.js';
import type { CloseReason } from '../../connection/close-reason.js';
import type { Logger } from '../../logger.js';
import type { ListenerStats } from '../../metrics/listener-counters.js';
import type { ProxyProtocolOption } from '../../pipeline/proxy-policy.js';
import type { TimerWheel } from '../../timers/timer-wheel.js';
import { ProxyProtocolSchema } from '../options-schema.js';
import { UdpLimitsSchema, type UdpLimitsOptions } from './limits.js';
import { ListenerMulticastSchema, type ListenerMulticastOptions } from './multicast.js';
import type { PeerInfo, Session } from './session.js';

/**
 * What a UDP listener and a UDP client take alike: the socket's buffers, logging, timers.
 * @category UDP
 */
export interface UdpSocketOptions {
  /** The kernel's receive buffer (SO_RCVBUF), bytes; the kernel's default when absent. */
  recvBufferSize?: number;
  /** The kernel's send buffer (SO_SNDBUF), bytes. */
  sendBufferSize?: number;
  /** A pino-compatible logger. Default: pino on stderr at `warn`. */
  logger?: Logger;
  /** The timer wheel for idle (and a client's request) timeouts; tests inject one with a manual clock. */
  timerWheel?: TimerWheel;
  /**
   * Makes the socket (default `dgram.createSocket`): for sockets set up in ways
   * Capstan does not offer, and for tests that put errors in its way.
   */
  createSocket?: (options: dgram.SocketOptions) => dgram.Socket;
}

/**
 * The handler of a UDP listener: the same flat object of optional methods as
 * a stream listener's, with a {@link Session} per peer.
 *
 * Per session:
 *
 * ```
 *   [accept] ─► open ─► message* ─► close(reason)      (exactly once, last)
 * ```
 *
 * A method that throws closes its own session with `handler-error` (what it
 * sent before throwing still goes out); no other session notices.
 * @typeParam D - the type of {@link Session.data}, the state the handler keeps per session.
 * @category UDP
 */
export interface DatagramHandler<D = unknown> {
  /**
   * A datagram came from a peer with no session: return `true` to make one.
   * Refused peers cost nothing (counted as `refused` drops). Without this
   * method every peer within the limits gets a session.
   */
  accept?(peer: PeerInfo, datagram: Buffer): boolean;
  /** A new peer's session, before its first datagram is delivered. Set `session.data` here. */
  open?(session: Session<D>): void;
  /**
   * One datagram (raw codec) or one record of a datagram (other codecs). The
   * buffer is a view of the received datagram and stays valid after the call.
   */
  message?(session: Session<D>, datagram: Buffer): void;
  /** The server is draining: say goodbye, then `session.end()`; quiet sessions are closed for you. */
  shutdown?(session: Session<D>): void;
  /** The session is gone. `error` tells more for abnormal reasons. */
  close?(session: Session<D>, reason: CloseReason, error?: Error): void;
}

/**
 * Options of {@link listen} for a UDP listener: a session per peer (source
 * address and port), the same flat handler shape as a stream listener's.
 *
 * `transport: 'udp'` and `handler` are required; the rest default to raw
 * datagrams on 127.0.0.1, a free port and {@link DEFAULT_UDP_LIMITS}. Checked
 * before anything binds: a bad or unknown key rejects with
 * `ERR_INVALID_OPTION` or `ERR_UNKNOWN_OPTION` naming it, and a port that
 * cannot be bound with `ERR_LISTEN_FAILED`. See docs/udp.md.
 * @typeParam D - the type of {@link Session.data}, the per-session state the handler keeps.
 * @category UDP
 */
export interface UdpListenOptions<D = unknown> extends UdpSocketOptions {
  /** Always `'udp'`: it is what makes `listen` start a UDP listener. */
  transport: 'udp';
  /** Name used in logs and metrics. Default `udp:<port>`. */
  name?: string;
  /** Address to bind; an IPv6 address (with a colon) makes an IPv6 socket. Default `127.0.0.1`; `::` takes IPv4 too unless `ipv6Only`. */
  host?: string;
  /** Port; 0 (default) picks a free one (read it from `server.address`). */
  port?: number;
  /** On an IPv6 socket bound to `::`, take IPv6 datagrams only. Default false. */
  ipv6Only?: boolean;
  /** Framing inside each datagram. Default `raw()`: the datagram is the message. */
  codec?: Codec;
  /** What to do with sessions and datagrams. */
  handler: DatagramHandler<D>;
  /** Bounds; each has a safe default (see {@link UdpLimits}). */
  limits?: UdpLimitsOptions;
  /**
   * PROXY protocol v2 on every datagram, from the proxies in `trusted`: the
   * same option as a stream listener's. Sessions, caps and rates are then the
   * client's the header names (`session.remoteAddress`, `session.proxy`), and
   * replies go to the proxy that relayed the datagram. Datagrams without a
   * valid header where one is needed are dropped and counted (`proxy-*`).
   * `timeoutMs` has nothing to time here: a datagram arrives whole. See docs/udp.md.
   */
  proxyProtocol?: ProxyProtocolOption;
  /**
   * With a framing codec, records sent to one peer in one event-loop turn are
   * packed into datagrams of up to this many bytes (a record is never split;
   * a larger one goes alone). 0 sends each record in a datagram of its own.
   * Default 1472: an Ethernet MTU less the IPv4 and UDP headers, so packed
   * datagrams are not fragmented.
   */
  packBytes?: number;
  /**
   * Multicast groups to join once bound, and the interface to join them on.
   * To receive a group's datagrams bind `host` to the group address (or to
   * `0.0.0.0`/`::`); join more later with {@link UdpServer.joinGroup}.
   */
  multicast?: ListenerMulticastOptions;
  /**
   * SO_REUSEADDR: several sockets on this host may bind the same address and
   * port, so several listeners (processes) can each receive a multicast
   * group's datagrams. Default false.
   */
  reuseAddr?: boolean;
}

/**
 * A running UDP listener, as {@link listen} resolves it for `transport: 'udp'`.
 * @typeParam D - the type of {@link Session.data} on its sessions.
 * @category UDP
 */
export interface UdpServer<D = unknown> {
  /** The listener's name in logs and metrics: `options.name`, or `udp:<port>` with the port as given (`udp:0` for a free one). */
  readonly name: string;
  /** Always `'udp'`. */
  readonly transport: 'udp';
  /** Where it listens. */
  readonly address: UdpListenAddress;
  /** Where it listens as a URL: `udp://127.0.0.1:7002`, `udp://[::1]:7002`. */
  readonly url: string;
  /** Sessions open or closing. */
  readonly sessionCount: number;
  /** The live sessions (for broadcast or inspection). */
  sessions(): IterableIterator<Session<D>>;
  /** A snapshot of the listener's counters; the UDP ones are under `udp`. */
  stats(): ListenerStats;
  /**
   * Joins multicast group `group` on the local interface address `iface`
   * (default `multicast.interface`, else the kernel's choice by route).
   * @returns false when that membership is held already.
   * @throws CapstanError `ERR_INVALID_OPTION` for an address that is not a
   *   multicast group of the socket's family, `ERR_MULTICAST` when the kernel
   *   refuses (no such interface, no multicast route).
   */
  joinGroup(group: string, iface?: string): boolean;
  /**
   * Leaves a group joined at start or with {@link UdpServer.joinGroup}; the
   * sessions of its senders stay until they idle out.
   * @returns false when that membership was not held.
   */
  leaveGroup(group: string, iface?: string): boolean;
  /** The groups joined now, as `group` or `group@interface`. */
  memberships(): string[];
  /** True once `close` was called. */
  readonly closing: boolean;
  /** True while the socket is bound. */
  readonly listening: boolean;
  /**
   * Drains: datagrams from new peers are dropped (`closing`), each session's
   * `shutdown` is called, sessions quiet for `quietMs` close with `shutdown`,
   * and those left at `graceMs` are closed with `shutdown` too. Resolves once
   * every session has closed and the socket is shut. Calling it again returns
   * the same promise (the first call's options apply).
   */
  close(options?: UdpCloseOptions): Promise<UdpCloseResult>;
}

/**
 * Where a UDP listener is bound.
 * @category UDP
 */
export interface UdpListenAddress {
  /** The bound address, e.g. `127.0.0.1` or `::`. */
  host: string;
  /** The bound port (the one the kernel picked for port 0). */
  port: number;
  /** `IPv4` or `IPv6`. */
  family: string;
}

/**
 * How {@link UdpServer.close} drains.
 * @category UDP
 */
export interface UdpCloseOptions {
  /** ms from the `close` call until sessions still open are closed (reason `shutdown`, counted in `forced`). Default 10,000. */
  graceMs?: number;
  /** ms a session's peer must have sent nothing (counted from the `close` call at the earliest) before the session is closed (reason `shutdown`). Default 250. */
  quietMs?: number;
}

/**
 * What {@link UdpServer.close} did.
 * @category UDP
 */
export interface UdpCloseResult {
  /** Sessions that closed before the grace deadline: by themselves, after the handler's `shutdown`, or once quiet. */
  ended: number;
  /** Sessions closed at the grace deadline (`graceMs`). */
  forced: number;
}

/** An object the schema only checks is an object (codecs, handlers, loggers). */
const Obj = Type.Unsafe<object>(Type.Object({}, { additionalProperties: true }));
const Bytes = Type.Integer({ minimum: 1 });

/** The schema properties of {@link UdpSocketOptions}. */
export const UdpSocketProperties = {
  recvBufferSize: Type.Optional(Bytes),
  sendBufferSize: Type.Optional(Bytes),
  logger: Type.Optional(Obj),
  timerWheel: Type.Optional(Obj),
  createSocket: Type.Optional(Type.Unsafe<(options: dgram.SocketOptions) => dgram.Socket>(Type.Any())),
};

export const UdpListenOptionsSchema = Type.Object(
  {
    transport: Type.Literal('udp'),
    name: Type.Optional(Type.String({ minLength: 1 })),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    ipv6Only: Type.Optional(Type.Boolean()),
    codec: Type.Optional(Obj),
    handler: Obj,
    limits: Type.Optional(UdpLimitsSchema),
    proxyProtocol: Type.Optional(ProxyProtocolSchema),
    packBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 65507 })),
    multicast: Type.Optional(ListenerMulticastSchema),
    reuseAddr: Type.Optional(Type.Boolean()),
    ...UdpSocketProperties,
  },
  { additionalProperties: false },
);
