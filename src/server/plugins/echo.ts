/**
 * The built-in `echo` plugin: every frame goes back to its sender, framed by
 * the listener's codec; on a udp listener every datagram (or record) goes back
 * to the peer that sent it; on a WebSocket endpoint every message goes back
 * with its own opcode (text as text, binary as binary). The default config
 * serves it on every listener, and it is the reference peer for `capstan load`
 * and the benchmarks.
 */
import { Type } from '@sinclair/typebox';
import { definePlugin } from '../plugin.js';

export default definePlugin({
  name: 'echo',
  options: Type.Object({}, { additionalProperties: false }),
  handler: () => ({
    message(conn, frame) {
      conn.send(frame);
    },
  }),
  datagramHandler: () => ({
    message(session, datagram) {
      session.send(datagram);
    },
  }),
  websocket: () => ({
    message(ws, data, isBinary) {
      ws.send(data, isBinary);
    },
  }),
});
