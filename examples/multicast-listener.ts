/**
 * Multicast listener: joins a group and prints every announcement sent to it,
 * one session per announcer (closed after 10 s without an announcement).
 *
 *   node dist/examples/multicast-listener.js [port] [group] [interface]
 *     port       default 7010 (0 picks a free one)
 *     group      default 239.255.0.77 (administratively scoped: it stays inside your site)
 *     interface  the local address to join on; default 127.0.0.1, so this host only
 *
 * Run examples/multicast-announcer.ts beside it. In your own project, import
 * from 'capstan' instead of '../src/index.js'.
 */
import { listen } from '../src/index.js';

const [port = '7010', group = '239.255.0.77', iface = '127.0.0.1'] = process.argv.slice(2);

const server = await listen<{ heard: number }>({
  transport: 'udp',
  // Bound to the group, the socket hears the group and nothing sent to this host's own addresses.
  host: group,
  port: Number(port),
  multicast: { groups: [group], interface: iface },
  handler: {
    open(session) {
      session.data = { heard: 0 };
    },
    message(session, datagram) {
      session.data.heard++;
      console.log(`announcement from ${session.remoteAddress}:${session.remotePort}: ${datagram}`);
    },
    close(session, reason) {
      console.log(`announcer ${session.remoteAddress}:${session.remotePort} gone (${reason}) after ${session.data.heard} announcements`);
    },
  },
  limits: { idleTimeoutMs: 10_000, maxDatagramBytes: 1472, datagramsPerSecond: 10 },
});

console.log(`multicast-listener listening on ${server.url} (group ${group} on ${iface})`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close({ graceMs: 1_000, quietMs: 0 }).then(() => process.exit(0)));
