/**
 * RFC 6455 rules on a real socket: a hand-made client sends frames the rules
 * allow and frames they forbid; the server's answers are read back byte by byte.
 */
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { listen, silentLogger, type CloseReason, type WebSocketServerOptions } from '../../src/index.js';
import { websocket } from '../../src/websocket/server.js';
import { closeBody, frame, wsConnect, type WireFrame } from './support.js';

interface Closed {
  code: number;
  reason: string;
  cause: CloseReason;
}

async function echoServer(extra: Partial<WebSocketServerOptions> = {}) {
  const closes: Closed[] = [];
  const waiters: Array<() => void> = [];
  const ws = websocket({
    path: '/',
    handler: {
      message(s, data, isBinary) {
        s.send(data, isBinary);
      },
      close(_s, code, reason, cause) {
        closes.push({ code, reason, cause });
        for (const w of waiters.splice(0)) w();
      },
    },
    ...extra,
  });
  const server = await listen({ port: 0, logger: silentLogger, websocket: ws });
  const port = (server.address as { port: number }).port;
  const nextClose = async (): Promise<Closed> => {
    const deadline = Date.now() + 10_000;
    while (closes.length === 0 && Date.now() < deadline) await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 50)));
    const c = closes.shift();
    if (c === undefined) throw new Error('no close within 10 s');
    return c;
  };
  return { server, port, ws, nextClose };
}

function closeCodeOf(f: WireFrame | undefined): number {
  assert.ok(f !== undefined, 'expected a close frame');
  assert.equal(f.op, 8);
  return f.payload.readUInt16BE(0);
}

