/**
 * A small Redis-like key-value server over text lines (LF or CRLF in, CRLF out):
 *
 *   SET key value   → OK            (the value is the rest of the line, spaces included)
 *   GET key         → value, or (nil)
 *   DEL key         → 1 if it was there, else 0
 *   anything else   → ERR …         (the connection stays open)
 *
 * Run it, talk to it, and load it (from a checkout, after `npm run build`; with
 * the package installed, `npx capstan load` is the same as `node dist/src/cli.js load`):
 *
 *   node dist/examples/kv-server.js 7730      (default 7730; 0 picks a free port)
 *   nc 127.0.0.1 7730                         (then type SET a 1, GET a, DEL a)
 *   node dist/src/cli.js load tcp://127.0.0.1:7730 --mode request \
 *     --request 'SET key{{key:1000}} v{{n}}' --request 'GET key{{key:1000}}' \
 *     --expect-match '^(OK|v[0-9]+|\(nil\))$' -c 50 --depth 8 -d 10
 *
 * Each connection alternates a SET of one of 1,000 keys and a GET of one, eight
 * in flight; every reply must be OK, a value or (nil), or it counts as an error.
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { lines, listen, type Connection } from '../src/index.js';

/** Bounds the memory a client can make the server hold. */
const MAX_KEYS = 1_000_000;
const store = new Map<string, string>();

function execute(line: string): string {
  const sp = line.indexOf(' ');
  const command = (sp === -1 ? line : line.slice(0, sp)).toUpperCase();
  const rest = sp === -1 ? '' : line.slice(sp + 1);
  const sp2 = rest.indexOf(' ');
  const key = sp2 === -1 ? rest : rest.slice(0, sp2);
  switch (command) {
    case 'SET':
      if (key === '' || sp2 === -1) return "ERR wrong number of arguments for 'SET' (SET key value)";
      if (store.size >= MAX_KEYS && !store.has(key)) return `ERR the store is full (${MAX_KEYS} keys)`;
      store.set(key, rest.slice(sp2 + 1));
      return 'OK';
    case 'GET':
      if (key === '' || sp2 !== -1) return "ERR wrong number of arguments for 'GET' (GET key)";
      return store.get(key) ?? '(nil)';
    case 'DEL':
      if (key === '' || sp2 !== -1) return "ERR wrong number of arguments for 'DEL' (DEL key)";
      return store.delete(key) ? '1' : '0';
    default:
      return `ERR unknown command '${command.slice(0, 32)}'`;
  }
}

const server = await listen({
  port: Number(process.argv[2] ?? 7730),
  codec: lines({ maxLineBytes: 64 * 1024 }),
  handler: {
    message(conn: Connection, line: Buffer) {
      // The frame is a view into the read buffer; the string is a copy the store may keep.
      conn.send(execute(line.toString()));
    },
  },
  limits: { maxConnections: 10_000, idleTimeoutMs: 300_000 },
});

console.log(`kv-server listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
