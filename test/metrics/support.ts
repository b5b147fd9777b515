/** Fixtures for the metrics tests: an echo listener with a latency recorder, clients that drive it, worker processes. */
import { connect, lengthPrefixed, listen, silentLogger, type Server } from '../../src/index.js';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { combineSnapshots, collectWorkerSnapshot, latencyRecorder, type ServerSnapshot, type WorkerSnapshot } from '../../src/metrics/snapshot.js';
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
 * With `lockstep`, each client waits for one echo before sending the next
 * frame, so every frame is its own read batch (handler latency is timed on
 * one batch in eight, so latency tests need many batches).
 */
export async function driveEcho(port: number, connections: number, messages: number, payloadBytes: number, lockstep = false): Promise<Traffic> {
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
          message(conn) {
            if (++echoed === messages) done();
            else if (lockstep) conn.send(payload);
          },
        },
      });
      if (lockstep) client.send(payload);
      else for (let i = 0; i < messages; i++) client.send(payload);
      await withTimeout(all, 30_000, `${messages} echoes`);
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

/** A worker child process (fixtures/worker.ts) serving an echo listener. */
export interface WorkerProcess {
  readonly id: string;
  readonly port: number;
  snapshot(): Promise<WorkerSnapshot>;
  /** Disconnects and, if it does not exit within a second, kills the process. */
  stop(): Promise<void>;
}

export async function spawnWorker(id: string, listener: string): Promise<WorkerProcess> {
  const child = fork(fileURLToPath(new URL('./fixtures/worker.js', import.meta.url)), [id, listener], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.once('message', (m: { type: string; port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`worker ${id} exited with ${code} before listening`)));
    }),
    15_000,
    `worker ${id} to listen`,
  );
  return {
    id,
    port,
    snapshot: () =>
      withTimeout(
        new Promise<WorkerSnapshot>((resolve) => {
          const onMessage = (m: { type: string; snapshot: WorkerSnapshot }) => {
            if (m.type !== 'snapshot') return;
            child.off('message', onMessage);
            resolve(m.snapshot);
          };
          child.on('message', onMessage);
          child.send({ type: 'snapshot' });
        }),
        10_000,
        `a snapshot from worker ${id}`,
      ),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
