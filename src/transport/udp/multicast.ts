/**
 * Multicast groups and the socket settings for sending to groups and
 * broadcast addresses, shared by the UDP listener and the UDP client.
 *
 * ```
 *   announcer (client, connected to 239.255.0.1:7010)        listener (bound to 239.255.0.1:7010)
 *     interface 127.0.0.1, ttl 1 ──── datagram to the group ───► joined on 127.0.0.1 ─► session per announcer
 * ```
 *
 * A membership is (group, interface). The kernel refuses to join one twice
 * and to leave one it does not hold, so the memberships are kept here: a
 * second join or a leave of a group not joined is a no-op that returns false.
 * Options are checked before anything binds; the kernel's own refusals (no
 * such interface, too many groups) become `ERR_MULTICAST`.
 */
import type dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { capstanError } from '../../errors.js';
import type { Same } from '../options-schema.js';

const Address = Type.String({ minLength: 1 });

/** A group to join: its address alone, or with the local interface to join it on. */
export const GroupSchema = Type.Union([
  Address,
  Type.Object(
    {
      group: Address,
      interface: Type.Optional(Type.String({ minLength: 1, description: 'Local interface address to join on; default multicast.interface, else the kernel picks by route.' })),
    },
    { additionalProperties: false },
  ),
]);

/** What joins groups: on a listener and on a client. */
const groupsProperty = {
  groups: Type.Optional(Type.Array(GroupSchema, { description: 'Multicast groups to join once the socket is bound.' })),
  interface: Type.Optional(
    Type.String({ minLength: 1, description: 'Local interface address for multicast: groups are joined on it, and (on a client) sends to a group leave by it. Default: the kernel picks by route.' }),
  ),
};

/** The schema of a listener's `multicast` option. */
export const ListenerMulticastSchema = Type.Object(groupsProperty, { additionalProperties: false });

/** The schema of a client's `multicast` option. */
export const ClientMulticastSchema = Type.Object(
  {
    ...groupsProperty,
    ttl: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Hops a datagram sent to a group may travel (IP_MULTICAST_TTL); 0 keeps it on this host. Default 1 (this link).' })),
    loopback: Type.Optional(Type.Boolean({ description: 'Deliver datagrams sent to a group to this host\'s own members too (IP_MULTICAST_LOOP). Default true.' })),
  },
  { additionalProperties: false },
);

/**
 * A multicast group to join: its address (`239.255.0.1`, `ff02::1`), or the
 * address with the local interface to join it on.
 * @category UDP
 */
export type GroupOption =
  | string
  | {
      /** The group's multicast address. */
      group: string;
      /** Local interface address to join on; default `multicast.interface`, else the kernel picks by route. */
      interface?: string;
    };

/**
 * A UDP listener's multicast settings: the groups it joins at start, and the
 * interface to join them on.
 * @category UDP
 */
export interface ListenerMulticastOptions {
  /** Multicast groups to join once the socket is bound. */
  groups?: GroupOption[];
  /** Local interface address the groups are joined on. Default: the kernel picks by route. */
  interface?: string;
}

/**
 * A UDP client's multicast settings: groups to join, and how its sends to a
 * group travel.
 * @category UDP
 */
export interface ClientMulticastOptions extends ListenerMulticastOptions {
  /** Hops a datagram sent to a group may travel (IP_MULTICAST_TTL); 0 keeps it on this host. Default 1 (this link). */
  ttl?: number;
  /** Deliver datagrams sent to a group to this host's own members too (IP_MULTICAST_LOOP). Default true. */
  loopback?: boolean;
}

// The written-out types carry per-key docs; these fail the build if they drift from the schemas.
const groupMatchesSchema: Same<GroupOption, Static<typeof GroupSchema>> = true;
const listenerMatchesSchema: Same<ListenerMulticastOptions, Static<typeof ListenerMulticastSchema>> = true;
const clientMatchesSchema: Same<ClientMulticastOptions, Static<typeof ClientMulticastSchema>> = true;
void [groupMatchesSchema, listenerMatchesSchema, clientMatchesSchema];

/** True when `address` is a multicast address of `type`: 224.0.0.0/4 for udp4, ff00::/8 for udp6. */
export function isMulticast(address: string, type: 'udp4' | 'udp6'): boolean {
  if (type === 'udp4') {
    if (!isIPv4(address)) return false;
    const first = Number(address.slice(0, address.indexOf('.')));
    return first >= 224 && first <= 239;
  }
  return isIPv6(address) && /^ff[0-9a-f]{2}:/i.test(address);
}

/** An interface address of `type` (IPv6 may carry a zone: `::%eth0`, `fe80::1%eth0`). */
function isInterface(address: string, type: 'udp4' | 'udp6'): boolean {
  return type === 'udp4' ? isIPv4(address) : isIPv6(address.replace(/%[\w.-]+$/, ''));
}

function invalid(what: string, path: string, message: string): never {
  throw capstanError('ERR_INVALID_OPTION', `${what}: option ${path} ${message}`, { path });
}

