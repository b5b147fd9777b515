/**
 * UDP echo: every datagram is sent back to the peer it came from, one session
 * per peer, closed after 30 s without a datagram from it.
 *
 *   node dist/examples/udp-echo.js [port]      (default 7002; 0 picks a free port)
 *   node -e "const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));s.close()});s.send('hello',7002,'127.0.0.1')"
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { listen } from '../src/index.js';

const server = await listen<{ datagrams: number }>({
  transport: 'udp',
  port: Number(process.argv[2] ?? 7002),
  handler: {
    open(session) {
      session.data = { datagrams: 0 };
    },
    message(session, datagram) {
      session.data.datagrams++;
      session.send(datagram);
    },
    close(session, reason) {
      console.log(`${session.remoteAddress}:${session.remotePort} closed (${reason}) after ${session.data.datagrams} datagrams`);
    },
  },
  // A peer sending bigger datagrams, or faster, is dropped, and counted in server.stats().udp.drops.
  limits: { idleTimeoutMs: 30_000, maxDatagramBytes: 1472, datagramsPerSecond: 100 },
});

console.log(`udp-echo listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close({ graceMs: 1_000 }).then(() => process.exit(0)));
