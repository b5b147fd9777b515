/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2): how a load
 * balancer tells the server who the client behind it is.
 *
 * ```
 *  v1 (text, at most 107 bytes):
 *    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"     also TCP6, and "PROXY UNKNOWN …\r\n"
 *
 *  v2 (binary):
 *  ┌──────────────────────────────────────┬─────────┬────────┬────────┬───────────────────┬──────┐
 *  │ 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A   │ ver|cmd │ fam|pr │ len BE │ addresses         │ TLVs │
 *  │ signature (12)                        │ 0x21 0x20│ 0x11 … │ 2      │ 12 / 36 / 216     │ …    │
 *  └──────────────────────────────────────┴─────────┴────────┴────────┴───────────────────┴──────┘
 *    cmd: 0 LOCAL (the proxy's own connection, e.g. a health check), 1 PROXY
 *    fam: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; pr: 1 STREAM, 2 DGRAM
 *    addresses: src, dst, src port, dst port (UNIX: two 108-byte paths)
 *    TLV: type (1) len (2, BE) value; 0x01 ALPN, 0x02 AUTHORITY, 0x03 CRC32C, 0x04 NOOP,
 *         0x05 UNIQUE_ID (≤ 128), 0x20 SSL (client, verify, sub-TLVs), 0x30 NETNS
 * ```
 *
 * `parseProxyHeader` looks at the first bytes of a connection and says:
 * not a PROXY header, not enough bytes yet, or the header and its length. It
 * fails fast with a typed error on anything malformed, and never reads past
 * `maxBytes`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { capstanError, type CapstanError } from '../errors.js';
import { crc32c } from './crc32c.js';

/**
 * What a PROXY header says about the connection (`conn.proxy`).
 * @category Filters
 */
export interface ProxyHeader {
  /** The protocol version the header used. */
  version: 1 | 2;
  /** `proxy`: relayed for a client; `local`: the proxy's own connection (addresses are the socket's). */
  command: 'proxy' | 'local';
  /** The relayed connection's transport; `unknown` when the proxy did not say (v1 UNKNOWN, v2 UNSPEC). */
  transport: 'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unix' | 'unix-dgram' | 'unknown';
  /** The client (absent for `local` and `unknown`). UNIX paths have port 0. */
  source?: {
    /** The client's IP address (or UNIX path). */
    address: string;
    /** The client's port. */
    port: number;
  };
  /** Where the client connected to, at the proxy. */
  destination?: {
    /** The address the client connected to. */
    address: string;
    /** The port the client connected to. */
    port: number;
  };
  /** v2 ALPN TLV: the protocol the client negotiated with the proxy. (Unknown TLVs are only in `tlvs`.) */
  alpn?: string;
  /** v2 AUTHORITY TLV: the host name the client asked for (its SNI). */
  authority?: string;
  /** v2 UNIQUE_ID TLV: the proxy's id for the connection (up to 128 bytes). */
  uniqueId?: Buffer;
  /** v2 NETNS TLV: the network namespace the connection came from. */
  netns?: string;
  /** v2 SSL TLV: the client's TLS connection to the proxy. */
  ssl?: ProxySsl;
  /** True when the header carried a CRC32C TLV (it was checked: a wrong one is refused). */
  checksummed?: boolean;
  /** Every TLV, raw, in order (including the known ones). */
  tlvs: Array<{
    /** The TLV's type byte. */
    type: number;
    /** Its value bytes. */
    value: Buffer;
  }>;
}

/**
 * The v2 SSL TLV: the client's TLS connection to the proxy.
 * @category Filters
 */
