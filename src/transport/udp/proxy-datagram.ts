/**
 * PROXY protocol v2 over datagrams (`proxyProtocol` on a UDP listener): a
 * proxy relaying UDP puts a v2 header at the start of every datagram, naming
 * the client it came from. This stage reads it before the session lookup, so
 * sessions, caps and rates are the client's:
 *
 * ```
 *                 ┌─ header, PROXY UDP4/UDP6 ─► the client's session, payload after the header
 *  trusted ───────┼─ header, LOCAL or UNSPEC ─► the proxy's own session (its real address), payload
 *  source         ├─ no signature ──────────── optional: the proxy's own session, whole datagram
 *                 │                            required: dropped  (proxy-missing)
 *                 └─ bad header ─────────────► dropped (proxy-malformed, -truncated, -too-large, -checksum)
 *  other source ── required: dropped (proxy-untrusted)
 *                  optional: a datagram with the v2 signature is dropped (proxy-untrusted), others are its own
 * ```
 *
 * Nothing is made for a dropped datagram: the drop happens before any session
 * or address entry exists for it. Replies go to the datagram's source (the
 * proxy), without a header: the spec defines the header from proxy to server
 * only, so the proxy tells its clients' replies apart by the socket they come
 * back to (a socket per client, as UDP proxies keep one to demultiplex).
 *
 * Parsing is the stream listeners' parser (`parseProxyDatagram`); only the
 * trust decision is kept, per source address, because a `BlockList` check
 * costs about as much as the rest of a datagram's path.
 */
import type dgram from 'node:dgram';
import { capstanError } from '../../errors.js';
import type { ProxyStats } from '../../metrics/listener-counters.js';
import type { UdpDropReason } from '../../metrics/udp-counters.js';
import type { ProxyPolicy } from '../../pipeline/accept-stage.js';
import { isTrusted } from '../../pipeline/proxy-policy.js';
import { hasProxyV2Signature, parseProxyDatagram, proxyErrorKind, type ProxyHeader, type ProxyParse } from '../../pipeline/proxy-protocol.js';

/** Trust decisions kept, by source address; the cache starts over when full, so a flood of sources cannot grow it. */
const TRUST_CACHE_ENTRIES = 1024;

const PARSE_DROPS = { malformed: 'proxy-malformed', 'too-large': 'proxy-too-large', checksum: 'proxy-checksum' } as const;

/**
 * Reads each datagram's PROXY header for one listener. `read` fills the
 * fields below (valid until the next call) instead of returning an object,
 * so a datagram costs no allocation here beyond the parser's.
 */
export class ProxyDatagrams {
  /** What to deliver: the bytes after the header, or the whole datagram. */
  payload: Buffer = EMPTY;
  /** The peer the datagram is for: the client named by the header, or the source itself. */
  address = '';
  port = 0;
  family = '';
  /** The header, or null for a datagram without one. */
  header: ProxyHeader | null = null;
  /** Why the last datagram was dropped, when the parser said (for the log line). */
  error: Error | undefined = undefined;
  private readonly trust = new Map<string, boolean>();

  constructor(
    private readonly policy: ProxyPolicy,
    private readonly stats: ProxyStats,
  ) {}

  /** Reads `msg` from `rinfo`: null when it is to be delivered (see the fields), else the drop reason. */
  read(msg: Buffer, rinfo: dgram.RemoteInfo): UdpDropReason | null {
    this.error = undefined;
    if (!this.trusted(rinfo.address)) {
      // From anyone else a header is a spoofing attempt, never believed.
      if (this.policy.mode === 'required' || hasProxyV2Signature(msg)) return 'proxy-untrusted';
      return this.itself(msg, rinfo, null);
    }
    let parsed: ProxyParse;
    try {
      parsed = parseProxyDatagram(msg, this.policy.maxHeaderBytes);
    } catch (err) {
      this.error = err as Error;
      return PARSE_DROPS[proxyErrorKind(err)];
    }
    if (parsed.kind === 'more') return 'proxy-truncated';
    if (parsed.kind === 'none') {
      if (this.policy.mode === 'required') return 'proxy-missing';
      this.stats.none++;
      return this.itself(msg, rinfo, null);
    }
    const h = parsed.header;
    const payload = msg.subarray(parsed.length);
    // LOCAL (the proxy's own datagram, a health check) and UNSPEC: the spec says use the real endpoints.
    if (h.command === 'local') {
      this.stats.local++;
      return this.itself(payload, rinfo, h);
    }
    if (h.transport === 'unknown') {
      this.stats.accepted++;
      return this.itself(payload, rinfo, h);
    }
    if (h.transport !== 'udp4' && h.transport !== 'udp6') {
      this.error = capstanError('ERR_PROXY_MALFORMED', `PROXY protocol v2 header on a datagram names a ${h.transport} client (expected udp4 or udp6)`, { reason: 'protocol-error' });
      return 'proxy-malformed';
    }
    const source = h.source as { address: string; port: number };
    this.stats.accepted++;
    this.payload = payload;
    this.address = source.address;
    this.port = source.port;
    this.family = h.transport === 'udp4' ? 'IPv4' : 'IPv6';
    this.header = h;
    return null;
  }

  private itself(payload: Buffer, rinfo: dgram.RemoteInfo, header: ProxyHeader | null): null {
    this.payload = payload;
    this.address = rinfo.address;
    this.port = rinfo.port;
    this.family = rinfo.family;
    this.header = header;
    return null;
  }

  private trusted(address: string): boolean {
    const known = this.trust.get(address);
    if (known !== undefined) return known;
    const yes = isTrusted(this.policy, address);
    if (this.trust.size >= TRUST_CACHE_ENTRIES) this.trust.clear();
    this.trust.set(address, yes);
    return yes;
  }
}

const EMPTY = Buffer.alloc(0);
