/**
 * permessage-deflate under random input: the decoder at every chunk boundary
 * of compressed, fragmented messages, and random message sequences from
 * Capstan's client to its server and back, with random settings, through a
 * relay that cuts the byte stream at random places both ways.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import { ByteQueue } from '../../src/buffers/byte-queue.js';
import { FrameDecoder, OP_FAILED, RSV1 } from '../../src/websocket/frame.js';
import { connectWebSocket, silentLogger } from '../../src/index.js';
import { frame } from './support.js';
import { compress, deflateEcho, inflate } from './deflate-support.js';
import { recorder } from './client-support.js';

describe('the frame decoder with RSV1 allowed', () => {
  it('returns the same compressed messages for every split of a stream of compressed fragmented messages', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ text: fc.string({ maxLength: 400 }), cuts: fc.array(fc.nat(), { maxLength: 3 }), plain: fc.boolean() }), { minLength: 1, maxLength: 4 }),
        (msgs) => {
          const parts: Buffer[] = [];
          for (const m of msgs) {
            const payload = m.plain ? Buffer.from(m.text) : compress(m.text);
            const cuts = [...new Set(m.cuts.map((c) => c % (payload.length + 1)))].sort((a, b) => a - b);
            const bounds = [0, ...cuts, payload.length];
            for (let i = 0; i + 1 < bounds.length; i++) {
              const last = i + 2 === bounds.length;
              parts.push(frame({ op: i === 0 ? 1 : 0, rsv: i === 0 && !m.plain ? RSV1 : 0, fin: last, payload: payload.subarray(bounds[i], bounds[i + 1]) }));
            }
          }
          const stream = Buffer.concat(parts);
          for (let cut = 0; cut <= stream.length; cut++) {
            const d = new FrameDecoder({ maxMessageBytes: 1 << 20, maxFragments: 16 }, true);
            d.rsvAllowed = RSV1;
            const q = new ByteQueue();
            const got: string[] = [];
            for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
              q.push(Buffer.from(chunk));
              for (;;) {
                const out = d.decode(q);
                if (out === undefined) break;
                assert.notEqual(d.opcode, OP_FAILED, d.failure?.error.message);
                got.push(d.compressed ? inflate(out).toString() : Buffer.from(out).toString());
              }
            }
            assert.deepEqual(
              got,
              msgs.map((m) => m.text),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** A relay between client and server that forwards each way in random pieces, each written on a later turn. */
async function choppingRelay(port: number, sizes: readonly number[]): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ port, host: '127.0.0.1' });
    sockets.push(inbound, outbound);
    let k = 0;
    const pipe = (from: net.Socket, to: net.Socket) => {
      let chain = Promise.resolve();
      from.on('data', (d: Buffer) => {
        chain = chain.then(async () => {
          for (let at = 0; at < d.length; ) {
            const n = Math.max(1, sizes[k++ % sizes.length] as number);
            to.write(d.subarray(at, at + n));
            at += n;
            await new Promise((r) => setImmediate(r));
          }
        });
      });
      from.on('end', () => void chain.then(() => to.end()));
      from.on('error', () => to.destroy());
    };
    pipe(inbound, outbound);
    pipe(outbound, inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('permessage-deflate between Capstan client and server', () => {
  it('round-trips random message sequences exactly, at random settings and random chunkings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          msgs: fc.array(
            fc.oneof(
              fc.string({ maxLength: 3000 }),
              fc.string({ maxLength: 40 }).map((s) => s.repeat(50)),
              fc.uint8Array({ maxLength: 5000 }).map((a) => Buffer.from(a)),
            ),
            { minLength: 1, maxLength: 25 },
          ),
          server: fc.record({ threshold: fc.constantFrom(0, 20, 1024), serverNoContextTakeover: fc.boolean(), clientNoContextTakeover: fc.boolean(), serverMaxWindowBits: fc.integer({ min: 8, max: 15 }) }),
          client: fc.record({ threshold: fc.constantFrom(0, 50, 1024), clientMaxWindowBits: fc.integer({ min: 8, max: 15 }) }),
          sizes: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
        }),
        async ({ msgs, server, client, sizes }) => {
          const s = await deflateEcho(server);
          const relay = await choppingRelay(s.port, sizes);
          const r = recorder();
          const c = await connectWebSocket({ url: `ws://127.0.0.1:${relay.port}/`, perMessageDeflate: client, handler: r.handler, logger: silentLogger });
          try {
            assert.match(c.socket?.extensions ?? '', /^permessage-deflate/);
            for (const m of msgs) c.send(m);
            await r.until(() => r.messages.length === msgs.length, 'every echo');
            assert.deepEqual(
              r.messages.map((m) => (m.isBinary ? m.data.toString('hex') : m.data.toString())),
              msgs.map((m) => (typeof m === 'string' ? m : m.toString('hex'))),
            );
          } finally {
            c.socket?.terminate();
            await c.close();
            await relay.close();
            await s.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
