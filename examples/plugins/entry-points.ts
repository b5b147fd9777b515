/**
 * An example plugin that uses every entry point and logs each call, to show
 * the order the server calls them in. Run it with
 *
 *   npx tsc -p . && node dist/src/cli.js serve --config examples/plugins/capstan.yaml
 *
 * then talk to it with any line client (`nc 127.0.0.1 7100`):
 *
 *   ECHO text   → text
 *   HASH text   → a slow hash of text, computed on the `cpu` thread pool
 *   QUIT        → bye, and the server ends the connection
 *
 * The log (stderr, one JSON line each) shows the calls: codec, setup, handler
 * at start; open, message…, drain, end, close per connection; shutdown per
 * connection and teardown when the server stops or a reload removes the listener.
 *
 * In your own project, import from 'capstan' instead of '../../src/index.js'.
 * `Type` comes from capstan too: a second copy of @sinclair/typebox would not
 * type-check against `definePlugin`.
 */
import { definePlugin, lines, Type } from '../../src/index.js';

interface Session {
  messages: number;
}

export default definePlugin({
  name: 'entry-points',

  // Checked before anything binds; defaults are filled in.
  options: Type.Object(
    {
      greeting: Type.String({ default: 'hello from capstan' }),
      farewell: Type.String({ default: 'server shutting down, bye' }),
      maxLineBytes: Type.Integer({ minimum: 16, default: 4096 }),
    },
    { additionalProperties: false },
  ),

  // The framing when the listener's config names no codec: text lines.
  codec(options) {
    // Called when the config is checked and again when the listener starts; it has no logger of its own.
    console.error(JSON.stringify({ plugin: 'entry-points', call: 'codec' }));
    return lines({ maxFrameBytes: options.maxLineBytes });
  },

  // Once per listener, before it binds; may be async.
  async setup(ctx) {
    ctx.logger.info({ call: 'setup', options: ctx.options, worker: ctx.worker }, 'setup');
  },

  // The connection handler, built once per listener after setup.
  handler(ctx) {
    const log = ctx.logger;
    log.info({ call: 'handler' }, 'handler');
    const hashTask = new URL('./hash-task.js', import.meta.url);
    return {
      open(conn) {
        conn.data = { messages: 0 } satisfies Session;
        log.info({ call: 'open', conn: conn.id }, 'open');
        conn.send(Buffer.from(ctx.options.greeting));
      },
      message(conn, frame) {
        const session = conn.data as Session;
        session.messages++;
        const line = frame.toString('utf8');
        log.info({ call: 'message', conn: conn.id, line }, 'message');
        const [command = '', ...rest] = line.split(' ');
        const text = rest.join(' ');
        switch (command.toUpperCase()) {
          case 'ECHO':
            conn.send(Buffer.from(text));
            break;
          case 'HASH':
            // Off the event loop: other connections keep being served while it runs.
            ctx.threads.run<string>(hashTask, { text }, { pool: 'cpu', signal: ctx.signal }).then(
              (hex) => conn.send(Buffer.from(hex)),
              (err: Error) => conn.send(Buffer.from(`ERR ${err.message}`)),
            );
            break;
          case 'QUIT':
            conn.send(Buffer.from('bye'));
            conn.end();
            break;
          default:
            conn.send(Buffer.from(`ERR unknown command ${JSON.stringify(command)}; try ECHO, HASH or QUIT`));
        }
      },
      drain(conn) {
        log.info({ call: 'drain', conn: conn.id }, 'drain');
      },
      end(conn) {
        log.info({ call: 'end', conn: conn.id }, 'end');
        conn.end();
      },
      // The server is stopping (or a reload removed this listener): say goodbye, then end.
      shutdown(conn) {
        log.info({ call: 'shutdown', conn: conn.id }, 'shutdown');
        conn.send(Buffer.from(ctx.options.farewell));
        conn.end();
      },
      close(conn, reason) {
        log.info({ call: 'close', conn: conn.id, reason, messages: (conn.data as Session | undefined)?.messages ?? 0 }, 'close');
      },
    };
  },

  // Once per listener, after its last connection closed.
  async teardown(ctx) {
    ctx.logger.info({ call: 'teardown' }, 'teardown');
  },
});
