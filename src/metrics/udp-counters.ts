/**
 * A UDP listener's own counters (datagrams, drops, send and ICMP errors):
 * plain number fields bumped on the hot path, copied only for a snapshot. The
 * figures UDP shares with stream listeners (sessions as `accepted`/`active`,
 * bytes, records, closes by reason) stay in {@link ListenerCounters}, so the
 * existing metrics and the dashboard show UDP listeners without a change.
 */

/**
 * Why a received datagram was not delivered, or a send not made. A drop is
 * counted and forgotten: nothing is buffered for later.
 *
 * | reason          | what happened                                                        |
 * |-----------------|----------------------------------------------------------------------|
 * | `oversize`      | the datagram is over `maxDatagramBytes`                              |
 * | `rate`          | the session's token bucket (datagrams/s or bytes/s) is empty         |
 * | `address-rate`  | the source address's token bucket is empty                           |
 * | `session-cap`   | a new peer, and the listener holds `maxSessions` sessions            |
 * | `address-cap`   | a new peer, and its address holds `maxSessionsPerAddress` sessions   |
 * | `refused`       | a new peer the handler's `accept` turned away                        |
 * | `closing`       | a new peer while the listener drains, or a datagram to a closing session |
 * | `truncated`     | the datagram ends inside a record (records are never stitched across datagrams) |
 * | `malformed`     | the codec rejected a record in the datagram (bad length, record over `maxFrameBytes`) |
 * | `send-error`    | the socket refused a send (the error code is in `sendErrors`)        |
 * | `backoff`       | a send while sending backs off after a resource error (ENOBUFS …)   |
 * | `proxy-missing` | `proxyProtocol: required`, and a trusted proxy's datagram has no header |
 * | `proxy-untrusted` | a source outside `proxyProtocol.trusted`: any datagram when required, one carrying a header when optional |
 * | `proxy-malformed` | the header is not valid v2, or names no UDP client (a stream or UNIX transport) |
 * | `proxy-truncated` | the datagram ends inside its header                               |
 * | `proxy-too-large` | the header is over `proxyProtocol.maxHeaderBytes`                 |
 * | `proxy-checksum`  | the header's CRC32C TLV does not match                            |
 * @category Metrics
 */
export type UdpDropReason =
  | 'oversize'
  | 'rate'
  | 'address-rate'
  | 'session-cap'
  | 'address-cap'
  | 'refused'
  | 'closing'
  | 'truncated'
  | 'malformed'
  | 'send-error'
  | 'backoff'
  | 'proxy-missing'
  | 'proxy-untrusted'
  | 'proxy-malformed'
  | 'proxy-truncated'
  | 'proxy-too-large'
  | 'proxy-checksum';

/**
 * Every {@link UdpDropReason}, in the order of the table above (the keys of
 * `stats().udp.drops`, each present with 0 when nothing was dropped for it).
 * @category Metrics
 */
export const UDP_DROP_REASONS: readonly UdpDropReason[] = [
  'oversize',
  'rate',
  'address-rate',
  'session-cap',
  'address-cap',
  'refused',
  'closing',
  'truncated',
  'malformed',
  'send-error',
  'backoff',
  'proxy-missing',
  'proxy-untrusted',
  'proxy-malformed',
  'proxy-truncated',
  'proxy-too-large',
  'proxy-checksum',
];

/**
 * A snapshot of a UDP listener's own counters (in `ListenerStats.udp`). Bytes
 * each way (UDP payload) are `bytesIn`/`bytesOut` of the listener's stats;
 * sessions are `accepted` (opened), `active` (open) and `closes` (by reason).
 * @category Metrics
 */
export interface UdpStats {
  /** Datagrams received, dropped ones included. */
  datagramsIn: number;
  /** Datagrams handed to the socket, less those whose send was seen to fail (a listener watches a sample of its sends: docs/udp.md). */
  datagramsOut: number;
  /** Datagrams dropped (and sends not made), by reason. */
  drops: Record<UdpDropReason, number>;
  /** Errors that ICMP messages caused (port or host unreachable), on sends or on the socket. */
  icmpErrors: number;
  /** Failed sends by error code (ENOBUFS, EMSGSIZE, ECONNREFUSED …). */
  sendErrors: Record<string, number>;
  /** Errors the socket reported while receiving, by error code; receiving goes on. */
  receiveErrors: Record<string, number>;
}

export class UdpCounters {
  datagramsIn = 0;
  datagramsOut = 0;
  icmpErrors = 0;
  readonly drops: Record<UdpDropReason, number>;
  readonly sendErrors: Record<string, number> = {};
  readonly receiveErrors: Record<string, number> = {};

  constructor() {
    const drops = {} as Record<UdpDropReason, number>;
    for (const r of UDP_DROP_REASONS) drops[r] = 0;
    this.drops = drops;
  }

  snapshot(): UdpStats {
    return {
      datagramsIn: this.datagramsIn,
      datagramsOut: this.datagramsOut,
      drops: { ...this.drops },
      icmpErrors: this.icmpErrors,
      sendErrors: { ...this.sendErrors },
      receiveErrors: { ...this.receiveErrors },
    };
  }
}

/** Adds one to `record[code]`, creating the key. */
export function countCode(record: Record<string, number>, code: string): number {
  const n = (record[code] ?? 0) + 1;
  record[code] = n;
  return n;
}
