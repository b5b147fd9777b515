/**
 * Who gets an admin connection and for how long: a cap on all connections and
 * one per remote address, deadlines for request headers, and a choice of whom
 * to drop when the table is full, so that health checks keep being answered
 * while slow clients ("slowloris") try to hold every slot.
 *
 * A connection is either *waiting* (no request in flight: just accepted, or
 * between requests on a kept-alive connection, or part way through a request
 * head) or *busy* (headers in, response not yet complete):
 *
 * ```
 *   accept ──► waiting ──headers complete──► busy ──response done──► waiting ─► …
 *                 │                                                     │
 *                 └─ first request's headers not in {@link AdminLimits.headersTimeoutMs}
 *                    after accept, or a later one's that long after its first byte: 408, closed
 *                 └─ table full and this is the longest-waiting: closed to make room
 * ```
 *
 * **Who is dropped at the cap.** A new connection at `maxConnections` takes
 * the place of a waiting one, never a busy one, so a request once read is
 * always answered. Connections that have never completed a request go first,
 * then kept-alive ones that have, each group longest-waiting first. A client
 * that sends its request as it connects (every health checker, Prometheus, a
 * browser) is waiting for one read, so it would have to be the oldest of 64
 * connections within that read to be dropped; a slow client waits for seconds
 * and is always older. With no waiting connection (every slot busy, which
 * answer timeouts bound to seconds) the new one is refused.
 *
 * **Deadlines.** Node checks `headersTimeout` only every
 * `connectionsCheckingInterval` (30 s by default), and restarts the clock at a
 * request's first byte, so a client silent until just before the deadline
 * gets it twice. Node's check runs every {@link ADMIN_SWEEP_MS} here, and one
 * sweep of ours at the same period closes connections whose first request has
 * not arrived within the deadline of being accepted. One timer each for all
 * connections; none per connection.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { capstanError } from '../errors.js';
import { LogLimiter } from '../log-limiter.js';
import type { Logger } from '../logger.js';

/**
 * The admin endpoint's connection limits; every one is a positive integer.
 * @category Metrics
 */
export interface AdminLimits {
  /** Open admin connections. At the cap a new one replaces the longest-waiting idle one, or is refused when none waits. Default 64. */
  maxConnections: number;
  /** Open admin connections from one remote address; more are refused on accept. Default 16. */
  maxConnectionsPerAddress: number;
  /**
   * ms for a request's head (and any body) to arrive: from accepting the
   * connection for its first request, from the request's first byte for later
   * ones on a kept-alive connection. Later: `408 Request Timeout`, closed. Default 5,000.
   */
  headersTimeoutMs: number;
  /** ms a kept-alive connection may stay idle between requests. Default 5,000. */
  keepAliveTimeoutMs: number;
}

/**
 * The admin endpoint's default limits: 64 connections, 16 per address, 5 s
 * for a request's head and 5 s of keep-alive idleness. Frozen.
 * @category Metrics
 */
export const DEFAULT_ADMIN_LIMITS: Readonly<AdminLimits> = Object.freeze({
  maxConnections: 64,
  maxConnectionsPerAddress: 16,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
});

/** How often deadlines are checked, so how late past its deadline a connection may be closed. */
export const ADMIN_SWEEP_MS = 250;

/** Log lines a second about refused, dropped and timed-out admin connections; the rest are counted in a summary line. */
const LOG_LINES_PER_SECOND = 5;

/** Fills in defaults; throws `ERR_INVALID_OPTION` naming the first limit that is not a positive integer. */
export function resolveAdminLimits(given: Partial<AdminLimits> | undefined): AdminLimits {
  const limits = { ...DEFAULT_ADMIN_LIMITS, ...given };
  for (const key of Object.keys(DEFAULT_ADMIN_LIMITS) as (keyof AdminLimits)[]) {
    const v = limits[key];
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw capstanError('ERR_INVALID_OPTION', `admin: limits.${key} must be a positive integer, got ${String(v)}`, { path: `limits.${key}`, actual: v });
    }
  }
  return limits;
}

/** Why a socket was closed on accept. */
export type AdminRefuseReason = 'max-connections' | 'max-per-address';
/** Why an admitted connection was closed by the admin endpoint. */
export type AdminCloseReason = 'evicted' | 'request-timeout' | 'bad-request';

/** The admin endpoint's own connection counters (exposed on its `/metrics`). */
export interface AdminConnectionStats {
  accepted: number;
  active: number;
  refused: Record<AdminRefuseReason, number>;
  closed: Record<AdminCloseReason, number>;
}

interface Tracked {
  readonly address: string;
  /** performance.now() since when no request has been in flight (accept, or the end of the last response). */
  since: number;
  inFlight: number;
  served: number;
}

const REPLIES: Record<number, string> = {
  400: 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
  408: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  431: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
};

/** The `createServer` options that carry these limits (the guard sets the rest on the server). */
export function httpServerOptions(limits: AdminLimits): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // Admin requests carry no body (others get 405), so the whole request gets the head's deadline.
    requestTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: ADMIN_SWEEP_MS,
  };
}