export interface ProxySsl {
  /** The client connected over TLS. */
  tls: boolean;
  /** The client presented a certificate on this connection. */
  certConnection: boolean;
  /** The client presented a certificate in this TLS session (perhaps on an earlier connection). */
  certSession: boolean;
  /** The proxy verified the client certificate (the TLV's verify field was 0). */
  verified: boolean;
  /** The TLS version, e.g. `TLSv1.3`. */
  version?: string;
  /** The client certificate's subject common name. */
  commonName?: string;
  /** The cipher suite, e.g. `ECDHE-RSA-AES128-GCM-SHA256`. */
  cipher?: string;
  /** The certificate's signature algorithm, e.g. `SHA256`. */
  signatureAlgorithm?: string;
  /** The certificate key's algorithm, e.g. `RSA2048`. */
  keyAlgorithm?: string;
}

export type ProxyParse = { kind: 'none' } | { kind: 'more' } | { kind: 'header'; header: ProxyHeader; length: number };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ');
/** The longest v1 line the spec allows, CRLF included. */
export const V1_MAX_BYTES = 107;
/** The v2 header before its addresses: signature, version/command, family/protocol, length. */
const V2_FIXED = 16;

const NONE: ProxyParse = { kind: 'none' };
const MORE: ProxyParse = { kind: 'more' };

/**
 * Parses the PROXY header at the start of `bytes` (all that has arrived so far).
 * @param maxBytes - the largest v2 header accepted (v1 lines are bounded by the spec).
 * @throws CapstanError `ERR_PROXY_MALFORMED`, `ERR_PROXY_TOO_LARGE` or `ERR_PROXY_CHECKSUM` (reason `protocol-error`).
 */
export function parseProxyHeader(bytes: Buffer, maxBytes: number): ProxyParse {
  if (startsLike(bytes, V2_SIGNATURE)) {
    if (bytes.length < V2_SIGNATURE.length) return MORE;
    return parseV2(bytes, maxBytes);
  }
  if (startsLike(bytes, V1_SIGNATURE)) {
    if (bytes.length < V1_SIGNATURE.length) return MORE;
    return parseV1(bytes);
  }
  return NONE;
}

/**
 * Parses the PROXY header at the start of one datagram. Only v2 is defined
 * for datagrams (each one carries its own header), so a datagram that does
 * not start with the v2 signature is `none`, even if it starts like a v1 line.
 * `more` means the datagram ends inside the header: a datagram is whole, so
 * for the caller that is a truncated header, not a reason to wait.
 * @throws CapstanError as {@link parseProxyHeader} does.
 */
export function parseProxyDatagram(datagram: Buffer, maxBytes: number): ProxyParse {
  if (!startsLike(datagram, V2_SIGNATURE)) return NONE;
  if (datagram.length < V2_SIGNATURE.length) return MORE;
  return parseV2(datagram, maxBytes);
}

/** True when `bytes` start with the whole v2 signature (a claim to carry a header). */
export function hasProxyV2Signature(bytes: Buffer): boolean {
  return bytes.length >= V2_SIGNATURE.length && startsLike(bytes, V2_SIGNATURE);
}

/** Which refusal a parser error is: a bad checksum, a header over the bound, or anything else malformed. */
export function proxyErrorKind(err: unknown): 'checksum' | 'too-large' | 'malformed' {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_PROXY_CHECKSUM' ? 'checksum' : code === 'ERR_PROXY_TOO_LARGE' ? 'too-large' : 'malformed';
}

/**
 * Whether `bytes` (the first bytes of a connection) begin a PROXY header:
 * `match` once a whole signature is there, `partial` while they could still
 * become one, `none` otherwise.
 */
export function proxySignature(bytes: Buffer): 'none' | 'partial' | 'match' {
  for (const signature of [V2_SIGNATURE, V1_SIGNATURE]) {
    if (startsLike(bytes, signature)) return bytes.length >= signature.length ? 'match' : 'partial';
  }
  return 'none';
}

/** True when `bytes` and `signature` agree on every byte both have. */
function startsLike(bytes: Buffer, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false;
  return bytes.length > 0;
}

function malformed(what: string, version: 1 | 2): CapstanError {
  return capstanError('ERR_PROXY_MALFORMED', `PROXY protocol v${version} header: ${what}`, { reason: 'protocol-error' });
}

