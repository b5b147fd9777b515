/**
 * Length-prefixed echo: each message is a 4-byte big-endian length, then that
 * many bytes; each one is sent back as it came. Pair it with examples/client.ts.
 *
 *   node dist/examples/length-prefixed-echo.js [port]   (default 7000; 0 picks a free port)
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { lengthPrefixed, listen } from '../src/index.js';

const server = await listen({
  port: Number(process.argv[2] ?? 7000),
  codec: lengthPrefixed({ lengthBytes: 4 }),
  handler: {
    message(conn, frame) {
      conn.send(frame);
    },
  },
  // A peer announcing a bigger message is closed with `frame-too-large`.
  limits: { maxFrameBytes: 1024 * 1024, idleTimeoutMs: 60_000 },
});

console.log(`length-prefixed-echo listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
