import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, lengthPrefixed, raw, silentLogger, type Codec, type Decoder } from '../../src/index.js';
import { lp4, portOf, rawConnect } from '../support/net.js';

/** A minimal newline codec for this test (the real line codec lives in codecs/). */
function newline(): Codec {
  const decoder: Decoder = {
    decode(q) {
      const i = q.indexOf(Buffer.from('\n'));
      if (i === -1) return undefined;
      const line = q.take(i);
      q.skip(1);
      return line;
    },
  };
  const codec: Codec = {
    name: 'newline',
    maxFrameBytes: 1024,
    decoder: () => decoder,
    encoder: () => ({ encode: (f, out) => (out.append(f), out.append(Buffer.from('\n'))) }),
    withMaxFrameBytes: () => codec,
  };
  return codec;
}

describe('protocol upgrade', () => {
  it('switches a connection from lines to length-prefixed frames mid-stream, bytes already received included', async () => {
    const server = await listen({
      port: 0,
      codec: newline(),
      logger: silentLogger,
      handler: {
        message(conn, frame) {
          if (conn.codecName === 'newline') {
            if (frame.toString() === 'UPGRADE lp4') {
              conn.send('OK switching');
              conn.setCodec(lengthPrefixed());
              return;
            }
            conn.send(`line: ${frame.toString()}`);
            return;
          }
          conn.send(Buffer.concat([Buffer.from('frame: '), frame]));
        },
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    // The framed bytes travel in the same packet as the upgrade line: the new codec must decode them.
    peer.socket.write(Buffer.concat([Buffer.from('hello\nUPGRADE lp4\n'), lp4('binary\n\0data'), lp4('two')]));
    const expected = Buffer.concat([
      Buffer.from('line: hello\nOK switching\n'),
      lp4(Buffer.from('frame: binary\n\0data')),
      lp4('frame: two'),
    ]);
    const got = await peer.waitBytes(expected.length);
    assert.deepEqual(got, expected);
    peer.socket.end();
    await server.close();
  });

  it('keeps frames encoded before the switch in the old framing', async () => {
    const server = await listen({
      port: 0,
      codec: lengthPrefixed(),
      logger: silentLogger,
      handler: {
        message(conn) {
          conn.send('before');
          conn.setCodec(raw());
          conn.send('after');
        },
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(lp4('go'));
    const expected = Buffer.concat([lp4('before'), Buffer.from('after')]);
    assert.deepEqual(await peer.waitBytes(expected.length), expected);
    peer.socket.end();
    await server.close();
  });

  it('bounds the new codec by the listener maxFrameBytes', async () => {
    let reason = '';
    const server = await listen({
      port: 0,
      codec: newline(),
      logger: silentLogger,
      limits: { maxFrameBytes: 100 },
      handler: {
        message(conn) {
          if (conn.codecName === 'newline') conn.setCodec(lengthPrefixed());
        },
        close: (_c, r) => void (reason = r),
      },
    });
    const peer = await rawConnect({ port: portOf(server) });
    peer.socket.write(Buffer.concat([Buffer.from('UPGRADE\n'), lp4(Buffer.alloc(200))]));
    assert.equal(await peer.ended, 'end');
    peer.socket.end();
    await peer.closed;
    await server.close();
    assert.equal(reason, 'frame-too-large');
  });
});