function parseV1(bytes: Buffer): ProxyParse {
  const cr = bytes.indexOf(0x0d);
  const end = cr === -1 ? -1 : cr + 1;
  if (end === -1 || end >= bytes.length) {
    if (bytes.length >= V1_MAX_BYTES) throw capstanError('ERR_PROXY_TOO_LARGE', `PROXY protocol v1 header: no CRLF within ${V1_MAX_BYTES} bytes`, { reason: 'protocol-error', limit: V1_MAX_BYTES });
    // A LF before any CR cannot start a valid line end.
    if (bytes.indexOf(0x0a) !== -1) throw malformed('a line feed without a carriage return', 1);
    return MORE;
  }
  if (bytes[end] !== 0x0a) throw malformed('CR not followed by LF', 1);
  if (end + 1 > V1_MAX_BYTES) throw capstanError('ERR_PROXY_TOO_LARGE', `PROXY protocol v1 header of ${end + 1} bytes exceeds ${V1_MAX_BYTES}`, { reason: 'protocol-error', limit: V1_MAX_BYTES, actual: end + 1 });
  const line = bytes.toString('latin1', V1_SIGNATURE.length, cr);
  const length = end + 1;
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { kind: 'header', length, header: { version: 1, command: 'proxy', transport: 'unknown', tlvs: [] } };
  const parts = line.split(' ');
  if (parts.length !== 5) throw malformed(`expected "TCP4|TCP6 src dst sport dport", got ${JSON.stringify(line.slice(0, 60))}`, 1);
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (valid === null) throw malformed(`unknown protocol ${JSON.stringify(proto)}`, 1);
  if (!valid(src) || !valid(dst)) throw malformed(`addresses ${JSON.stringify(src)} and ${JSON.stringify(dst)} are not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}`, 1);
  return {
    kind: 'header',
    length,
    header: {
      version: 1,
      command: 'proxy',
      transport: proto === 'TCP4' ? 'tcp4' : 'tcp6',
      source: { address: src, port: v1Port(sport) },
      destination: { address: dst, port: v1Port(dport) },
      tlvs: [],
    },
  };
}

function v1Port(text: string): number {
  // Decimal, no sign, no leading zeros (the spec's own rule), 0-65535.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) throw malformed(`port ${JSON.stringify(text)} is not a number from 0 to 65535`, 1);
  return Number(text);
}

const TRANSPORTS: Record<number, ProxyHeader['transport']> = { 0x11: 'tcp4', 0x12: 'udp4', 0x21: 'tcp6', 0x22: 'udp6', 0x31: 'unix', 0x32: 'unix-dgram' };
const ADDRESS_BYTES: Record<number, number> = { 1: 12, 2: 36, 3: 216 };

