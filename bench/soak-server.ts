/**
 * The soak's server, in a process of its own so its memory is its own: a TLS
 * lp4 echo through every stage (PROXY protocol optional, TLS and plaintext on
 * one port, a pass-through filter and deflate). Reports its memory after a
 * forced collection over IPC (`{ cmd: 'mem' }`) and exits when the parent
 * disconnects.
 *
 * `CAPSTAN_SOAK_LEAK=1` keeps a copy of every frame: the leak the soak's check
 * must catch (test/bench/soak.test.ts proves it does).
 */
import { generate } from 'selfsigned';
import { compression, lengthPrefixed, listen, passThrough, silentLogger } from '../src/index.js';

export interface SoakMemory {
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory outside the V8 heap: Buffers' backing stores and native objects. */
  externalBytes: number;
  connections: number;
  accepted: number;
  framesIn: number;
}

const leaked: Buffer[] = [];
const leak = process.env.CAPSTAN_SOAK_LEAK === '1';

const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
const server = await listen({
  transport: 'tls',
  port: 0,
  codec: lengthPrefixed(),
  logger: silentLogger,
  tls: { key: pems.private, cert: pems.cert, plaintext: true },
  proxyProtocol: 'optional',
  filters: [passThrough(), compression({ algorithm: 'deflate' })],
  limits: { maxConnections: 100_000, maxConnectionsPerAddress: 100_000 },
  handler: {
    message(conn, frame) {
      if (leak) leaked.push(Buffer.from(frame));
      conn.send(frame);
    },
  },
});

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd !== 'mem') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const mem = process.memoryUsage();
  const st = server.stats();
  process.send?.({ rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, connections: server.connectionCount, accepted: st.accepted, framesIn: st.framesIn } satisfies SoakMemory);
});
process.on('disconnect', () => process.exit(0));
process.send?.({ port: (server.address as { port: number }).port });
