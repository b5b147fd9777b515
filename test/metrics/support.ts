/** Fixtures for the metrics tests: an echo listener with a latency recorder, and clients that drive it. */
import { connect, lengthPrefixed, listen, silentLogger, type Server } from '../../src/index.js';
import { combineSnapshots, collectWorkerSnapshot, latencyRecorder, type ServerSnapshot } from '../../src/metrics/snapshot.js';
import type { StatsSource } from '../../src/metrics/admin-server.js';

/** A length-prefixed echo listener named `name`, recording handler latency. */
export function echoServer(name: string): Promise<Server> {
  return listen({
    name,
    port: 0,
    codec: lengthPrefixed(),
    handler: {
      message(conn, frame) {
        conn.send(frame);
      },
    },
    logger: silentLogger,
    latency: latencyRecorder(name),
  });
}

/** What a round of traffic put on the wire, as the server should count it. */
export interface Traffic {
  connections: number;
  messages: number;
  /** Wire bytes each way: 4-byte length prefix plus payload, per message. */
  bytes: number;
}

/**
 * Opens `connections` clients to `port`, each sending `messages` frames of
 * `payloadBytes` and waiting for every echo, then closes them all gracefully.
 */
export async function driveEcho(port: number, connections: number, messages: number, payloadBytes: number): Promise<Traffic> {
  const payload = Buffer.alloc(payloadBytes, 0x61);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      let echoed = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const client = await connect({
        port,
        codec: lengthPrefixed(),
        logger: silentLogger,
        handler: {
          message() {
            if (++echoed === messages) done();
          },
        },
      });
      for (let i = 0; i < messages; i++) client.send(payload);
      await withTimeout(all, 10_000, `${messages} echoes`);
      await client.close();
    }),
  );
  return { connections, messages: connections * messages, bytes: connections * messages * (4 + payloadBytes) };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A StatsSource over listeners of this process, as the application server builds one in single-process mode. */
export function localSource(servers: ReadonlyMap<string, Server>, ready: () => boolean = () => true): StatsSource {
  return {
    ready,
    snapshot: async (): Promise<ServerSnapshot> => combineSnapshots([collectWorkerSnapshot('main', servers)], !ready()),
  };
}