function parseV2(bytes: Buffer, maxBytes: number): ProxyParse {
  if (bytes.length < V2_FIXED) return MORE;
  const verCmd = bytes[12] as number;
  if (verCmd >> 4 !== 2) throw malformed(`version ${verCmd >> 4} (expected 2)`, 2);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw malformed(`command ${cmd} (expected 0 LOCAL or 1 PROXY)`, 2);
  const famProto = bytes[13] as number;
  const family = famProto >> 4;
  const proto = famProto & 0x0f;
  if (family > 3 || proto > 2) throw malformed(`address family ${family} / protocol ${proto}`, 2);
  const len = bytes.readUInt16BE(14);
  const total = V2_FIXED + len;
  // Checked before waiting for the rest: a peer cannot make the server buffer past the bound.
  if (total > maxBytes) throw capstanError('ERR_PROXY_TOO_LARGE', `PROXY protocol v2 header of ${total} bytes exceeds ${maxBytes}`, { reason: 'protocol-error', limit: maxBytes, actual: total });
  if (bytes.length < total) return MORE;
  const header: ProxyHeader = { version: 2, command: cmd === 0 ? 'local' : 'proxy', transport: 'unknown', tlvs: [] };
  let at = V2_FIXED;
  if (cmd === 1 && family !== 0 && proto !== 0) {
    const need = ADDRESS_BYTES[family] as number;
    if (len < need) throw malformed(`${len} bytes cannot hold the ${need} bytes of addresses`, 2);
    header.transport = TRANSPORTS[famProto] ?? 'unknown';
    if (family === 1) {
      header.source = { address: ipv4(bytes, at), port: bytes.readUInt16BE(at + 8) };
      header.destination = { address: ipv4(bytes, at + 4), port: bytes.readUInt16BE(at + 10) };
    } else if (family === 2) {
      header.source = { address: ipv6(bytes, at), port: bytes.readUInt16BE(at + 32) };
      header.destination = { address: ipv6(bytes, at + 16), port: bytes.readUInt16BE(at + 34) };
    } else {
      header.source = { address: unixPath(bytes, at), port: 0 };
      header.destination = { address: unixPath(bytes, at + 108), port: 0 };
    }
    at += need;
  } else if (cmd === 1) {
    // UNSPEC: the proxy does not know; the addresses block (if any) is skipped, and so are TLVs.
    return { kind: 'header', header, length: total };
  } else {
    // LOCAL: the address block, if sent, is ignored; TLVs may still follow it.
    at += Math.min(len, ADDRESS_BYTES[family] ?? 0);
  }
  parseTlvs(bytes, at, total, header);
  return { kind: 'header', header, length: total };
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6(b: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(at + i).toString(16));
  // The compact form: the longest run of zero groups (two or more) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function unixPath(b: Buffer, at: number): string {
  const end = b.indexOf(0, at);
  const stop = end === -1 || end > at + 108 ? at + 108 : end;
  if (stop === at) throw malformed('an empty UNIX address', 2);
  return b.toString('utf8', at, stop);
}

const PP2_CLIENT_SSL = 0x01;
const PP2_CLIENT_CERT_CONN = 0x02;
const PP2_CLIENT_CERT_SESS = 0x04;

function parseTlvs(b: Buffer, from: number, end: number, h: ProxyHeader): void {
  let at = from;
  while (at < end) {
    if (at + 3 > end) throw malformed(`a TLV header cut off at byte ${at}`, 2);
    const type = b[at] as number;
    const len = b.readUInt16BE(at + 1);
    const start = at + 3;
    if (start + len > end) throw malformed(`TLV 0x${type.toString(16)} of ${len} bytes runs past the header`, 2);
    const value = Buffer.from(b.subarray(start, start + len));
    h.tlvs.push({ type, value });
    switch (type) {
      case 0x01:
        h.alpn = value.toString('latin1');
        break;
      case 0x02:
        h.authority = value.toString('utf8');
        break;
      case 0x03: {
        if (len !== 4) throw malformed(`CRC32C TLV of ${len} bytes (expected 4)`, 2);
        const expected = b.readUInt32BE(start);
        // The checksum covers the whole header with the checksum field itself zeroed.
        const copy = Buffer.from(b.subarray(0, end));
        copy.fill(0, start, start + 4);
        if (crc32c(copy) !== expected) throw capstanError('ERR_PROXY_CHECKSUM', 'PROXY protocol v2 header: CRC32C checksum mismatch', { reason: 'protocol-error' });
        h.checksummed = true;
        break;
      }
      case 0x05:
        if (len > 128) throw malformed(`UNIQUE_ID of ${len} bytes (at most 128)`, 2);
        h.uniqueId = value;
        break;
      case 0x20:
        h.ssl = parseSsl(value);
        break;
      case 0x30:
        h.netns = value.toString('latin1');
        break;
      default:
        break;
    }
    at = start + len;
  }
}

