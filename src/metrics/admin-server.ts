/**
 * The admin endpoint: a small HTTP server, on 127.0.0.1:9100 by default.
 *
 * | path          | answers                                                        | token |
 * |---------------|----------------------------------------------------------------|-------|
 * | `/`           | the live dashboard (page and its scripts, shipped in the package) | no  |
 * | `/metrics`    | Prometheus text format, with HELP and TYPE                     | yes   |
 * | `/stats.json` | the {@link ServerSnapshot} as JSON                             | yes   |
 * | `/healthz`    | 200 `ok` while the process serves                              | no    |
 * | `/readyz`     | 200 `ready`, or 503 `draining` while the server shuts down or reloads | no |
 *
 * With a `token`, data paths need `Authorization: Bearer <token>`; the
 * dashboard page carries no data and reads the token from the URL fragment
 * (`/#token=…`, never sent to the server or written to logs) to send it along.
 * Health checks stay open so a load balancer needs no secret.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { capstanError } from '../errors.js';
import { defaultLogger, type Logger } from '../logger.js';
import { dashboardAsset } from './dashboard/assets.js';
import { createExposition } from './prometheus.js';
import type { ServerSnapshot } from './snapshot.js';

/** Where the admin server gets its numbers; the application server provides it. */
export interface StatsSource {
  /** The current snapshot of every worker, combined. */
  snapshot(): Promise<ServerSnapshot>;
  /** False while draining: `/readyz` answers 503. */
  ready(): boolean;
}

export interface AdminServer {
  readonly address: { host: string; port: number };
  /** Stops listening and closes open admin connections. */
  close(): Promise<void>;
}

export interface AdminServerOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one. Default 9100. */
  port?: number;
  /** Bearer token required on `/metrics` and `/stats.json` when set (the application server requires one off loopback). */
  token?: string;
  source: StatsSource;
  /** Default: pino on stderr at `warn`. */
  logger?: Logger;
}

export const DEFAULT_ADMIN_PORT = 9100;

/** Starts the admin endpoint. Rejects with `ERR_INVALID_OPTION` or `ERR_LISTEN_FAILED`. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_ADMIN_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw capstanError('ERR_INVALID_OPTION', `admin: port must be an integer from 0 to 65535, got ${String(port)}`, { path: 'port', actual: port });
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length === 0)) {
    throw capstanError('ERR_INVALID_OPTION', 'admin: token must be a non-empty string (or left out)', { path: 'token' });
  }
  const logger = (options.logger ?? defaultLogger()).child({ component: 'admin' });
  if (options.token === undefined && !isLoopback(host)) {
    logger.warn({ host }, 'admin endpoint bound off loopback without a token: anyone who can reach it can read the counters');
  }
  const handle = requestHandler(options.source, options.token, logger);
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.warn({ err, url: req.url }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(capstanError('ERR_LISTEN_FAILED', `admin: cannot bind ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the address is in use: choose another admin port' : err.message}`, { cause: err })),
    );
    server.listen({ host, port }, resolve);
  });
  server.on('error', (err) => logger.warn({ err }, 'admin server error'));
  const a = server.address();
  const address = typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host, port };
  logger.info({ ...address }, 'admin endpoint listening');
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function requestHandler(source: StatsSource, token: string | undefined, logger: Logger) {
  const exposition = createExposition();
  const expected = token === undefined ? null : Buffer.from(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    switch (path) {
      case '/healthz':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz':
        return source.ready() ? send(res, 200, 'text/plain; charset=utf-8', 'ready\n') : send(res, 503, 'text/plain; charset=utf-8', 'draining\n');
      case '/metrics':
      case '/stats.json': {
        if (expected !== null && !authorized(req, expected)) {
          logger.debug({ path, remote: req.socket.remoteAddress }, 'admin request without a valid token');
          res.setHeader('WWW-Authenticate', 'Bearer realm="capstan"');
          return send(res, 401, 'text/plain; charset=utf-8', 'a valid bearer token is required (Authorization: Bearer <token>)\n');
        }
        const snapshot = await source.snapshot();
        if (path === '/metrics') return send(res, 200, exposition.contentType, await exposition.render(snapshot));
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(snapshot));
      }
      default: {
        const asset = dashboardAsset(path);
        if (asset === undefined) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
        return send(res, 200, asset.type, asset.body);
      }
    }
  };
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const given = Buffer.from(req.headers.authorization ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
