/**
 * Background load for the dashboard test: echo clients sending bursts on a
 * timer plus connection churn, bounded in time and stopped explicitly.
 */
import { connect, lengthPrefixed, silentLogger, type Client } from '../../src/index.js';

export interface LoadOptions {
  ports: number[];
  /** Connections kept open per port. */
  connections: number;
  /** Frames each connection sends per tick (every 20 ms). */
  burst: number;
  /** The load stops by itself after this long even if `stop` is never called. */
  maxMs: number;
}

export interface Load {
  stop(): Promise<void>;
}

export async function startLoad(o: LoadOptions): Promise<Load> {
  const payload = Buffer.alloc(48, 0x62);
  const open = (port: number) => connect({ port, codec: lengthPrefixed(), logger: silentLogger, handler: {} });
  const clients: Client[] = [];
  for (const port of o.ports) for (let i = 0; i < o.connections; i++) clients.push(await open(port));
  let churnBusy = false;
  let tick = 0;
  const timer = setInterval(() => {
    for (const c of clients) for (let i = 0; i < o.burst; i++) c.send(payload);
    // Every half second one short-lived connection per port, so closes and accepts move too.
    if (++tick % 25 === 0 && !churnBusy) {
      churnBusy = true;
      void Promise.all(o.ports.map(async (p) => (await open(p)).close()))
        .catch(() => undefined)
        .finally(() => (churnBusy = false));
    }
  }, 20);
  const deadline = setTimeout(() => clearInterval(timer), o.maxMs);
  return {
    async stop() {
      clearInterval(timer);
      clearTimeout(deadline);
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}