function parseSsl(v: Buffer): ProxySsl {
  if (v.length < 5) throw malformed(`SSL TLV of ${v.length} bytes (at least 5)`, 2);
  const client = v[0] as number;
  const ssl: ProxySsl = {
    tls: (client & PP2_CLIENT_SSL) !== 0,
    certConnection: (client & PP2_CLIENT_CERT_CONN) !== 0,
    certSession: (client & PP2_CLIENT_CERT_SESS) !== 0,
    verified: v.readUInt32BE(1) === 0,
  };
  let at = 5;
  while (at < v.length) {
    if (at + 3 > v.length) throw malformed('an SSL sub-TLV header cut off', 2);
    const type = v[at] as number;
    const len = v.readUInt16BE(at + 1);
    const start = at + 3;
    if (start + len > v.length) throw malformed(`SSL sub-TLV 0x${type.toString(16)} runs past the SSL TLV`, 2);
    const text = v.toString(type === 0x22 ? 'utf8' : 'latin1', start, start + len);
    if (type === 0x21) ssl.version = text;
    else if (type === 0x22) ssl.commonName = text;
    else if (type === 0x23) ssl.cipher = text;
    else if (type === 0x24) ssl.signatureAlgorithm = text;
    else if (type === 0x25) ssl.keyAlgorithm = text;
    at = start + len;
  }
  return ssl;
}

/**
 * Builds a PROXY protocol v2 header, to send ahead of a connection's bytes (for
 * clients that relay, tests and the load client): the inverse of what a
 * listener with `proxyProtocol` reads.
 *
 * ```ts
 * socket.write(encodeProxyV2({ command: 'proxy', transport: 'tcp4',
 *   source: { address: '203.0.113.7', port: 51000 }, destination: { address: '10.0.0.1', port: 7000 } }));
 * ```
 * @param h - the header: `command`, `transport` and, for `proxy`, `source`
 *   and `destination`; `local` and `unknown` carry no addresses.
 * @category Filters
 */
export function encodeProxyV2(
  h: Pick<ProxyHeader, 'command' | 'transport' | 'source' | 'destination'> & {
    /** TLVs to append, in order. */
    tlvs?: Array<{
      /** The TLV's type byte. */
      type: number;
      /** Its value (up to 65,535 bytes). */
      value: Buffer;
    }>;
    /** Append a CRC32C TLV over the whole header. Default `false`. */
    checksum?: boolean;
  },
): Buffer {
  const famProto = h.command === 'local' || h.transport === 'unknown' ? 0 : (Number(Object.entries(TRANSPORTS).find(([, t]) => t === h.transport)?.[0] ?? 0));
  let addresses = Buffer.alloc(0);
  if (famProto !== 0 && h.source !== undefined && h.destination !== undefined) {
    const family = famProto >> 4;
    addresses = Buffer.alloc(ADDRESS_BYTES[family] as number);
    if (family === 1) {
      Buffer.from(h.source.address.split('.').map(Number)).copy(addresses, 0);
      Buffer.from(h.destination.address.split('.').map(Number)).copy(addresses, 4);
      addresses.writeUInt16BE(h.source.port, 8);
      addresses.writeUInt16BE(h.destination.port, 10);
    } else if (family === 2) {
      ipv6Bytes(h.source.address).copy(addresses, 0);
      ipv6Bytes(h.destination.address).copy(addresses, 16);
      addresses.writeUInt16BE(h.source.port, 32);
      addresses.writeUInt16BE(h.destination.port, 34);
    } else {
      addresses.write(h.source.address, 0, 107, 'utf8');
      addresses.write(h.destination.address, 108, 107, 'utf8');
    }
  }
  const tlvs = (h.tlvs ?? []).map((t) => Buffer.concat([Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]), t.value]));
  if (h.checksum === true) tlvs.push(Buffer.from([0x03, 0, 4, 0, 0, 0, 0]));
  const body = Buffer.concat([addresses, ...tlvs]);
  const head = Buffer.alloc(V2_FIXED);
  V2_SIGNATURE.copy(head, 0);
  head[12] = h.command === 'local' ? 0x20 : 0x21;
  head[13] = famProto;
  head.writeUInt16BE(body.length, 14);
  const out = Buffer.concat([head, body]);
  if (h.checksum === true) out.writeUInt32BE(crc32c(out), out.length - 4);
  return out;
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const a = head === '' ? [] : head.split(':');
  const b = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? a : [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
