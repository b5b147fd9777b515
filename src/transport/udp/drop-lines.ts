/**
 * What each drop's log line tells the operator, made once per listener or
 * client: the limits the lines quote do not change, so a flood of drops
 * builds no strings.
 */
import { UDP_DROP_REASONS, type UdpDropReason } from '../../metrics/udp-counters.js';
import type { UdpLimits } from './limits.js';

/** What a drop's log line tells the operator. */
const DROP_MESSAGES: Record<UdpDropReason, (limits: UdpLimits) => string> = {
  oversize: (l) => `dropped a datagram over limits.maxDatagramBytes (${l.maxDatagramBytes})`,
  rate: (l) => `dropped a datagram: the session is over limits.datagramsPerSecond (${l.datagramsPerSecond}) or limits.bytesPerSecond (${l.bytesPerSecond})`,
  'address-rate': (l) =>
    `dropped a datagram: its address is over limits.addressDatagramsPerSecond (${l.addressDatagramsPerSecond}) or limits.addressBytesPerSecond (${l.addressBytesPerSecond})`,
  'session-cap': (l) => `dropped a datagram from a new peer: the listener holds limits.maxSessions (${l.maxSessions}) sessions`,
  'address-cap': (l) => `dropped a datagram from a new peer: its address holds limits.maxSessionsPerAddress (${l.maxSessionsPerAddress}) sessions`,
  refused: () => 'dropped a datagram from a new peer: handler.accept refused it',
  closing: () => 'dropped a datagram: the session is closing, or the listener is',
  truncated: () => 'dropped a datagram that ends inside a record (records are never joined across datagrams)',
  malformed: () => "dropped a datagram the codec cannot decode (a bad length, or a record over the codec's maxFrameBytes)",
  'send-error': () => 'a send failed',
  backoff: () => 'dropped a send: sending is paused after a resource error',
  'proxy-missing': () => 'dropped a datagram from a trusted proxy without a PROXY protocol v2 header, which proxyProtocol required asks for',
  'proxy-untrusted': () => 'dropped a datagram from a source outside proxyProtocol.trusted: required takes datagrams from the proxies only, and a PROXY header from anyone else is spoofing',
  'proxy-malformed': () => 'dropped a datagram whose PROXY protocol header is not valid v2 for a UDP client',
  'proxy-truncated': () => 'dropped a datagram that ends inside its PROXY protocol header',
  'proxy-too-large': () => 'dropped a datagram whose PROXY protocol header is over proxyProtocol.maxHeaderBytes',
  'proxy-checksum': () => "dropped a datagram whose PROXY protocol header's CRC32C does not match",
};

/** Each drop reason's log kind and line. */
export function dropLines(limits: UdpLimits): Record<UdpDropReason, { kind: string; message: string }> {
  const lines = {} as Record<UdpDropReason, { kind: string; message: string }>;
  for (const r of UDP_DROP_REASONS) lines[r] = { kind: `dropped:${r}`, message: DROP_MESSAGES[r](limits) };
  return lines;
}