describe('RFC 6455 conformance over a real socket', () => {
  let s: Awaited<ReturnType<typeof echoServer>>;
  before(async () => {
    s = await echoServer({ maxMessageBytes: 200_000, maxFragments: 8 });
  });
  after(async () => {
    await s.server.close();
  });
  /** Drops a client and waits for the server's close of it, so each test sees only its own closes. */
  async function drop(c: { peer: { socket: { destroy(): void } } }): Promise<void> {
    c.peer.socket.destroy();
    assert.equal((await s.nextClose()).code, 1006);
  }

  it('answers the handshake with 101 and the accept key from the RFC example', async () => {
    const c = await wsConnect(s.port);
    assert.match(c.response, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(c.response, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    await drop(c);
  });

  for (const [form, n] of [
    [7, 125],
    [16, 126],
    [16, 65535],
    [64, 65536],
    [64, 150_000],
  ] as const) {
    it(`echoes a ${n}-byte binary message sent with a ${form}-bit length, unmasked, in the shortest length form`, async () => {
      const c = await wsConnect(s.port);
      const payload = Buffer.alloc(n, 0);
      for (let i = 0; i < n; i++) payload[i] = (i * 31) & 0xff;
      c.send(frame({ op: 2, payload, lengthForm: form }));
      const [f] = await c.frames(1);
      assert.ok(f !== undefined);
      assert.equal(f.op, 2);
      assert.equal(f.masked, false);
      assert.ok(f.fin);
      assert.deepEqual(f.payload, payload);
      await drop(c);
    });
  }

  it('reassembles a fragmented text message whose UTF-8 character is split across fragments', async () => {
    const c = await wsConnect(s.port);
    const text = Buffer.from('héllo €uro 𝄞');
    // Split inside the 3-byte € and inside the 4-byte clef.
    const e = text.indexOf(Buffer.from('€')) + 1;
    const g = text.indexOf(Buffer.from('𝄞')) + 2;
    c.send(frame({ op: 1, fin: false, payload: text.subarray(0, e) }), frame({ op: 0, fin: false, payload: text.subarray(e, g) }), frame({ op: 0, payload: text.subarray(g) }));
    const [f] = await c.frames(1);
    assert.equal(f?.op, 1);
    assert.equal(f?.payload.toString(), 'héllo €uro 𝄞');
    await drop(c);
  });

  it('answers a ping inside a fragmented message at once and then delivers the whole message', async () => {
    const c = await wsConnect(s.port);
    c.send(frame({ op: 2, fin: false, payload: 'ab' }), frame({ op: 9, payload: 'are you there' }), frame({ op: 10, payload: 'unsolicited' }), frame({ op: 0, payload: 'cd' }));
    const got = await c.frames(2);
    assert.equal(got[0]?.op, 10);
    assert.equal(got[0]?.payload.toString(), 'are you there');
    assert.equal(got[1]?.op, 2);
    assert.equal(got[1]?.payload.toString(), 'abcd');
    await drop(c);
  });

  it('echoes an empty text message and an empty binary message', async () => {
    const c = await wsConnect(s.port);
    c.send(frame({ op: 1 }), frame({ op: 2 }));
    const got = await c.frames(2);
    assert.deepEqual(
      got.map((f) => [f.op, f.payload.length]),
      [
        [1, 0],
        [2, 0],
      ],
    );
    await drop(c);
  });

  it('completes the close handshake: echoes the code, ends the TCP connection and reports the peer close', async () => {
    const c = await wsConnect(s.port);
    c.send(frame({ op: 8, payload: closeBody(1000, 'done') }));
    const got = await c.frames(1);
    assert.equal(closeCodeOf(got[0]), 1000);
    assert.equal(await c.peer.ended, 'end');
    assert.deepEqual(await s.nextClose(), { code: 1000, reason: 'done', cause: 'peer-closed' });
  });

  it('answers a close frame without a code with an empty close frame and reports 1005', async () => {
    const before = s.ws.stats().closesSent;
    const c = await wsConnect(s.port);
    c.send(frame({ op: 8 }));
    const got = await c.frames(1);
    assert.equal(got[0]?.op, 8);
    assert.equal(got[0]?.payload.length, 0);
    assert.equal((await s.nextClose()).code, 1005);
    // The empty close frame we answered with carries no code either.
    const after = s.ws.stats().closesSent;
    assert.equal((after['1005'] ?? 0) - (before['1005'] ?? 0), 1);
    assert.equal(after['1000'] ?? 0, before['1000'] ?? 0);
  });

  const violations: Array<[string, Buffer[], number, CloseReason]> = [
    ['an unmasked client frame', [frame({ op: 2, payload: 'x', mask: false })], 1002, 'protocol-error'],
    ['RSV1 without an extension', [frame({ op: 2, payload: 'x', rsv: 0x40 })], 1002, 'protocol-error'],
    ['RSV2 and RSV3', [frame({ op: 2, payload: 'x', rsv: 0x30 })], 1002, 'protocol-error'],
    ['reserved data opcode 3', [frame({ op: 3, payload: 'x' })], 1002, 'protocol-error'],
    ['reserved control opcode 11', [frame({ op: 11 })], 1002, 'protocol-error'],
    ['a ping of 126 bytes', [frame({ op: 9, payload: Buffer.alloc(126) })], 1002, 'protocol-error'],
    ['a fragmented ping', [frame({ op: 9, fin: false, payload: 'x' })], 1002, 'protocol-error'],
    ['a continuation with nothing to continue', [frame({ op: 0, payload: 'x' })], 1002, 'protocol-error'],
    ['a new message inside a fragmented one', [frame({ op: 1, fin: false, payload: 'a' }), frame({ op: 1, payload: 'b' })], 1002, 'protocol-error'],
    ['invalid UTF-8 in a text message', [frame({ op: 1, payload: Buffer.from([0x68, 0xc3, 0x28]) })], 1007, 'invalid-data'],
    ['a UTF-16 surrogate encoded in UTF-8', [frame({ op: 1, payload: Buffer.from([0xed, 0xa0, 0x80]) })], 1007, 'invalid-data'],
    ['an overlong encoding', [frame({ op: 1, payload: Buffer.from([0xc0, 0xaf]) })], 1007, 'invalid-data'],
    ['a text message ending inside a character', [frame({ op: 1, fin: false, payload: 'ok' }), frame({ op: 0, payload: Buffer.from([0xe2, 0x82]) })], 1007, 'invalid-data'],
    ['a close code 1005 on the wire', [frame({ op: 8, payload: closeBody(1005) })], 1002, 'protocol-error'],
    ['a close code 999', [frame({ op: 8, payload: closeBody(999) })], 1002, 'protocol-error'],
    ['a close code 2000', [frame({ op: 8, payload: closeBody(2000) })], 1002, 'protocol-error'],
    ['a close frame of one byte', [frame({ op: 8, payload: Buffer.from([3]) })], 1002, 'protocol-error'],
    ['a close reason that is not UTF-8', [frame({ op: 8, payload: Buffer.concat([closeBody(1000), Buffer.from([0xff])]) })], 1007, 'invalid-data'],
    ['a message over maxMessageBytes', [frame({ op: 2, payload: Buffer.alloc(200_001) })], 1009, 'frame-too-large'],
    ['fragments adding up past maxMessageBytes', [frame({ op: 2, fin: false, payload: Buffer.alloc(150_000) }), frame({ op: 0, payload: Buffer.alloc(60_000) })], 1009, 'frame-too-large'],
    ['more fragments than maxFragments', Array.from({ length: 9 }, (_, i) => frame({ op: i === 0 ? 2 : 0, fin: false, payload: 'x' })), 1009, 'frame-too-large'],
    ['a 64-bit length with the top bit set', [Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])], 1002, 'protocol-error'],
  ];
  for (const [what, frames, code, cause] of violations) {
    it(`closes with ${code} (${cause}) on ${what}, and only that connection`, async () => {
      const bystander = await wsConnect(s.port);
      const c = await wsConnect(s.port);
      c.send(...frames);
      const got = await c.frames(1);
      assert.equal(closeCodeOf(got.find((f) => f.op === 8)), code);
      assert.equal(await c.peer.ended, 'end');
      const closed = await s.nextClose();
      assert.equal(closed.code, code);
      assert.equal(closed.cause, cause);
      bystander.send(frame({ op: 1, payload: 'still here' }));
      const [echo] = await bystander.frames(1);
      assert.equal(echo?.payload.toString(), 'still here');
      await drop(bystander);
    });
  }

  it('fails a bad UTF-8 fragment when it arrives, before the message is finished', async () => {
    const c = await wsConnect(s.port);
    c.send(frame({ op: 1, fin: false, payload: 'fine' }), frame({ op: 0, fin: false, payload: Buffer.from([0xf8, 0x88]) }));
    const got = await c.frames(1);
    assert.equal(closeCodeOf(got[0]), 1007);
    assert.equal((await s.nextClose()).cause, 'invalid-data');
  });

  it('counts messages, pings and close codes', () => {
    const st = s.ws.stats();
    assert.ok(st.messagesIn > 0 && st.messagesOut > 0);
    assert.ok(st.pingsIn >= 1 && st.pongsOut >= 1);
    assert.ok((st.closesSent['1002'] ?? 0) >= 10);
    assert.ok((st.closesSent['1007'] ?? 0) >= 4);
    assert.ok((st.closesReceived['1000'] ?? 0) >= 1);
    assert.equal(st.handshakesAccepted > 0, true);
  });
});

describe('WebSocket byte counters', () => {
  it('count a text message sent as a string in UTF-8 bytes, as on the wire', async () => {
    const text = 'héllo €uro 𝄞';
    const ws = websocket({ path: '/', handler: { open: (w) => void w.send(text) } });
    const server = await listen({ port: 0, logger: silentLogger, websocket: ws });
    try {
      const c = await wsConnect((server.address as { port: number }).port);
      const [f] = await c.frames(1);
      assert.equal(f?.payload.toString(), text);
      assert.equal(ws.stats().bytesOut, Buffer.byteLength(text));
      c.peer.socket.destroy();
    } finally {
      await server.close();
    }
  });
});
