/**
 * Every bound a UDP listener keeps, with safe defaults. A peer costs state
 * only once it has a session, so the session caps bound the memory any flood
 * of (spoofed) sources can take; rates and sizes drop datagrams, never queue
 * them. Zero disables the idle timeout; rates, sizes and counts have no
 * "unlimited".
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Same } from '../options-schema.js';

const Count = (description: string) => Type.Integer({ minimum: 1, description });

/**
 * TypeBox schema that `listen({ transport: 'udp' })` validates `limits`
 * against (its keys are also those a UDP listener's `limits` take in the
 * config file); the type it validates is {@link UdpLimitsOptions}.
 * @category UDP
 */
export const UdpLimitsSchema = Type.Object(
  {
    maxSessions: Type.Optional(Count('Sessions on this listener; datagrams from new peers beyond it are dropped (session-cap). Default 10000.')),
    maxSessionsPerAddress: Type.Optional(Count('Sessions (source ports) from one address; more are dropped (address-cap). Default 1000.')),
    maxDatagramBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Largest datagram accepted, bytes; larger ones are dropped (oversize). Default 8192.' })),
    idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Close a session after this many ms without a datagram from its peer. 0 disables. Default 60000.' })),
    datagramsPerSecond: Type.Optional(Count('Datagrams one session may send us per second (a token bucket holding one second of them); more are dropped (rate). Default 1000.')),
    bytesPerSecond: Type.Optional(Count('Bytes one session may send us per second; more are dropped (rate). Default 1048576.')),
    addressDatagramsPerSecond: Type.Optional(Count('Datagrams per second from one address, all its sessions together; more are dropped (address-rate). Default 10000.')),
    addressBytesPerSecond: Type.Optional(Count('Bytes per second from one address, all its sessions together (address-rate). Default 10485760.')),
  },
  { additionalProperties: false },
);

/**
 * The `limits` of a UDP listener: each one left out takes its default from
 * {@link DEFAULT_UDP_LIMITS} (the resolved set is {@link UdpLimits}).
 *
 * Every limit but the idle timeout drops the datagram and counts it in
 * `stats().udp.drops` under the reason named here (see {@link UdpDropReason});
 * nothing is queued. Rates are token buckets holding one second's worth (the
 * byte bucket never less than one datagram of `maxDatagramBytes`), so after a
 * pause a burst of that much passes at once. The idle timeout is
 * checked on the listener's timer wheel, so it fires up to a tick (100 ms by
 * default) after it is due.
 * @category UDP
 */
export interface UdpLimitsOptions {
  /** Sessions on the listener; a datagram from a new peer beyond them is dropped (`session-cap`). Default 10,000. */
  maxSessions?: number;
  /** Sessions from one source address (one per source port); a new peer beyond them is dropped (`address-cap`). Default 1,000. */
  maxSessionsPerAddress?: number;
  /** Largest datagram accepted, in bytes (1 to 65,535); larger ones are dropped (`oversize`). Default 8,192. */
  maxDatagramBytes?: number;
  /** ms without a datagram from the peer before its session closes with `idle-timeout`; 0 disables. Default 60,000. */
  idleTimeoutMs?: number;
  /** Datagrams per second one session may send us; more are dropped (`rate`). Default 1,000. */
  datagramsPerSecond?: number;
  /** Bytes per second one session may send us; more are dropped (`rate`). Default 1,048,576 (1 MiB). */
  bytesPerSecond?: number;
  /** Datagrams per second from one source address, all its sessions together; more are dropped (`address-rate`). Default 10,000. */
  addressDatagramsPerSecond?: number;
  /** Bytes per second from one source address, all its sessions together; more are dropped (`address-rate`). Default 10,485,760 (10 MiB). */
  addressBytesPerSecond?: number;
}

// Fails to compile when the interface above and its schema disagree on a key or a type.
const typesMatchSchema: Same<UdpLimitsOptions, Static<typeof UdpLimitsSchema>> = true;
void typesMatchSchema;

/**
 * A UDP listener's bounds, resolved: {@link UdpLimitsOptions} with each default
 * filled in from {@link DEFAULT_UDP_LIMITS}.
 * @category UDP
 */
export interface UdpLimits {
  /** Sessions on the listener. Default 10,000. */
  maxSessions: number;
  /** Sessions from one source address (one per source port). Default 1,000. */
  maxSessionsPerAddress: number;
  /** Largest datagram accepted, in bytes. Default 8,192. */
  maxDatagramBytes: number;
  /** A session closes (`idle-timeout`) after this many ms without a datagram from its peer; 0 disables. Default 60,000. */
  idleTimeoutMs: number;
  /** Datagrams per second one session may send us. Default 1,000. */
  datagramsPerSecond: number;
  /** Bytes per second one session may send us. Default 1 MiB. */
  bytesPerSecond: number;
  /** Datagrams per second from one source address. Default 10,000. */
  addressDatagramsPerSecond: number;
  /** Bytes per second from one source address. Default 10 MiB. */
  addressBytesPerSecond: number;
}

/**
 * The default of every UDP limit, frozen: 10,000 sessions per listener and
 * 1,000 per source address, datagrams up to 8 KiB, sessions idle for 60 s
 * closed, and per session 1,000 datagrams/s and 1 MiB/s, per source address
 * 10,000 datagrams/s and 10 MiB/s.
 * @category UDP
 */
export const DEFAULT_UDP_LIMITS: Readonly<UdpLimits> = Object.freeze({
  maxSessions: 10_000,
  maxSessionsPerAddress: 1_000,
  maxDatagramBytes: 8_192,
  idleTimeoutMs: 60_000,
  datagramsPerSecond: 1_000,
  bytesPerSecond: 1024 * 1024,
  addressDatagramsPerSecond: 10_000,
  addressBytesPerSecond: 10 * 1024 * 1024,
});

export function resolveUdpLimits(given: UdpLimitsOptions | undefined): UdpLimits {
  return { ...DEFAULT_UDP_LIMITS, ...given };
}
