/**
 * Every bound a UDP listener keeps, with safe defaults. A peer costs state
 * only once it has a session, so the session caps bound the memory any flood
 * of (spoofed) sources can take; rates and sizes drop datagrams, never queue
 * them. Zero disables the idle timeout; rates, sizes and counts have no
 * "unlimited".
 */
import { Type, type Static } from '@sinclair/typebox';

const Count = (description: string) => Type.Integer({ minimum: 1, description });

/** The schema of a UDP listener's `limits` (see {@link UdpLimits} for defaults and units). */
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

/** A UDP listener's bounds, as given: each optional (see {@link UdpLimits}). */
export type UdpLimitsOptions = Static<typeof UdpLimitsSchema>;

/** A UDP listener's bounds, resolved. */
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

/** Every UDP listener bound's default (docs/udp.md lists them). */
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
