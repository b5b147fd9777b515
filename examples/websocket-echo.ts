/**
 * WebSocket echo: every message on ws://127.0.0.1:7080/echo comes back with
 * its own type (text as text, binary as binary); a plain `GET /healthz`
 * answers `ok`; other requests, and upgrades to other paths, get 404. Each
 * close is printed with its code and typed cause; on Ctrl-C open sockets get
 * close 1001 and five seconds to answer it.
 *
 *   npx tsc -p . && node dist/examples/websocket-echo.js [port]      (default 7080; 0 picks a free port)
 *
 * Then, in another terminal (the `ws` client is a dev dependency):
 *
 *   node -e "const c = new (require('ws'))('ws://127.0.0.1:7080/echo'); c.on('open', () => c.send('hello')); c.on('message', (m) => { console.log(String(m)); c.close(); })"
 *   node -e "require('http').get('http://127.0.0.1:7080/healthz', (r) => r.pipe(process.stdout))"
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { listen, websocket } from '../src/index.js';

const server = await listen({
  port: Number(process.argv[2] ?? 7080),
  websocket: websocket({
    endpoints: [
      {
        path: '/echo',
        // Bounds have safe defaults (1 MiB messages, a ping after 30 s of silence); these are tighter.
        maxMessageBytes: 64 * 1024,
        pingIntervalMs: 20_000,
        handler: {
          message(ws, data, isBinary) {
            ws.send(data, isBinary);
          },
          close(_ws, code, reason, cause) {
            console.log(`closed ${code}${reason === '' ? '' : ` "${reason}"`} (${cause})`);
          },
        },
      },
    ],
    request(req) {
      return req.path === '/healthz' ? { body: 'ok\n' } : { status: 404, body: 'try ws://…/echo or GET /healthz\n' };
    },
  }),
});

const a = server.address as { host: string; port: number };
console.log(`websocket-echo listening on ws://${a.host}:${a.port}/echo`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.close({ graceMs: 5_000 }).then(() => process.exit(0)));
}
