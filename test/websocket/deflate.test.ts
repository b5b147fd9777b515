/**
 * permessage-deflate (RFC 7692) on the server, over real sockets with frames
 * made by hand: the negotiation matrix, compressed messages whole and in
 * fragments, the RSV1 rules, bombs and corrupt data, context takeover both
 * ways, the threshold, window 8, order under a busy zlib pool, the context cap.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocketClient from 'ws';
import { deflateUsage, setDeflateLimits } from '../../src/index.js';
import { closeBody, frame, wsConnect, statusOf, upgradeRequest, type WireFrame } from './support.js';
import { compress, contextCompressor, contextInflater, deflateEcho, extensionsOf, inflate, type EchoServer } from './deflate-support.js';
import { rawConnect, waitFor } from '../support/net.js';

const servers: EchoServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function echo(...args: Parameters<typeof deflateEcho>): Promise<EchoServer> {
  const s = await deflateEcho(...args);
  servers.push(s);
  return s;
}

const OFFER = { 'Sec-WebSocket-Extensions': 'permessage-deflate' };

function closeCode(f: WireFrame | undefined): number {
  assert.ok(f !== undefined && f.op === 8, `a close frame, got ${f === undefined ? 'nothing' : `opcode ${f.op}`}`);
  return f.payload.readUInt16BE(0);
}

describe('permessage-deflate negotiation', () => {
  const matrix: Array<[string, object | true, string, string | undefined]> = [
    ['a bare offer', true, 'permessage-deflate', 'permessage-deflate'],
    ['client_max_window_bits without a value, nothing asked of the client', true, 'permessage-deflate; client_max_window_bits', 'permessage-deflate'],
    ['client_max_window_bits without a value, clientMaxWindowBits 10', { clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits=10'],
    ['client_max_window_bits=9 under clientMaxWindowBits 12', { clientMaxWindowBits: 12 }, 'permessage-deflate; client_max_window_bits=9', 'permessage-deflate; client_max_window_bits=9'],
    ['a quoted client_max_window_bits', true, 'permessage-deflate; client_max_window_bits="11"', 'permessage-deflate; client_max_window_bits=11'],
    ['no client_max_window_bits, clientMaxWindowBits 10: not sent (the client did not say it can)', { clientMaxWindowBits: 10 }, 'permessage-deflate', 'permessage-deflate'],
    ['server_max_window_bits=10', true, 'permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10'],
    ['server_max_window_bits=12 over serverMaxWindowBits 9', { serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=12', 'permessage-deflate; server_max_window_bits=9'],
    ['server_max_window_bits=8', true, 'permessage-deflate; server_max_window_bits=8', 'permessage-deflate; server_max_window_bits=8'],
    ['server_no_context_takeover', true, 'permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
    ['client_no_context_takeover', true, 'permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover'],
    ['nothing, under serverNoContextTakeover and clientNoContextTakeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }, 'permessage-deflate', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
    ['an unknown extension before it', true, 'x-webkit-deflate-frame, permessage-deflate; client_max_window_bits', 'permessage-deflate'],
    ['a bad first offer (window 16) and a good second', true, 'permessage-deflate; server_max_window_bits=16, permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover'],
    ['a parameter given twice', true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', undefined],
    ['server_max_window_bits with a leading zero', true, 'permessage-deflate; server_max_window_bits=09', undefined],
    ['server_max_window_bits without a value', true, 'permessage-deflate; server_max_window_bits', undefined],
    ['client_max_window_bits=7', true, 'permessage-deflate; client_max_window_bits=7', undefined],
    ['a value on server_no_context_takeover', true, 'permessage-deflate; server_no_context_takeover=1', undefined],
    ['an unknown parameter', true, 'permessage-deflate; mystery', undefined],
    ['only other extensions', true, 'x-webkit-deflate-frame', undefined],
  ];
  for (const [what, option, offer, answer] of matrix) {
    it(`${answer === undefined ? 'declines' : 'accepts'} ${what}`, async () => {
      const s = await echo(option);
      const c = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      assert.equal(extensionsOf(c.response), answer);
      // Declined, the connection goes on uncompressed: an RSV1 frame is then a protocol error.
      c.send(frame({ op: 1, payload: 'plain' }));
      assert.deepEqual((await c.frames(1)).map((f) => [f.rsv, f.payload.toString()]), [[0, 'plain']]);
      c.peer.socket.destroy();
    });
  }

  it('sends no extension when the endpoint has it off, and refuses a malformed header with 400 when on', async () => {
    const off = await echo(false);
    const c = await wsConnect(off.port, '/', OFFER);
    assert.equal(extensionsOf(c.response), undefined);
    c.peer.socket.destroy();
    const on = await echo(true);
    for (const bad of ['permessage-deflate;;', 'permessage-deflate; a=', ', permessage-deflate', 'permessage-deflate; w="1 2"']) {
      const p = await rawConnect({ port: on.port, host: '127.0.0.1' });
      p.socket.write(upgradeRequest('/', { 'Sec-WebSocket-Extensions': bad }));
      await p.ended;
      assert.equal(statusOf(p.received()), 400, bad);
    }
    assert.equal(on.server.stats().websocket?.handshakesRefused['400'], 4);
  });
});

describe('permessage-deflate messages', () => {
  it('inflates a compressed message, whole and in three fragments with RSV1 on the first only, and compresses the echo', async () => {
    const s = await echo({ threshold: 0 });
    const c = await wsConnect(s.port, '/', OFFER);
    const text = 'fragmented and compressed, ünïcödé '.repeat(40);
    const z = compress(text);
    c.send(frame({ op: 1, rsv: 0x40, payload: z }));
    const a = Math.floor(z.length / 3);
    c.send(frame({ op: 1, rsv: 0x40, fin: false, payload: z.subarray(0, a) }), frame({ op: 9, payload: 'mid' }), frame({ op: 0, fin: false, payload: z.subarray(a, 2 * a) }), frame({ op: 0, payload: z.subarray(2 * a) }));
    const frames = await c.frames(3);
    assert.deepEqual(
      frames.map((f) => [f.op, f.rsv]),
      [
        [1, 0x40],
        [10, 0],
        [1, 0x40],
      ],
    );
    // Our side keeps its window: the second echo refers back into the first.
    const unsqueeze = contextInflater();
    assert.equal((await unsqueeze((frames[0] as WireFrame).payload)).toString(), text);
    assert.equal((await unsqueeze((frames[2] as WireFrame).payload)).toString(), text);
    assert.ok((frames[0] as WireFrame).payload.length < text.length / 5, 'the echo is compressed');
    c.peer.socket.destroy();
  });

  const violations: Array<[string, (z: Buffer) => Buffer[], boolean]> = [
    ['RSV1 on a continuation frame', (z) => [frame({ op: 1, rsv: 0x40, fin: false, payload: z }), frame({ op: 0, rsv: 0x40, payload: z })], true],
    ['RSV1 on a ping', () => [frame({ op: 9, rsv: 0x40, payload: 'p' })], true],
    ['RSV1 on a close frame', () => [frame({ op: 8, rsv: 0x40, payload: closeBody(1000) })], true],
    ['RSV1 without permessage-deflate negotiated', (z) => [frame({ op: 2, rsv: 0x40, payload: z })], false],
    ['RSV2 with permessage-deflate negotiated', (z) => [frame({ op: 2, rsv: 0x20, payload: z })], true],
  ];
  for (const [what, frames, negotiate] of violations) {
    it(`closes with 1002 on ${what}`, async () => {
      const s = await echo(true);
      const c = await wsConnect(s.port, '/', negotiate ? OFFER : {});
      c.send(...frames(compress('x'.repeat(50))));
      assert.equal(closeCode((await c.frames(1))[0]), 1002);
      await waitFor(() => s.closes.length === 1);
      assert.equal(s.closes[0]?.cause, 'protocol-error');
    });
  }

  for (const [mode, option, offer] of [
    ['without context takeover (inflated at once)', true, 'permessage-deflate; client_no_context_takeover'],
    ['with context takeover (inflated on the thread pool)', true, 'permessage-deflate'],
  ] as const) {
    it(`closes a decompression bomb (10 MiB of zeros in ${compress(Buffer.alloc(10 << 20)).length} bytes) with 1009 ${mode}, while another connection keeps working`, async () => {
      const s = await echo(option, { maxMessageBytes: 1 << 20 });
      const bystander = new WebSocketClient(`ws://127.0.0.1:${s.port}/`, { perMessageDeflate: { threshold: 0 } });
      await once(bystander, 'open');
      const c = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      c.send(frame({ op: 2, rsv: 0x40, payload: compress(Buffer.alloc(10 << 20)) }));
      assert.equal(closeCode((await c.frames(1))[0]), 1009);
      await waitFor(() => s.closes.length === 1);
      assert.equal(s.closes[0]?.cause, 'frame-too-large');
      assert.match(String(s.closes[0]?.error?.message), /decompression bomb/);
      const echoed = new Promise<string>((resolve) => bystander.once('message', (d: Buffer) => resolve(d.toString())));
      bystander.send('still here '.repeat(100));
      assert.equal(await echoed, 'still here '.repeat(100));
      // Exactly the limit inflates.
      const c2 = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      c2.send(frame({ op: 2, rsv: 0x40, payload: compress(Buffer.alloc(1 << 20, 7)) }));
      const [f] = await c2.frames(1);
      assert.equal(f?.op, 2);
      assert.equal(f?.rsv, 0x40);
      assert.equal(inflate(f?.payload as Buffer).length, 1 << 20);
      c2.peer.socket.destroy();
      bystander.terminate();
    });

    it(`closes with 1007 on corrupt deflate data and on compressed text that is not UTF-8, ${mode}`, async () => {
      const s = await echo(option);
      const c = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      c.send(frame({ op: 2, rsv: 0x40, payload: Buffer.from([0xff, 0xff, 0xff, 0x00, 0x01]) }));
      assert.equal(closeCode((await c.frames(1))[0]), 1007);
      const d = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      d.send(frame({ op: 1, rsv: 0x40, payload: compress(Buffer.from([0x61, 0xc3, 0x28])) }));
      assert.equal(closeCode((await d.frames(1))[0]), 1007);
      await waitFor(() => s.closes.length === 2);
      assert.deepEqual(
        s.closes.map((x) => [x.cause, (x.error as { code?: string }).code]),
        [
          ['invalid-data', 'ERR_WS_INFLATE'],
          ['invalid-data', 'ERR_WS_INVALID_UTF8'],
        ],
      );
    });
  }

  it('keeps both windows across 200 messages with context takeover, and starts each anew without', async () => {
    const line = (i: number) => `{"user":"ada","room":"lobby","seq":${i},"text":"the same shape of message every time"}`;
    for (const [offer, kept] of [
      ['permessage-deflate', true],
      ['permessage-deflate; server_no_context_takeover; client_no_context_takeover', false],
    ] as const) {
      const s = await echo({ threshold: 0 });
      const c = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': offer });
      const squeeze = kept ? contextCompressor() : async (m: string) => compress(m);
      for (let i = 0; i < 200; i++) c.send(frame({ op: 1, rsv: 0x40, payload: await squeeze(line(i)) }));
      const frames = await c.frames(200);
      assert.equal(frames.length, 200);
      const unsqueeze = kept ? contextInflater() : async (w: Buffer) => inflate(w);
      for (let i = 0; i < 200; i++) assert.equal((await unsqueeze((frames[i] as WireFrame).payload)).toString(), line(i));
      const late = (frames[199] as WireFrame).payload.length;
      const first = (frames[0] as WireFrame).payload.length;
      if (kept) assert.ok(late < first / 2, `a kept window makes later messages smaller (${first} then ${late} bytes)`);
      else assert.ok(late >= first - 2, `without it each message stands alone (${first} then ${late} bytes)`);
      if (!kept) assert.equal(inflate((frames[199] as WireFrame).payload).toString(), line(199), 'each inflates on its own');
      const st = s.server.stats().websocket?.deflate;
      assert.ok(st !== undefined && st.plainIn === st.plainOut && st.wireOut < st.plainOut);
      c.peer.socket.destroy();
    }
  });

  it('sends messages under the threshold uncompressed', async () => {
    const s = await echo({ threshold: 100 });
    const c = await wsConnect(s.port, '/', OFFER);
    c.send(frame({ op: 1, payload: 'a'.repeat(99) }), frame({ op: 1, payload: 'a'.repeat(100) }), frame({ op: 1, rsv: 0x40, payload: compress('b'.repeat(10)) }));
    const frames = await c.frames(3);
    assert.deepEqual(
      frames.map((f) => f.rsv),
      [0, 0x40, 0],
    );
    assert.equal((frames[2] as WireFrame).payload.toString(), 'b'.repeat(10), 'a compressed 10-byte message comes back plain');
    const st = s.server.stats().websocket?.deflate;
    assert.deepEqual([st?.plainOut, st?.plainIn], [209, 209]);
    c.peer.socket.destroy();
  });

  it('compresses within 256 bytes when the client asks for server_max_window_bits=8, across messages', async () => {
    const s = await echo({ threshold: 0 });
    const c = await wsConnect(s.port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=8' });
    // Each message repeats the one before, 300 bytes back: a 9-bit window could reach it, an 8-bit one cannot.
    const block = Buffer.alloc(300);
    let x = 2463534242;
    for (let i = 0; i < 300; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      block[i] = x & 0xff;
    }
    for (let i = 0; i < 5; i++) c.send(frame({ op: 2, rsv: 0x40, payload: compress(block) }));
    const frames = await c.frames(5);
    const narrow = contextInflater(8);
    for (const f of frames) assert.deepEqual(await narrow(f.payload), block);
    c.peer.socket.destroy();
    // The same inflater fails on what a 10-bit window makes of it: the check above can fail.
    const wide = contextCompressor(10);
    const strict = contextInflater(8);
    await strict(await wide(block));
    await assert.rejects(strict(await wide(block)), /too far back/);
  });

  it('keeps message order with many sockets on a zlib pool of two, compressed and plain messages and pings interleaved', async () => {
    setDeflateLimits({ maxConcurrentJobs: 2 });
    try {
      const s = await echo({ threshold: 200 });
      const clients = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const ws = new WebSocketClient(`ws://127.0.0.1:${s.port}/`, { perMessageDeflate: { threshold: 200 } });
          await once(ws, 'open');
          return ws;
        }),
      );
      const sent = (k: number, i: number) => (i % 3 === 0 ? `short ${k}/${i}` : `${k}/${i} `.repeat(20 + (i % 50)));
      await Promise.all(
        clients.map(async (ws, k) => {
          const got: string[] = [];
          const all = new Promise<void>((resolve) =>
            ws.on('message', (d: Buffer) => {
              got.push(d.toString());
              if (got.length === 150) resolve();
            }),
          );
          for (let i = 0; i < 150; i++) {
            ws.send(sent(k, i));
            if (i % 10 === 0) ws.ping();
          }
          await all;
          assert.deepEqual(
            got,
            Array.from({ length: 150 }, (_, i) => sent(k, i)),
          );
          ws.terminate();
        }),
      );
      assert.ok(deflateUsage().waiting === 0);
    } finally {
      setDeflateLimits({ maxConcurrentJobs: 10 });
    }
  });

  it('sends the close frame after a message still being compressed, in the order they were sent', async () => {
    const s = await echo({ threshold: 0 });
    const c = await wsConnect(s.port, '/', OFFER);
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    // The echo of the big message is compressed off the event loop; the close answering the peer's must wait for it.
    c.send(frame({ op: 2, payload: big }), frame({ op: 1, payload: 'small' }), frame({ op: 8, payload: closeBody(4000, 'bye') }));
    const frames = await c.frames(3);
    assert.deepEqual(
      frames.map((f) => f.op),
      [2, 1, 8],
    );
    const unsqueeze = contextInflater();
    assert.deepEqual(await unsqueeze((frames[0] as WireFrame).payload), big);
    assert.equal(closeCode(frames[2]), 4000);
    await c.peer.ended;
  });

  it('negotiates no context takeover once the process holds maxContexts windows, and takes them again when they are freed', async () => {
    const before = deflateUsage().contexts;
    setDeflateLimits({ maxContexts: before + 2 });
    try {
      const s = await echo({ threshold: 0 });
      const a = await wsConnect(s.port, '/', OFFER);
      assert.equal(extensionsOf(a.response), 'permessage-deflate');
      assert.equal(deflateUsage().contexts, before + 2);
      const b = await wsConnect(s.port, '/', OFFER);
      assert.equal(extensionsOf(b.response), 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      b.send(frame({ op: 1, rsv: 0x40, payload: compress('over the cap, still compressed '.repeat(10)) }));
      assert.equal(inflate(((await b.frames(1))[0] as WireFrame).payload).toString(), 'over the cap, still compressed '.repeat(10));
      assert.equal(s.server.stats().websocket?.deflate?.capped, 1, 'counted: one socket over the cap');
      a.peer.socket.destroy();
      await waitFor(() => deflateUsage().contexts === before);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(deflateUsage().contexts, before);
      const c = await wsConnect(s.port, '/', OFFER);
      assert.equal(extensionsOf(c.response), 'permessage-deflate');
      b.peer.socket.destroy();
      c.peer.socket.destroy();
    } finally {
      setDeflateLimits({ maxContexts: 1024 });
    }
  });
});
