/**
 * The memory a message compressed or inflated on its own (no context
 * takeover) keeps: a buffer about its own size, not a 16 KiB zlib chunk,
 * both for what goes on the wire and for what a handler is given and may
 * keep. Round trips at every size around the chunk bounds stay exact.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { listen, silentLogger, websocket, type Server } from '../../src/index.js';
import { resolveDeflateOptions } from '../../src/websocket/deflate-options.js';
import { deflateMessage, deflateSettings, inflateMessage } from '../../src/websocket/deflate.js';
import { compress, inflate } from './deflate-support.js';
import { frame, wsConnect, type WireFrame } from './support.js';
import { portOf } from '../support/net.js';

const NO_WINDOWS = { noContextTakeover: true, windowBits: 15 };
const settings = deflateSettings({ out: NO_WINDOWS, in: NO_WINDOWS, header: 'permessage-deflate' }, resolveDeflateOptions({ threshold: 0 }, 'perMessageDeflate', 'test') as NonNullable<ReturnType<typeof resolveDeflateOptions>>);
const ZLIB_CHUNK = 16 * 1024;

/** A JSON-like message of about `n` bytes: compressible as real traffic is. */
function jsonish(n: number, seed: number): Buffer {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"id":${seed * 1000 + i},"price":${(seed * 7 + i * 13) % 997}.${i % 100},"side":"${i % 3 === 0 ? 'buy' : 'sell'}"},`;
  return Buffer.from(s.slice(0, n));
}

describe('a message compressed on its own', () => {
  it('round-trips exactly at every size from empty to past the 16 KiB chunk, random or compressible', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40_000 }), fc.boolean(), fc.integer({ min: 0, max: 1000 }), (n, random, seed) => {
        const plain = random ? Buffer.from(Array.from({ length: n }, (_, i) => (i * 2654435761 + seed * 40503) >>> 24)) : jsonish(n, seed);
        const wire = deflateMessage(plain, settings);
        assert.deepEqual(inflate(wire), plain, 'a peer inflates what we compressed');
        const back = inflateMessage(compress(plain), settings, 1 << 20);
        assert.ok(Buffer.isBuffer(back));
        assert.deepEqual(back, plain, 'we inflate what a peer compressed');
      }),
      { numRuns: 150 },
    );
  });

  it('is carried in a buffer of about its own size both ways, where zlib would use a 16 KiB chunk', () => {
    for (const n of [1024, 1200, 3000, 6000, 12_000]) {
      const plain = jsonish(n, n);
      const wire = deflateMessage(plain, settings);
      // Small chunks come from Node's shared pool (Buffer.poolSize), larger ones are their own.
      const wireStore = wire.buffer.byteLength;
      assert.ok(wireStore <= Math.max(Buffer.poolSize, n + (n >> 10) + 64), `a ${n}-byte message went out as ${wire.length} bytes held in ${wireStore}`);
      const inflated = inflateMessage(compress(plain), settings, 1 << 20) as Buffer;
      const inStore = inflated.buffer.byteLength;
      assert.ok(inStore < ZLIB_CHUNK && inStore <= Math.max(Buffer.poolSize, 4 * compress(plain).length, n), `a ${n}-byte message was inflated into ${inStore} bytes`);
    }
  });
});

describe('a message a handler keeps, with no context takeover', () => {
  const servers: Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('holds about its own size, not a 16 KiB chunk, and its echo is exact', async () => {
    const kept: Buffer[] = [];
    const server = await listen({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger,
      websocket: websocket({
        perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true },
        handler: {
          message(ws, data, isBinary) {
            kept.push(data);
            ws.send(data, isBinary);
          },
        },
      }),
    });
    servers.push(server);
    const c = await wsConnect(portOf(server), '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' });
    const msgs = [1100, 1500, 2500, 6000].map((n) => jsonish(n, n));
    for (const m of msgs) c.send(frame({ op: 1, rsv: 0x40, payload: compress(m) }));
    const echoes = await c.frames(msgs.length);
    assert.deepEqual(
      echoes.map((f: WireFrame) => inflate(f.payload).toString()),
      msgs.map((m) => m.toString()),
    );
    assert.equal(kept.length, msgs.length);
    for (const k of kept) assert.ok(k.buffer.byteLength < ZLIB_CHUNK && k.buffer.byteLength <= Math.max(Buffer.poolSize, 4 * k.length), `a kept ${k.length}-byte message holds ${k.buffer.byteLength} bytes`);
    c.peer.socket.destroy();
  });
});
