/**
 * Raw TCP echo: every byte read is written back, no framing.
 *
 *   node dist/examples/raw-echo.js [port]      (default 7000; 0 picks a free port)
 *   node -e "const s=require('net').connect(7000,'127.0.0.1',()=>s.end('hello'));s.pipe(process.stdout)"
 *
 * The client sends `hello`, ends its side, prints the echo and exits once the
 * server has answered and closed (netcat fed by a pipe waits for good on some systems).
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { listen, raw } from '../src/index.js';

const server = await listen({
  port: Number(process.argv[2] ?? 7000),
  codec: raw(),
  handler: {
    message(conn, chunk) {
      conn.send(chunk);
    },
  },
});

console.log(`raw-echo listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
