/**
 * Line echo: reads lines ending in LF or CRLF, answers each with the same line
 * and CRLF; `QUIT` says goodbye and ends the connection.
 *
 *   node dist/examples/line-echo.js [port]      (default 7000; 0 picks a free port)
 *   nc 127.0.0.1 7000          (type lines; QUIT ends the session)
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { lines, listen } from '../src/index.js';

const server = await listen({
  port: Number(process.argv[2] ?? 7000),
  // Longer lines close the connection; `onOversize: 'discard'` would skip them instead.
  codec: lines({ maxLineBytes: 8192 }),
  handler: {
    message(conn, line) {
      if (line.toString() === 'QUIT') {
        conn.send('BYE');
        conn.end();
        return;
      }
      conn.send(line);
    },
  },
});

console.log(`line-echo listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
