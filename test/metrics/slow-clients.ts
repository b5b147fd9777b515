/**
 * Slowloris clients for the admin endpoint's tests: sockets that send a
 * request head one byte at a time and never finish it, and a well-behaved
 * client that checks the endpoint meanwhile.
 */
import http from 'node:http';
import net from 'node:net';

/** A request head that never ends: after the request line, one header value grows by a byte a tick. */
const HEAD = 'GET /healthz HTTP/1.1\r\nHost: admin\r\nX-Slow: ';

/** Ticks a slow client writes at the most, so that a forgotten one stops on its own. */
const MAX_TICKS = 400;
/** Times a member of a horde reconnects at the most. */
const MAX_RECONNECTS = 200;

export interface SlowClient {
  /** `performance.now()` when the socket connected (NaN until then). */
  readonly connectedAt: number;
  /** When the first byte went out (NaN until then). */
  readonly firstByteAt: number;
  /** When the socket closed (NaN while open). */
  readonly closedAt: number;
  /** Everything the server sent. */
  readonly received: string;
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;
  stop(): void;
}

export interface TrickleOptions {
  localAddress?: string;
  /** ms between bytes. Default 500. */
  everyMs?: number;
  /** Stay silent this long after connecting before the first byte. Default 0. */
  silentMs?: number;
  /** Written at once on connect, before the trickle (a complete earlier request, say). */
  preamble?: string;
  /** With a preamble: start the trickle once this many bytes have arrived (its response). */
  afterBytes?: number;
}

/** Connects to the admin endpoint at `port` and trickles a request head that never completes. */
export function trickle(port: number, o: TrickleOptions = {}): SlowClient {
  const everyMs = o.everyMs ?? 500;
  const socket = net.connect({ host: '127.0.0.1', port, ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}) });
  const state = { connectedAt: NaN, firstByteAt: NaN, closedAt: NaN, received: '' };
  let ticks = 0;
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    if (ticks >= MAX_TICKS || socket.destroyed) return stop();
    if (ticks === 0) state.firstByteAt = performance.now();
    socket.write(ticks < HEAD.length ? (HEAD[ticks] as string) : 'a');
    ticks++;
  };
  const startTrickle = () => {
    if (timer !== null) return;
    timer = setTimeout(function next() {
      tick();
      if (timer !== null) timer = setTimeout(next, everyMs);
    }, o.silentMs ?? 0);
  };
  const stop = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    socket.destroy();
  };
  socket.on('connect', () => {
    state.connectedAt = performance.now();
    if (o.preamble !== undefined) socket.write(o.preamble);
    if (o.afterBytes === undefined) startTrickle();
  });
  socket.on('data', (d: Buffer) => {
    state.received += d.toString('latin1');
    if (o.afterBytes !== undefined && state.received.length >= o.afterBytes) startTrickle();
  });
  // Refusals and evictions arrive as resets: expected here, and seen through 'close'.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      state.closedAt = performance.now();
      if (timer !== null) clearTimeout(timer);
      timer = null;
      resolve();
    }),
  );
  return {
    get connectedAt() {
      return state.connectedAt;
    },
    get firstByteAt() {
      return state.firstByteAt;
    },
    get closedAt() {
      return state.closedAt;
    },
    get received() {
      return state.received;
    },
    closed,
    stop,
  };
}

export interface Horde {
  /** Sockets that have connected so far, reconnections included. */
  connections(): number;
  /** Members with an open socket now. */
  open(): number;
  stop(): void;
}

/**
 * `perAddress` slow clients from each of `addresses`, each connecting again
 * one tick after the server closes it, as slowloris tools do, until stopped.
 */
export function horde(port: number, addresses: readonly string[], perAddress: number, everyMs = 500): Horde {
  let stopped = false;
  let connections = 0;
  const members = new Set<SlowClient>();
  const timers = new Set<NodeJS.Timeout>();
  const member = (localAddress: string, reconnects: number) => {
    const c = trickle(port, { localAddress, everyMs });
    members.add(c);
    void c.closed.then(() => {
      members.delete(c);
      if (!Number.isNaN(c.connectedAt)) connections++;
      if (stopped || reconnects >= MAX_RECONNECTS) return;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) member(localAddress, reconnects + 1);
      }, everyMs);
      timers.add(t);
    });
  };
  for (const a of addresses) for (let i = 0; i < perAddress; i++) member(a, 0);
  return {
    connections: () => connections + [...members].filter((c) => !Number.isNaN(c.connectedAt)).length,
    open: () => [...members].filter((c) => !Number.isNaN(c.connectedAt) && Number.isNaN(c.closedAt)).length,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of members) c.stop();
    },
  };
}

/** `127.0.0.<first>` … `127.0.0.<first + n - 1>`: loopback source addresses, all usable on Linux. */
export function loopbackAddresses(first: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${first + i}`);
}

/**
 * GETs `path` on a connection of its own (as most load balancers' health
 * checks do), from `localAddress`; resolves with the status, or rejects on a
 * reset or after `timeoutMs`.
 */
export function getFresh(port: number, path: string, timeoutMs: number, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
