/**
 * What `connect({ transport: 'udp', … })` takes and what it returns: the
 * options (validated before anything binds), the handler and the client.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Codec } from '../../codecs/codec.js';
import type { CloseReason } from '../../connection/close-reason.js';
import type { ListenerStats } from '../../metrics/listener-counters.js';
import { ClientMulticastSchema, type ClientMulticastOptions } from './multicast.js';
import { UdpSocketProperties, type UdpSocketOptions } from './options.js';
import type { Session } from './session.js';

/**
 * The handler of a UDP client: the listener's flat object without `accept`
 * and `shutdown`, for the one session with the peer it connected to.
 *
 * ```
 *   connect ─► open ─► message* ─► close(reason)      (exactly once, last)
 * ```
 *
 * A method that throws closes the session with `handler-error`.
 * @typeParam D - the type of {@link Session.data}, the state the handler keeps.
 * @category UDP
 */
export interface UdpClientHandler<D = unknown> {
  /** The socket is connected; set `session.data` here. */
  open?(session: Session<D>): void;
  /** One datagram (raw codec) or one record of a datagram (other codecs) from the peer that no request took. */
  message?(session: Session<D>, datagram: Buffer): void;
  /** The session is over and its socket is closing. `error` tells more for abnormal reasons. */
  close?(session: Session<D>, reason: CloseReason, error?: Error): void;
}

const Count = (description: string) => Type.Integer({ minimum: 1, description });

/**
 * The schema of a UDP client's `limits` (see {@link UdpClientLimits} for defaults and units).
 * @category UDP
 */
export const UdpClientLimitsSchema = Type.Object(
  {
    maxDatagramBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Largest datagram accepted from the peer, bytes; larger ones are dropped (oversize). Default 65535 (all UDP carries).' })),
    idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Close the session after this many ms without a datagram from the peer. 0 disables. Default 0.' })),
    maxPendingRequests: Type.Optional(Count('Requests waiting for a reply at once; more are refused with ERR_OVERLOADED. Default 1024.')),
  },
  { additionalProperties: false },
);

/**
 * A UDP client's bounds, as given: each optional (see {@link UdpClientLimits}).
 * @category UDP
 */
export type UdpClientLimitsOptions = Static<typeof UdpClientLimitsSchema>;

/**
 * A UDP client's bounds, resolved.
 * @category UDP
 */
export interface UdpClientLimits {
  /** Largest datagram accepted from the peer, in bytes. Default 65,535. */
  maxDatagramBytes: number;
  /** The session closes (`idle-timeout`) after this many ms without a datagram from the peer; 0 disables. Default 0. */
  idleTimeoutMs: number;
  /** Requests in flight or queued at once. Default 1,024. */
  maxPendingRequests: number;
}

/**
 * A client holds one socket its owner chose to make, so nothing a stranger
 * sends can make it keep more state: no idle timeout unless asked for, and
 * any datagram UDP carries.
 * @category UDP
 */
export const DEFAULT_UDP_CLIENT_LIMITS: Readonly<UdpClientLimits> = Object.freeze({
  maxDatagramBytes: 65_535,
  idleTimeoutMs: 0,
  maxPendingRequests: 1_024,
});

/**
 * How {@link UdpClient.request} waits for its reply.
 * @category UDP
 */
export interface RequestOptions {
  /** How long each attempt waits for the reply, ms (to one timer-wheel tick, 100 ms). Default 1,000. */
  timeoutMs?: number;
  /** Sends again after a timeout this many times before giving up. Default 2 (three attempts). */
  retries?: number;
  /**
   * Which datagram (record) is the reply, for protocols with a request id.
   * Without it requests go one at a time and the next datagram from the peer
   * is the reply; with it requests run at once, and each datagram goes to the
   * oldest request it matches.
   */
  match?: (reply: Buffer) => boolean;
}

/**
 * What a client's requests did: replies taken, attempts that timed out, requests failed and refused.
 * @category UDP
 */
export interface RequestStats {
  /** Replies that settled a request. */
  replies: number;
  /** Attempts whose wait ran out (each retry after one counts again). */
  timeouts: number;
  /** Requests that gave up after their last retry, or were cut off by the session's close. */
  failed: number;
  /** Refused at `limits.maxPendingRequests`. */
  overloaded: number;
}

/**
 * A UDP client's counters: a listener's, with its one session, plus its requests.
 * @category UDP
 */
export interface UdpClientStats extends ListenerStats {
  /** What {@link UdpClient.request} did. */
  requests: RequestStats;
}

/**
 * `connect({ transport: 'udp', … })`: a connect()ed UDP socket and a session with its peer.
 * @typeParam D - the type of {@link Session.data}.
 * @category UDP
 */