/** One membership, checked: the group, and the interface to join on or undefined for the kernel's choice. */
export function checkGroup(what: string, path: string, type: 'udp4' | 'udp6', group: string, iface: string | undefined): { group: string; iface: string | undefined } {
  const family = type === 'udp4' ? 'IPv4' : 'IPv6';
  if (!isMulticast(group, type)) {
    invalid(what, path, `must be an ${family} multicast address (${type === 'udp4' ? '224.0.0.0 to 239.255.255.255' : 'ff00::/8'}) for this ${type} socket, got ${JSON.stringify(group)}`);
  }
  if (iface !== undefined && !isInterface(iface, type)) invalid(what, `${path}.interface`, `must be a local ${family} interface address, got ${JSON.stringify(iface)}`);
  return { group, iface };
}

/** Checks the multicast options against the socket type before anything binds. */
export function checkMulticast(what: string, type: 'udp4' | 'udp6', options: ClientMulticastOptions | undefined): void {
  if (options === undefined) return;
  if (options.interface !== undefined && !isInterface(options.interface, type)) {
    invalid(what, 'multicast.interface', `must be a local ${type === 'udp4' ? 'IPv4' : 'IPv6'} interface address for this ${type} socket, got ${JSON.stringify(options.interface)}`);
  }
  (options.groups ?? []).forEach((g, i) => {
    if (typeof g === 'string') checkGroup(what, `multicast.groups.${i}`, type, g, undefined);
    else checkGroup(what, `multicast.groups.${i}`, type, g.group, g.interface);
  });
}

/** The memberships of one socket. */
export class Memberships {
  private readonly joined = new Set<string>();

  constructor(
    private readonly what: string,
    private readonly type: 'udp4' | 'udp6',
    /** The interface groups are joined on when a join names none. */
    private readonly defaultInterface: string | undefined,
  ) {}

  /** Joins every group of the options; throws `ERR_MULTICAST` on the first the kernel refuses. */
  joinAll(socket: dgram.Socket, groups: readonly GroupOption[] | undefined): void {
    for (const g of groups ?? []) {
      if (typeof g === 'string') this.join(socket, g, undefined);
      else this.join(socket, g.group, g.interface);
    }
  }

  /** Joins `group` on `iface`; false when it is joined already. */
  join(socket: dgram.Socket, group: string, iface: string | undefined): boolean {
    const m = checkGroup(this.what, 'group', this.type, group, iface ?? this.defaultInterface);
    const key = `${m.group} ${m.iface ?? ''}`;
    if (this.joined.has(key)) return false;
    this.call(() => socket.addMembership(m.group, m.iface), 'join', m);
    this.joined.add(key);
    return true;
  }

  /** Leaves `group` on `iface`; false when it was not joined. */
  leave(socket: dgram.Socket, group: string, iface: string | undefined): boolean {
    const m = checkGroup(this.what, 'group', this.type, group, iface ?? this.defaultInterface);
    const key = `${m.group} ${m.iface ?? ''}`;
    if (!this.joined.has(key)) return false;
    this.call(() => socket.dropMembership(m.group, m.iface), 'leave', m);
    this.joined.delete(key);
    return true;
  }

  /** The groups joined now, as `group` or `group@interface`. */
  list(): string[] {
    return [...this.joined].map((k) => {
      const [group, iface] = k.split(' ');
      return iface === '' ? (group as string) : `${group}@${iface}`;
    });
  }

  private call(f: () => void, verb: string, m: { group: string; iface: string | undefined }): void {
    try {
      f();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
      const on = m.iface === undefined ? 'the interface the kernel picks' : `interface ${m.iface}`;
      throw capstanError('ERR_MULTICAST', `${this.what}: could not ${verb} multicast group ${m.group} on ${on}: ${code} (${(err as Error).message}); check that the interface address is this host's and has a multicast route`, { cause: err });
    }
  }
}

/**
 * Applies the send settings of a client (before it connects, so the kernel
 * picks the route and source address for the group by them). Throws
 * `ERR_MULTICAST` when the kernel refuses one.
 */
export function applySendSettings(what: string, socket: dgram.Socket, options: ClientMulticastOptions | undefined, broadcast: boolean | undefined): void {
  const set = (name: string, f: () => void) => {
    try {
      f();
    } catch (err) {
      throw capstanError('ERR_MULTICAST', `${what}: could not set ${name}: ${(err as NodeJS.ErrnoException).code ?? ''} (${(err as Error).message})`, { cause: err });
    }
  };
  if (broadcast === true) set('broadcast', () => socket.setBroadcast(true));
  if (options === undefined) return;
  const { interface: iface, ttl, loopback } = options;
  if (iface !== undefined) set(`multicast.interface ${iface}`, () => socket.setMulticastInterface(iface));
  if (ttl !== undefined) set('multicast.ttl', () => socket.setMulticastTTL(ttl));
  if (loopback !== undefined) set('multicast.loopback', () => socket.setMulticastLoopback(loopback));
}
