/**
 * The UDP echo servers the benchmark compares: Capstan's, with sessions and
 * every rate limit on at a bound no benchmark load reaches (so the checks run
 * on every datagram but drop nothing), and the naive `dgram` echo as its users
 * write it: `socket.on('message', (m, r) => socket.send(m, r.port, r.address))`.
 */
import dgram from 'node:dgram';
import { codecFromName } from '../src/codecs/registry.js';
import { listen, silentLogger } from '../src/index.js';

/** Limits high enough for any load here, and session caps for the 10,000 idle sessions of the memory run. */
const HIGH = {
  maxSessions: 100_000,
  maxSessionsPerAddress: 100_000,
  datagramsPerSecond: 10_000_000,
  bytesPerSecond: 1 << 30,
  addressDatagramsPerSecond: 100_000_000,
  addressBytesPerSecond: 2 ** 40,
};

export async function startUdpServer(kind: 'capstan-udp' | 'dgram', framing: string): Promise<{ port: number; sessions: () => number }> {
  if (kind === 'capstan-udp') {
    const server = await listen({
      transport: 'udp',
      port: 0,
      codec: codecFromName(framing),
      logger: silentLogger,
      limits: HIGH,
      handler: {
        message(session, datagram) {
          session.send(datagram);
        },
      },
    });
    return { port: server.address.port, sessions: () => server.sessionCount };
  }
  const socket = dgram.createSocket('udp4');
  socket.on('message', (m, r) => socket.send(m, r.port, r.address));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, sessions: () => 0 };
}
