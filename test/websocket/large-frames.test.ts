/**
 * Frames over the batch's copy limit get their header in the shared outbound
 * slab and their payload appended by reference. When the slab has fewer bytes
 * left than a header needs, the header must go into the new slab, not past the
 * end of the old one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger } from '../../src/index.js';
import { websocket } from '../../src/websocket/server.js';
import { rawConnect } from '../support/net.js';
import { frame, parseFrames, upgradeRequest } from './support.js';

const PAIRS = 2_000;
const ROUNDS = 40;
const BIG = 1_025;

/** The size of the i-th small frame: 0 to 6 bytes, so the slab's remainder lands on every residue near its end. */
const small = (i: number) => (i * 5 + (i >> 3)) % 7;

it('keeps every frame intact while small copied frames and large appended ones cross many slab ends', async () => {
  const big = Buffer.alloc(BIG, 0xab);
  const smalls = Array.from({ length: 7 }, (_, n) => Buffer.alloc(n, 0x30 + n));
  const ws = websocket({
    path: '/',
    handler: {
      message(s) {
        for (let i = 0; i < PAIRS; i++) {
          s.send(big);
          s.send(smalls[small(i)] as Buffer);
        }
      },
    },
  });
  const server = await listen({ port: 0, logger: silentLogger, websocket: ws });
  try {
    const peer = await rawConnect({ port: (server.address as { port: number }).port, host: '127.0.0.1', allowHalfOpen: false });
    let head = true;
    let rest: Buffer = Buffer.alloc(0);
    let seen = 0;
    let bad = '';
    let roundDone: () => void = () => {};
    peer.socket.removeAllListeners('data');
    peer.socket.on('data', (d: Buffer) => {
      let bytes: Buffer = rest.length === 0 ? d : Buffer.concat([rest, d]);
      if (head) {
        const end = bytes.indexOf('\r\n\r\n');
        if (end < 0) return void (rest = bytes);
        head = false;
        bytes = bytes.subarray(end + 4);
      }
      const parsed = parseFrames(bytes);
      rest = Buffer.from(parsed.rest);
      for (const f of parsed.frames) {
        const k = seen++ % (2 * PAIRS);
        const i = k >> 1;
        const want = k % 2 === 0 ? big : (smalls[small(i)] as Buffer);
        if (bad === '' && (f.op !== 2 || !f.fin || !f.payload.equals(want))) bad = `frame ${seen - 1}: op ${f.op}, ${f.payload.length} bytes, expected ${want.length}`;
      }
      if (seen % (2 * PAIRS) === 0) roundDone();
    });
    peer.socket.write(upgradeRequest('/'));
    for (let r = 0; r < ROUNDS && bad === ''; r++) {
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`round ${r}: ${seen} frames after 30 s`)), 30_000);
        roundDone = () => (clearTimeout(timer), resolve());
      });
      peer.socket.write(frame({ op: 1, payload: 'go' }));
      await done;
    }
    assert.equal(bad, '');
    assert.equal(seen, ROUNDS * 2 * PAIRS);
    peer.socket.destroy();
  } finally {
    await server.close();
  }
});