/** Applies `limits` to `server`'s connections; create it before the server listens. */
export class AdminGuard {
  private readonly open = new Map<Socket, Tracked>();
  private readonly perAddress = new Map<string, number>();
  private accepted = 0;
  private readonly refused: Record<AdminRefuseReason, number> = { 'max-connections': 0, 'max-per-address': 0 };
  private readonly closed: Record<AdminCloseReason, number> = { evicted: 0, 'request-timeout': 0, 'bad-request': 0 };
  private readonly budget: LogLimiter;

  constructor(
    server: HttpServer,
    private readonly limits: AdminLimits,
    private readonly logger: Logger,
  ) {
    this.budget = new LogLimiter(logger, LOG_LINES_PER_SECOND, 'admin connection log lines');
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.on('connection', (socket: Socket) => this.admit(socket));
    // Before the route handler, which may answer (and end the response) at once.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.started(req, res));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket as Socket));
    const sweeper = setInterval(() => this.sweep(), ADMIN_SWEEP_MS).unref();
    server.once('close', () => clearInterval(sweeper));
  }

  stats(): AdminConnectionStats {
    return { accepted: this.accepted, active: this.open.size, refused: { ...this.refused }, closed: { ...this.closed } };
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress;
    // Reset by the peer before it was accepted: nothing to admit.
    if (address === undefined) return void socket.destroy();
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.maxConnectionsPerAddress) return this.refuse(socket, 'max-per-address', address, fromAddress);
    if (this.open.size >= this.limits.maxConnections && !this.evictOne()) return this.refuse(socket, 'max-connections', address, fromAddress);
    this.perAddress.set(address, fromAddress + 1);
    this.open.set(socket, { address, since: performance.now(), inFlight: 0, served: 0 });
    this.accepted++;
    socket.once('close', () => this.forget(socket));
  }

  private refuse(socket: Socket, reason: AdminRefuseReason, address: string, fromAddress: number): void {
    this.refused[reason]++;
    socket.resetAndDestroy();
    if (this.budget.allow()) {
      const why =
        reason === 'max-per-address'
          ? `${fromAddress} already open from this address (limits.maxConnectionsPerAddress)`
          : `all ${this.limits.maxConnections} admin connections (limits.maxConnections) have a request in flight`;
      this.logger.warn({ remote: address, reason, fromAddress, open: this.open.size }, `admin connection refused: ${why}`);
    }
  }

  /** Closes the waiting connection to drop first (see the module comment); false when every connection is busy. */
  private evictOne(): boolean {
    let victim: Socket | null = null;
    let v: Tracked | null = null;
    for (const [socket, t] of this.open) {
      if (t.inFlight > 0) continue;
      const first = v === null || (t.served === 0 && v.served > 0) || ((t.served === 0) === (v.served === 0) && t.since < v.since);
      if (first) {
        victim = socket;
        v = t;
      }
    }
    if (victim === null || v === null) return false;
    this.forget(victim);
    victim.destroy();
    this.closed.evicted++;
    if (this.budget.allow()) {
      this.logger.warn(
        { remote: v.address, waitedMs: Math.round(performance.now() - v.since), served: v.served, open: this.open.size },
        `admin connection closed to make room: at limits.maxConnections ${this.limits.maxConnections}, it had waited longest for a request`,
      );
    }
    return true;
  }

  private started(req: IncomingMessage, res: ServerResponse): void {
    const t = this.open.get(req.socket as Socket);
    if (t === undefined) return;
    t.inFlight++;
    res.once('close', () => {
      t.inFlight--;
      t.served++;
      t.since = performance.now();
    });
  }

  /** Node's own deadline checks and parse errors arrive here; this replaces its default reply so they are counted. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    this.reject(socket, timeout ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, timeout ? 'request-timeout' : 'bad-request', err.code);
  }

  /** Answers `status` unless a response is already under way on the socket (its bytes would be corrupted), and closes. */
  private reject(socket: Socket, status: number, reason: AdminCloseReason, code?: string): void {
    const t = this.open.get(socket);
    if (socket.writable && (t === undefined || t.inFlight === 0)) socket.write(REPLIES[status] as string);
    // Out of the table now, so its slot is free for the next accept without waiting for 'close'.
    this.forget(socket);
    socket.destroy();
    this.closed[reason]++;
    if (this.budget.allow()) {
      this.logger.warn(
        { remote: t?.address ?? socket.remoteAddress, reason, code, status },
        reason === 'request-timeout' ? `admin request closed: its headers were not in within limits.headersTimeoutMs ${this.limits.headersTimeoutMs}` : 'admin request closed: malformed or oversized request head',
      );
    }
  }

  /** Requests decide how often the endpoint logs too, so their lines share the connections' budget. */
  allowLog(kind: string): boolean {
    return this.budget.allow(kind);
  }

  private sweep(): void {
    const deadline = performance.now() - this.limits.headersTimeoutMs;
    for (const [socket, t] of this.open) {
      // Later requests are Node's to time, from their first byte, which only its parser sees.
      if (t.served === 0 && t.inFlight === 0 && t.since <= deadline) this.reject(socket, 408, 'request-timeout');
    }
    this.budget.flush();
  }

  private forget(socket: Socket): void {
    const t = this.open.get(socket);
    if (t === undefined) return;
    this.open.delete(socket);
    const n = (this.perAddress.get(t.address) ?? 1) - 1;
    if (n === 0) this.perAddress.delete(t.address);
    else this.perAddress.set(t.address, n);
  }
}
