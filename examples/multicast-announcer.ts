/**
 * Multicast announcer: sends an announcement to a group every interval, then
 * exits. Its socket is connected to the group, so each `send` goes there.
 *
 *   node dist/examples/multicast-announcer.js [port] [group] [interface] [count] [intervalMs]
 *     port        the listeners' port; default 7010
 *     group       default 239.255.0.77
 *     interface   the local address the announcements leave by; default 127.0.0.1, so this host only
 *     count       announcements to send; default 5
 *     intervalMs  between announcements; default 1000
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../src/index.js';

const [port = '7010', group = '239.255.0.77', iface = '127.0.0.1', count = '5', intervalMs = '1000'] = process.argv.slice(2);

const client = await connect({
  transport: 'udp',
  host: group,
  port: Number(port),
  // ttl 1: a router does not pass the announcements on to other networks.
  multicast: { interface: iface, ttl: 1 },
  handler: {},
});

console.log(`announcing to ${client.url} from ${client.local.address}:${client.local.port}`);
for (let n = 1; n <= Number(count); n++) {
  client.send(`hello #${n} from ${process.pid}`);
  console.log(`sent #${n}`);
  if (n < Number(count)) await sleep(Number(intervalMs));
}
await client.close();
