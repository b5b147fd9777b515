/**
 * A plugin that logs the ways pino users write: a bare message, printf-style
 * arguments, fields then a message, an Error, and every level. The logger test
 * compiles it against Capstan's `Logger` and runs it in a real runtime.
 */
import { definePlugin } from '../../src/index.js';

export default definePlugin({
  name: 'pino-style',
  setup(ctx) {
    ctx.logger.info('setup done');
    ctx.logger.debug('listener %s on worker %s', ctx.listener.name, ctx.worker);
    ctx.logger.trace({ step: 1 }, 'fields then a message');
  },
  handler(ctx) {
    return {
      message(conn, frame) {
        const text = frame.toString('utf8');
        if (text === 'throw') throw new Error('thrown on purpose');
        ctx.logger.warn({ conn: conn.id }, 'got %d bytes', frame.length);
        conn.send(frame);
      },
    };
  },
  teardown(ctx) {
    ctx.logger.error(new Error('an error as the first argument'));
    ctx.logger.fatal('teardown at level %s', ctx.logger.level);
  },
});