export interface UdpConnectOptions<D = unknown> extends UdpSocketOptions {
  /** `udp`: this is what makes `connect` build a UDP client. */
  transport: 'udp';
  /** The peer: an IP address, or a name resolved once at connect (its address's family picks udp4 or udp6). Default `127.0.0.1`. */
  host?: string;
  /** The peer's port. */
  port: number;
  /** Local address to bind; default any (`0.0.0.0` or `::`), the kernel picking the source by route. */
  localAddress?: string;
  /** Local port to bind; default an ephemeral one. */
  localPort?: number;
  /** On a udp6 socket bound to `::`, IPv6 only. Default false. */
  ipv6Only?: boolean;
  /** SO_REUSEADDR, for several sockets on one local address and port (multicast). Default false. */
  reuseAddr?: boolean;
  /** Framing inside each datagram, as on a listener. Default `raw()`: the datagram is the message. */
  codec?: Codec;
  /** With a framing codec, records sent in one event-loop turn are packed into datagrams of up to this many bytes. Default 1472; 0 sends each alone. */
  packBytes?: number;
  /** What to do with the session. */
  handler: UdpClientHandler<D>;
  /** Bounds (see {@link UdpClientLimits}). */
  limits?: UdpClientLimitsOptions;
  /** Multicast: groups to join, and for a peer that is a group, how sends to it travel. */
  multicast?: ClientMulticastOptions;
  /** SO_BROADCAST: allow a peer that is a broadcast address (without it connect fails with EACCES). Default false. */
  broadcast?: boolean;
}

/**
 * One end of a UDP socket.
 * @category UDP
 */
export interface UdpEndpoint {
  /** An IP address. */
  readonly address: string;
  /** A port. */
  readonly port: number;
  /** `IPv4` or `IPv6`. */
  readonly family: string;
}

/**
 * A connected UDP client: one socket, one session with its peer, for the socket's whole life.
 * @typeParam D - the type of {@link Session.data}.
 * @category UDP
 */
export interface UdpClient<D = unknown> {
  /** Always `udp`. */
  readonly transport: 'udp';
  /** The session while it is open; `null` once it closed. */
  readonly session: Session<D> | null;
  /** The peer. */
  readonly remote: UdpEndpoint;
  /** The local end of the socket. */
  readonly local: UdpEndpoint;
  /** The peer as a URL: `udp://127.0.0.1:7002`. */
  readonly url: string;
  /** `session.send`; false once the session closed. */
  send(datagram: Buffer | string): boolean;
  /**
   * Sends `data` and resolves with the reply: the next datagram (record)
   * from the peer, or with `match` the first that matches. On each timeout
   * it sends again, `retries` times; the reply is not delivered to `message`.
   * @throws (rejects) CapstanError `ERR_REQUEST_TIMEOUT` after the last
   *   attempt timed out, `ERR_NOT_OPEN` when the session closed first (its
   *   `reason` says why), `ERR_OVERLOADED` beyond `limits.maxPendingRequests`.
   */
  request(data: Buffer | string, options?: RequestOptions): Promise<Buffer>;
  /** Joins a multicast group, as a listener does: the socket receives the group's datagrams that come from its peer. */
  joinGroup(group: string, iface?: string): boolean;
  /** Leaves a multicast group. */
  leaveGroup(group: string, iface?: string): boolean;
  /** The groups joined now. */
  memberships(): string[];
  /** Ends the session (`local-end`, sending what is queued) and closes the socket; resolves once both are done. */
  close(): Promise<void>;
  /** Counters: one session's worth, with the UDP ones under `udp` and the requests' under `requests`. */
  stats(): UdpClientStats;
}

const Obj = Type.Unsafe<object>(Type.Object({}, { additionalProperties: true }));

/** The schema `connect` checks UDP client options against, before anything binds. */
export const UdpConnectOptionsSchema = Type.Object(
  {
    transport: Type.Literal('udp'),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    localAddress: Type.Optional(Type.String({ minLength: 1 })),
    localPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    ipv6Only: Type.Optional(Type.Boolean()),
    reuseAddr: Type.Optional(Type.Boolean()),
    codec: Type.Optional(Obj),
    packBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 65507 })),
    handler: Obj,
    limits: Type.Optional(UdpClientLimitsSchema),
    multicast: Type.Optional(ClientMulticastSchema),
    broadcast: Type.Optional(Type.Boolean()),
    ...UdpSocketProperties,
  },
  { additionalProperties: false },
);

/** The schema of {@link RequestOptions}. */
export const RequestOptionsSchema = Type.Object(
  {
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    retries: Type.Optional(Type.Integer({ minimum: 0 })),
    match: Type.Optional(Type.Unsafe<(reply: Buffer) => boolean>(Type.Any())),
  },
  { additionalProperties: false },
);

/** A request's defaults: 1,000 ms per attempt, 2 retries. */
export const REQUEST_DEFAULTS = Object.freeze({ timeoutMs: 1_000, retries: 2 });
