/**
 * A client for examples/length-prefixed-echo.ts: sends N messages one at a
 * time, prints each round trip, and exits 0 when every reply matched.
 *
 *   node dist/examples/client.js [port] [count]   (defaults 7000 and 5)
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { connect, lengthPrefixed } from '../src/index.js';

const port = Number(process.argv[2] ?? 7000);
const count = Number(process.argv[3] ?? 5);
let sent = 0;
let sentAt = 0;
let done!: (ok: boolean) => void;
const finished = new Promise<boolean>((resolve) => (done = resolve));

function sendNext(): void {
  sent++;
  sentAt = performance.now();
  client.send(`message ${sent}`);
}

const client = await connect({
  port,
  codec: lengthPrefixed({ lengthBytes: 4 }),
  handler: {
    message(_conn, reply) {
      const micros = Math.round((performance.now() - sentAt) * 1000);
      const ok = reply.toString() === `message ${sent}`;
      console.log(`round trip ${sent}/${count}: ${micros} µs${ok ? '' : ` (unexpected reply ${JSON.stringify(reply.toString())})`}`);
      if (!ok || sent === count) done(ok);
      else sendNext();
    },
    close(_conn, reason) {
      if (sent < count) console.error(`connection closed early: ${reason}`);
      done(false);
    },
  },
}).catch((err: Error & { code?: string }) => {
  // ERR_CONNECT_FAILED or ERR_CONNECT_TIMEOUT: say so plainly, no stack trace.
  console.error(`${err.code ?? 'error'}: ${err.message}`);
  process.exit(1);
});

if (count > 0) sendNext();
else done(true);
const ok = await finished;
await client.close();
process.exit(ok ? 0 : 1);
