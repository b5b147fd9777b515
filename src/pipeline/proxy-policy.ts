/**
 * The `proxyProtocol` listener option, resolved: which peers may send a PROXY
 * header (addresses and CIDR ranges, in a `net.BlockList`), how long it may take
 * and how large it may be.
 */
import { BlockList, isIP } from 'node:net';
import { capstanError } from '../errors.js';
import type { ProxyPolicy } from './accept-stage.js';

/**
 * The `proxyProtocol` option of `listen`.
 *
 * `'off'` (default), `'optional'` or
 * `'required'` with the defaults below, or an object to set them. With it,
 * `conn.remoteAddress` and `conn.remotePort` are the client's from the header,
 * and `conn.proxy` holds the whole header.
 * @category Filters
 */
export type ProxyProtocolOption =
  | 'off'
  | 'optional'
  | 'required'
  | {
      /** `required`: every connection must start with a header (others are refused); `optional`: a header is read when a trusted peer sends one. */
      mode: 'optional' | 'required';
      /** Addresses and CIDR ranges allowed to send a header (the proxies). Default loopback: `127.0.0.0/8`, `::1`. */
      trusted?: string[];
      /** Time allowed for the header to arrive, ms. Default 3,000. */
      timeoutMs?: number;
      /** Largest v2 header accepted, bytes (v1 lines are at most 107 by the spec). Default 4,096. */
      maxHeaderBytes?: number;
    };

export const DEFAULT_TRUSTED_PROXIES: readonly string[] = ['127.0.0.0/8', '::1'];
const DEFAULT_TIMEOUT_MS = 3_000;
const DEFAULT_MAX_HEADER_BYTES = 4_096;
/** The smallest bound that still admits every address block (UNIX: 16 + 216). */
const MIN_HEADER_BYTES = 232;

/** Resolves the option; `null` when off. Throws `ERR_INVALID_OPTION` naming the bad entry. */
export function resolveProxyPolicy(option: ProxyProtocolOption | undefined): ProxyPolicy | null {
  if (option === undefined || option === 'off') return null;
  const o = typeof option === 'string' ? { mode: option } : option;
  const trusted = new BlockList();
  (o.trusted ?? DEFAULT_TRUSTED_PROXIES).forEach((entry, i) => addTrusted(trusted, entry, `proxyProtocol.trusted.${i}`));
  const maxHeaderBytes = o.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (maxHeaderBytes < MIN_HEADER_BYTES) {
    throw capstanError('ERR_INVALID_OPTION', `listen: option proxyProtocol.maxHeaderBytes must be at least ${MIN_HEADER_BYTES} (a v2 header with UNIX addresses), got ${maxHeaderBytes}`, {
      path: 'proxyProtocol.maxHeaderBytes',
      actual: maxHeaderBytes,
    });
  }
  return { mode: o.mode, trusted, timeoutMs: o.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxHeaderBytes };
}

function addTrusted(list: BlockList, entry: string, path: string): void {
  const [address = '', bits] = entry.split('/');
  const family = isIP(address);
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32) || (bits !== undefined && !/^\d+$/.test(bits))) {
    throw capstanError('ERR_INVALID_OPTION', `listen: option ${path} must be an IP address or CIDR range (10.0.0.0/8, fd00::/8), got ${JSON.stringify(entry)}`, { path, actual: entry });
  }
  list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
}

/** Whether `address` (as a socket reports it; IPv4-mapped IPv6 included) may send a PROXY header. */
export function isTrusted(policy: ProxyPolicy, address: string | undefined): boolean {
  if (address === undefined) return false;
  const mapped = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(mapped);
  return family !== 0 && policy.trusted.check(mapped, family === 6 ? 'ipv6' : 'ipv4');
}
