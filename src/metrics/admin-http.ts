/**
 * The admin endpoint's HTTP side: routes, the bearer token, Prometheus and JSON
 * rendering. It runs on the admin thread (see admin-server.ts) and reaches the
 * serving thread only through an {@link AdminBackend}.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../logger.js';
import { AdminGuard, httpServerOptions, type AdminLimits } from './admin-guard.js';
import { dashboardAsset } from './dashboard/assets.js';
import { createExposition } from './prometheus.js';
import type { ServerSnapshot } from './snapshot.js';

/** What the HTTP side asks of the process it reports on; every call crosses to the serving thread. */
export interface AdminBackend {
  /** The current {@link ServerSnapshot} as JSON text (served as it is on `/stats.json`). */
  snapshotJson(): Promise<string>;
  /** The dashboard's history after sample number `after` (see admin-history.ts), or null when none is kept. */
  historyJson: ((after: number) => string) | null;
  ready(): Promise<boolean>;
  /** Resolves when the serving thread's event loop answers (a liveness check). */
  ping(): Promise<void>;
}

export interface AdminHttpOptions {
  host: string;
  port: number;
  token?: string | undefined;
  limits: AdminLimits;
}

/** Why binding failed, in words an operator can act on. */
export class AdminBindError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Binds the admin HTTP server; rejects with {@link AdminBindError}. */
export async function serveAdminHttp(o: AdminHttpOptions, backend: AdminBackend, logger: Logger): Promise<{ server: HttpServer; host: string; port: number }> {
  const server = createServer(httpServerOptions(o.limits));
  const guard = new AdminGuard(server, o.limits, logger);
  const handle = requestHandler(backend, o.token, logger, guard);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (guard.allowLog('request-failed')) logger.warn({ err, url: req.url }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new AdminBindError(`admin: cannot bind ${o.host}:${o.port}: ${err.code === 'EADDRINUSE' ? 'the address is in use: choose another admin port' : err.message}`, err.code)),
    );
    server.listen({ host: o.host, port: o.port }, resolve);
  });
  server.on('error', (err) => logger.warn({ err }, 'admin server error'));
  const a = server.address();
  return typeof a === 'object' && a !== null ? { server, host: a.address, port: a.port } : { server, host: o.host, port: o.port };
}

function requestHandler(backend: AdminBackend, token: string | undefined, logger: Logger, guard: AdminGuard) {
  const exposition = createExposition();
  const expected = token === undefined ? null : Buffer.from(`Bearer ${token}`);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    switch (path) {
      case '/healthz':
        try {
          await backend.ping();
        } catch (err) {
          if (guard.allowLog('health-check')) logger.warn({ err }, 'health check: the serving thread did not answer');
          return send(res, 503, 'text/plain; charset=utf-8', 'event loop not responding\n');
        }
        return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz': {
        let ready: boolean;
        try {
          ready = await backend.ready();
        } catch (err) {
          // Already logged on the serving thread when its check threw; a timeout is logged here.
          if (guard.allowLog('readiness-check')) logger.warn({ err }, 'readiness check failed');
          return send(res, 503, 'text/plain; charset=utf-8', `not ready: ${(err as Error).message}\n`);
        }
        return ready ? send(res, 200, 'text/plain; charset=utf-8', 'ready\n') : send(res, 503, 'text/plain; charset=utf-8', 'draining\n');
      }
      case '/metrics':
      case '/stats.json':
      case '/stats/history.json': {
        if (expected !== null && !authorized(req, expected)) {
          // RFC 6750 §3.1: no credentials get the bare challenge; credentials that fail get error="invalid_token".
          const given = req.headers.authorization !== undefined;
          logger.debug({ path, remote: req.socket.remoteAddress, given }, given ? 'admin request with a wrong token' : 'admin request without a token');
          res.setHeader('WWW-Authenticate', given ? 'Bearer realm="capstan", error="invalid_token"' : 'Bearer realm="capstan"');
          const why = given ? 'the bearer token was rejected' : 'a bearer token is required';
          return send(res, 401, 'text/plain; charset=utf-8', `${why} (Authorization: Bearer <token>)\n`);
        }
        if (path === '/stats/history.json') {
          if (backend.historyJson === null) return send(res, 404, 'text/plain; charset=utf-8', 'no history is kept (the admin server was started with history: false)\n');
          const after = Number(url.searchParams.get('after') ?? 0);
          return send(res, 200, 'application/json; charset=utf-8', backend.historyJson(Number.isFinite(after) ? after : 0));
        }
        const json = await backend.snapshotJson();
        if (path === '/metrics') return send(res, 200, exposition.contentType, await exposition.render(JSON.parse(json) as ServerSnapshot, guard.stats()));
        return send(res, 200, 'application/json; charset=utf-8', json);
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
