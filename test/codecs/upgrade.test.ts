import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lengthPrefixed, lines, listen, silentLogger } from '../../src/index.js';
import { lp4, portOf, rawConnect } from '../support/net.js';

describe('setCodec protocol upgrade', () => {
  it('decodes bytes already received after the switch with the new codec, and encodes replies with it', async (t) => {
    const server = await listen({
      port: 0,
      codec: lines(),
      logger: silentLogger,
      handler: {
        message(conn, frame) {
          if (conn.codecName === 'line' && frame.toString() === 'BINARY') {
            conn.send('OK'); // still a line: encoded before the switch
            conn.setCodec(lengthPrefixed({ maxFrameBytes: 1024 }));
            return;
          }
          conn.send(frame);
        },
      },
    });
    t.after(() => server.close({ graceMs: 1000 }));
    const peer = await rawConnect({ port: portOf(server) });
    t.after(() => peer.socket.destroy());
    // One write: the length-prefixed frames arrive in the same read as the upgrade line.
    peer.socket.write(Buffer.concat([Buffer.from('hello\r\nBINARY\n'), lp4('bin1'), lp4('')]));
    const want = Buffer.concat([Buffer.from('hello\r\nOK\r\n'), lp4('bin1'), lp4('')]);
    assert.deepEqual(await peer.waitBytes(want.length, 30_000), want);
  });
});
