/**
 * Line chat: every line a client sends goes to every other client. Shows the
 * handler lifecycle, broadcast over `server.connections()`, and limits.
 *
 *   node dist/examples/chat.js [port]   (default 7002; 0 picks a free port)
 *   then, in two terminals: nc 127.0.0.1 7002
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { lines, listen } from '../src/index.js';

const server = await listen({
  port: Number(process.argv[2] ?? 7002),
  codec: lines({ maxLineBytes: 4096 }),
  handler: {
    open(conn) {
      conn.send('welcome');
    },
    message(conn, line) {
      for (const other of server.connections()) if (other !== conn) other.send(line);
    },
    close(conn, reason) {
      console.log(`${conn.remoteAddress} left: ${reason}`);
    },
  },
  limits: { maxConnections: 50_000, idleTimeoutMs: 60_000 },
});
console.log(`chat listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
